"""Tenant ids become part of storage paths, so only slugs are accepted (docs/architecture.md)."""

from __future__ import annotations

import re

from avesa.domain.errors import UsageError

TENANT_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def validate_tenant_id(tenant_id: str) -> str:
    """Return `tenant_id` unchanged if it is a slug, else raise a UsageError saying what is allowed."""
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise UsageError(
            f"invalid tenant id {tenant_id!r}: use 2-63 characters of lower-case letters, digits and '-', "
            "starting with a letter or digit (for example 'acme-corp'); tenant ids become storage paths"
        )
    return tenant_id
