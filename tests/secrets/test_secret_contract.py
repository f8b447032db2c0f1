"""The secret store contract: every test runs against every back end — the encrypted file, and
Secrets Manager on moto's server over real HTTP (a fresh name prefix per store)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.aws_support import aws_client, unique_prefix

from avesa.domain.errors import NotFoundError
from avesa.secrets.base import SecretStore, secret_ref

MakeStore = Callable[[str], SecretStore]


@pytest.fixture(params=["encrypted_file", "secretsmanager"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """`make_store(name)`: the store called `name` — the same one again for the same name, as
    another process would open it; a different name is another deployment's."""
    if request.param == "encrypted_file":
        from avesa.secrets.encrypted_file import EncryptedFileSecretStore, load_or_create_key

        def encrypted_file(name: str) -> SecretStore:
            return EncryptedFileSecretStore(tmp_path / name / "secrets.enc",
                                            load_or_create_key(tmp_path / name / "secret.key", None))

        return encrypted_file
    from avesa.secrets.secrets_manager import SecretsManagerSecretStore

    client = aws_client("secretsmanager", request.getfixturevalue("moto_endpoint"))
    prefixes: dict[str, str] = {}

    def secrets_manager(name: str) -> SecretStore:
        return SecretsManagerSecretStore(client, prefixes.setdefault(name, unique_prefix(name)))

    return secrets_manager


@pytest.fixture
def store(make_store: MakeStore) -> SecretStore:
    return make_store("main")


def test_credentials_round_trip_and_are_replaced_whole(store: SecretStore) -> None:
    ref = secret_ref("acme", "connectwise")
    store.put(ref, {"private_key": "s3cr3t", "public_key": "pub", "note": "ünïcode \"quoted\" {braces}"})
    assert store.get(ref) == {"private_key": "s3cr3t", "public_key": "pub", "note": "ünïcode \"quoted\" {braces}"}
    store.put(ref, {"private_key": "rotated"})
    assert store.get(ref) == {"private_key": "rotated"}


def test_refs_lists_every_reference_sorted(store: SecretStore) -> None:
    assert store.refs() == []
    for tenant in ("globex", "acme", "acme-2"):
        store.put(secret_ref(tenant, "connectwise"), {"k": tenant})
    store.put(secret_ref("acme", "servicenow"), {"k": "sn"})
    assert store.refs() == ["avesa/acme-2/connectwise", "avesa/acme/connectwise", "avesa/acme/servicenow",
                            "avesa/globex/connectwise"]


def test_an_unknown_reference_names_the_known_ones_and_what_to_do(store: SecretStore) -> None:
    store.put(secret_ref("acme", "connectwise"), {"private_key": "s3cr3t"})
    with pytest.raises(NotFoundError) as missing:
        store.get(secret_ref("globex", "connectwise"))
    message = str(missing.value)
    assert "avesa/globex/connectwise" in message and "avesa/acme/connectwise" in message
    assert "avesa service add" in message and "s3cr3t" not in message


def test_a_deleted_reference_is_gone_at_once_and_can_be_written_again(store: SecretStore) -> None:
    ref = secret_ref("acme", "connectwise")
    store.put(ref, {"private_key": "old"})
    store.delete(ref)
    assert store.refs() == []
    with pytest.raises(NotFoundError):
        store.get(ref)
    store.delete(ref)  # deleting what is not there is no error
    store.put(ref, {"private_key": "new"})  # a service removed and added back
    assert store.get(ref) == {"private_key": "new"}


def test_another_process_sees_what_one_wrote(make_store: MakeStore) -> None:
    make_store("main").put(secret_ref("acme", "connectwise"), {"private_key": "s3cr3t"})
    assert make_store("main").get(secret_ref("acme", "connectwise")) == {"private_key": "s3cr3t"}


def test_stores_of_different_deployments_do_not_see_each_others_credentials(make_store: MakeStore) -> None:
    prod, staging = make_store("prod"), make_store("staging")
    prod.put(secret_ref("acme", "connectwise"), {"private_key": "prod-key"})
    assert staging.refs() == []
    with pytest.raises(NotFoundError):
        staging.get(secret_ref("acme", "connectwise"))
    staging.delete(secret_ref("acme", "connectwise"))
    assert prod.get(secret_ref("acme", "connectwise")) == {"private_key": "prod-key"}


@pytest.mark.parametrize("backend", ["avesa.secrets.encrypted_file:EncryptedFileSecretStore",
                                     "avesa.secrets.secrets_manager:SecretsManagerSecretStore"])
def test_every_back_end_has_every_method_of_the_contract_with_its_signature(backend: str) -> None:
    import importlib
    import inspect

    from avesa.secrets.base import SecretStore

    module, _, name = backend.partition(":")
    cls = getattr(importlib.import_module(module), name)
    for member in ("put", "get", "delete", "refs"):
        assert inspect.signature(getattr(cls, member)) == inspect.signature(getattr(SecretStore, member)), member


def test_put_many_writes_every_reference_and_replaces_whole(store: SecretStore) -> None:
    store.put(secret_ref("acme", "connectwise"), {"private_key": "old", "public_key": "old-pub"})
    store.put_many({secret_ref(f"t-{i}", "connectwise"): {"private_key": f"k{i}"} for i in range(12)}
                   | {secret_ref("acme", "connectwise"): {"private_key": "new"}})
    assert store.get(secret_ref("acme", "connectwise")) == {"private_key": "new"}
    assert store.get(secret_ref("t-11", "connectwise")) == {"private_key": "k11"}
    assert len(store.refs()) == 13
