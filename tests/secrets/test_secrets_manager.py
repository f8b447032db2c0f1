"""What only the Secrets Manager back end has to prove (moto's server over real HTTP): where the
secrets are and what they hold, listing past one page, prefixes that differ only in case, and a
secret someone scheduled for deletion in the console."""

from __future__ import annotations

import json

import pytest
from tests.aws_support import aws_client, unique_prefix

from avesa.secrets.secrets_manager import SecretsManagerSecretStore


@pytest.fixture
def client(moto_endpoint: str):
    return aws_client("secretsmanager", moto_endpoint)


def test_each_reference_is_one_secret_under_the_prefix_holding_the_fields_as_json(client) -> None:
    prefix = unique_prefix("sm")
    SecretsManagerSecretStore(client, prefix).put("avesa/acme/connectwise", {"private_key": "s3cr3t"})
    value = client.get_secret_value(SecretId=f"{prefix}/avesa/acme/connectwise")["SecretString"]
    assert json.loads(value) == {"private_key": "s3cr3t"}


def test_refs_follow_every_page_of_the_listing(client) -> None:
    store = SecretsManagerSecretStore(client, unique_prefix("many"))
    refs = [f"avesa/t{i:03d}/connectwise" for i in range(105)]
    for ref in refs:
        store.put(ref, {"k": "v"})
    assert len(client.list_secrets(Filters=[{"Key": "name", "Values": [store.prefix]}])["SecretList"]) < 105
    assert store.refs() == refs


def test_prefixes_that_differ_only_in_case_are_different_deployments(client) -> None:
    prefix = unique_prefix("case")
    lower, upper = SecretsManagerSecretStore(client, prefix), SecretsManagerSecretStore(client, prefix.upper())
    lower.put("avesa/acme/connectwise", {"k": "lower"})
    assert upper.refs() == []
    assert lower.refs() == ["avesa/acme/connectwise"]


def test_a_secret_scheduled_for_deletion_is_unknown_and_writing_it_again_brings_it_back(client) -> None:
    from avesa.domain.errors import NotFoundError

    store = SecretsManagerSecretStore(client, unique_prefix("limbo"))
    store.put("avesa/acme/connectwise", {"private_key": "old"})
    client.delete_secret(SecretId=f"{store.prefix}/avesa/acme/connectwise", RecoveryWindowInDays=7)  # the console
    with pytest.raises(NotFoundError):
        store.get("avesa/acme/connectwise")
    store.put("avesa/acme/connectwise", {"private_key": "new"})
    assert store.get("avesa/acme/connectwise") == {"private_key": "new"}
