"""Credentials in AWS Secrets Manager (the AWS deployment): one secret per (tenant, service), named
`{prefix}/{tenant}/{service}` — the reference (`avesa/{tenant}/{service}`) without its own
`avesa/`, under the URL's prefix, so a deployment's `secretsmanager://avesa/prod` gives
`avesa/prod/acme/connectwise` and one environment's functions can be allowed `avesa/{env}/*`
and nothing of another's. Its value is the JSON of the fields.

- `put` writes a new version of the secret, creating it the first time (and restoring one a
  console user scheduled for deletion, so re-adding a service never fails on a name in limbo).
  Writes are rare (`avesa service add`), so it asks DescribeSecret first.
- `delete` removes the secret at once (`ForceDeleteWithoutRecovery`): the store's contract is that
  a deleted reference is gone — `refs()` no longer lists it, `get` says it is unknown — and that
  the same reference can be written again right away (a service removed and added back). With a
  recovery window the name would stay reserved for 7–30 days and the next `put` would fail or
  bring the old credentials back. Rotation keeps history through versions instead (`put`).
- `refs` lists the secrets under the prefix, page by page.

Values are never logged or put in an error message.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from avesa.domain.aws_errors import aws_access
from avesa.domain.errors import NotFoundError

_SETTING = "AVESA_SECRETS_URL"
REF_START = "avesa/"
"""How every reference starts (secrets.base.secret_ref); not repeated in the secret's name."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _marked_for_deletion(exc: ClientError) -> bool:
    """Secrets Manager's answer about a secret scheduled for deletion: an InvalidRequestException
    saying it is "marked for deletion" (moto: "marked deleted")."""
    message = str(exc).lower()
    return _code(exc) == "InvalidRequestException" and "marked" in message and "delet" in message


class SecretsManagerSecretStore:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self.prefix = prefix.strip("/")

    def _name(self, ref: str) -> str:
        tail = ref.removeprefix(REF_START)
        if tail == ref or not tail:
            raise ValueError(f"secret reference {ref!r} does not start with {REF_START!r} (secrets.base.secret_ref)")
        return f"{self.prefix}/{tail}"

    def _call(self, operation: str, **kwargs: Any) -> Any:
        with aws_access("Secrets Manager", _SETTING, "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
            return getattr(self._client, operation)(**kwargs)

    def put(self, ref: str, values: dict[str, str]) -> None:
        """A new version of the secret, created the first time; one scheduled for deletion is
        restored first (asked with DescribeSecret: AWS refuses to write one, moto writes it)."""
        name, value = self._name(ref), json.dumps(dict(values), sort_keys=True)
        try:
            described = self._call("describe_secret", SecretId=name)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            try:
                self._call("create_secret", Name=name, SecretString=value,
                           Description="AVESA credentials of one tenant's service")
                return
            except ClientError as exists:
                if _code(exists) != "ResourceExistsException":
                    raise  # else another writer created it first: write a new version over theirs
        else:
            if described.get("DeletedDate"):
                self._call("restore_secret", SecretId=name)
        self._call("put_secret_value", SecretId=name, SecretString=value)

    def put_many(self, values: dict[str, dict[str, str]]) -> None:
        """`put` of each, eight at a time (two or three calls each); not atomic: a caller that needs
        all or nothing puts back what it replaced (`pipeline/onboarding.py`)."""
        items = list(values.items())
        if len(items) <= 1:
            for ref, value in items:
                self.put(ref, value)
            return
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            list(pool.map(lambda item: self.put(*item), items))

    def get(self, ref: str) -> dict[str, str]:
        try:
            answer = self._call("get_secret_value", SecretId=self._name(ref))
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException" or _marked_for_deletion(exc):
                raise NotFoundError("secret", ref, self.refs(),
                                    "Run `avesa service add` to store credentials") from None
            raise
        return json.loads(answer["SecretString"])

    def delete(self, ref: str) -> None:
        try:
            self._call("delete_secret", SecretId=self._name(ref), ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise

    def refs(self) -> list[str]:
        """The references under the prefix. Secrets Manager's name filter matches prefixes without
        regard to case, so each name is checked again exactly."""
        start = f"{self.prefix}/"
        pages = self._client.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [start]}])
        with aws_access("Secrets Manager", _SETTING, "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
            names = [s["Name"] for page in pages for s in page.get("SecretList", [])]
        return sorted(REF_START + name[len(start):] for name in names if name.startswith(start))
