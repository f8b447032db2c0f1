"""Credentials in AWS Secrets Manager (the AWS deployment): one secret per reference, named
`{prefix}/{ref}` (e.g. `avesa-prod/avesa/acme/connectwise`), its value the JSON of the fields.

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
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from avesa.domain.errors import ConfigError, NotFoundError

_SETTING = "AVESA_SECRETS_URL"


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
        return f"{self.prefix}/{ref}"

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except NoCredentialsError:
            raise ConfigError(f"no AWS credentials for {_SETTING}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or run where a role provides them") from None
        except EndpointConnectionError as exc:
            raise ConfigError(f"cannot reach Secrets Manager for {_SETTING} at {exc.kwargs.get('endpoint_url')}: "
                              "check AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SECRETS_MANAGER and the network") from None

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
        try:
            names = [s["Name"] for page in pages for s in page.get("SecretList", [])]
        except NoCredentialsError:
            raise ConfigError(f"no AWS credentials for {_SETTING}: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or run where a role provides them") from None
        return sorted(name[len(start):] for name in names if name.startswith(start))
