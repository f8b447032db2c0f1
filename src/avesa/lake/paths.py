"""Where things live in the lake (docs/architecture.md, "Data").

Every path is built here from a validated tenant id and catalog names, so one tenant's data can
only ever land under `{root}/{tenant}/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from avesa.domain.errors import UsageError
from avesa.domain.tenant import validate_tenant_id

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


def _name(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise UsageError(f"invalid {kind} name {value!r} for a lake path: letters, digits and '_' only")
    return value


@dataclass(frozen=True)
class LakeLayout:
    root: str  # a local directory or a URL such as s3://bucket/prefix

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    def tenant_root(self, tenant_id: str) -> str:
        return f"{self.root.rstrip('/')}/{validate_tenant_id(tenant_id)}"

    def raw_dir(self, tenant_id: str, service: str, table: str) -> str:
        return f"{self.tenant_root(tenant_id)}/raw/{_name('service', service)}/{_name('table', table)}"

    def raw_file_name(self, stamp: str, chunk_id: str, seq: int) -> str:
        return f"{stamp}_{chunk_id}_{seq:05d}.parquet"

    def canonical_uri(self, tenant_id: str, canonical_table: str) -> str:
        return f"{self.tenant_root(tenant_id)}/canonical/{_name('canonical table', canonical_table)}"
