"""The secret store contract; every back end (the encrypted file, Secrets Manager) passes
tests/secrets/test_secret_contract.py."""

from __future__ import annotations

from typing import Protocol


class SecretStore(Protocol):
    def put(self, ref: str, values: dict[str, str]) -> None: ...
    def put_many(self, values: dict[str, dict[str, str]]) -> None:
        """Several references at once (`avesa tenant import`): as `put` of each, in one write where
        the back end can (the encrypted file is written once, not once per tenant)."""
        ...
    def get(self, ref: str) -> dict[str, str]: ...
    def delete(self, ref: str) -> None: ...
    def refs(self) -> list[str]: ...


def secret_ref(tenant_id: str, service: str) -> str:
    """The reference the registry stores instead of credentials."""
    return f"avesa/{tenant_id}/{service}"
