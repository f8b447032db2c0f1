"""What only the DynamoDB back end has to prove: its conditions hold when another process writes
between its read and its write (SQLite does both in one transaction), its table is created from
the one layout, its keys and timestamps, and the errors a misconfigured table or account gives.

Against moto's server over real HTTP. Every race here is staged deterministically — the other
process writes from inside the callback the store asks between its read and its write — since
moto's conditional writes are not atomic under real concurrency."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.aws_support import aws_client, unique_prefix

from avesa.domain.errors import ConfigError
from avesa.state.dynamodb.codec import dt, ts
from avesa.state.dynamodb.layout import STATE_TABLE, ensure_tables, key_part
from avesa.state.dynamodb.store import DynamoDBStateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def client(moto_endpoint: str):
    return aws_client("dynamodb", moto_endpoint)


@pytest.fixture
def store(client) -> Iterator[DynamoDBStateStore]:
    prefix = unique_prefix("ddb")
    ensure_tables(client, prefix)
    yield DynamoDBStateStore(client, prefix, page_size=3)


def test_a_run_lease_renewed_between_the_look_and_the_abandon_leaves_the_run_alone(
        store: DynamoDBStateStore) -> None:
    store.create_run("run-1", T0, {}, "far:1")
    assert store.renew_run_lease("run-1", "far:1", 60, T0)

    def gone_but_renews_meanwhile(run, leases) -> bool:
        assert store.renew_run_lease("run-1", "far:1", 60, T0 + timedelta(hours=1))  # the owner is alive after all
        return True

    assert not store.abandon_run("run-1", "far:1", T0 + timedelta(hours=1), gone_but_renews_meanwhile)
    assert store.get_run("run-1").status == "running"


def test_a_chunk_lease_renewed_between_the_look_and_the_abandon_leaves_the_run_alone(
        store: DynamoDBStateStore) -> None:
    from tests.state.test_state_contract import _chunk, _ref

    chunk = _chunk(_ref())
    store.create_run("run-1", T0, {}, "far:1")
    store.save_chunks([chunk])
    assert store.acquire_chunk(chunk.chunk_id, "far:1", 60, T0)

    def gone_but_renews_meanwhile(run, leases) -> bool:
        assert store.renew_chunk_lease(chunk.chunk_id, "far:1", 60, T0 + timedelta(hours=1))
        return True

    assert not store.abandon_run("run-1", "far:1", T0 + timedelta(hours=1), gone_but_renews_meanwhile)
    assert store.get_run("run-1").status == "running"
    assert store.get_chunk(chunk.chunk_id).lease_owner == "far:1"


def test_a_lock_taken_by_another_run_between_the_look_and_the_write_is_not_overwritten(
        store: DynamoDBStateStore) -> None:
    assert store.lock_tenant("acme", "run-old", "w1", T0, lambda run, owner: False) is None

    def stale_but_someone_takes_it_meanwhile(run_id: str, owner: str) -> bool:
        if run_id == "run-old":
            assert store.lock_tenant("acme", "run-quick", "w9", T0, lambda run, owner: True) is None
            return True
        return False

    holder = store.lock_tenant("acme", "run-slow", "w2", T0, stale_but_someone_takes_it_meanwhile)
    assert holder == ("run-quick", "w9", T0)


def test_runs_past_one_batch_read_are_all_listed(store: DynamoDBStateStore) -> None:
    for i in range(130):  # BatchGetItem reads 100 keys at a time
        store.create_run(f"run-{i:03d}", T0 + timedelta(seconds=i), {}, "w1")
    listed = store.list_runs(limit=125)
    assert [r.run_id for r in listed] == [f"run-{i:03d}" for i in range(129, 4, -1)]


def test_the_table_is_created_from_the_one_layout_and_creating_it_again_is_harmless(client) -> None:
    prefix = unique_prefix("layout")
    assert ensure_tables(client, prefix) == [f"{prefix}-state"]
    assert ensure_tables(client, prefix) == [f"{prefix}-state"]
    table = client.describe_table(TableName=f"{prefix}-state")["Table"]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == sorted(
        i.name for i in STATE_TABLE.indexes)
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_missing_table_is_a_config_error_naming_it_and_the_fix(client) -> None:
    store = DynamoDBStateStore(client, "never-created")
    with pytest.raises(ConfigError) as refused:
        store.list_tenants()
    message = str(refused.value)
    assert "never-created-state" in message and "AVESA_STATE_URL" in message and "avesa state init" in message


def test_no_aws_credentials_is_a_config_error(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                              tmp_path) -> None:
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask the instance metadata address
    anonymous = boto3.session.Session().client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    with pytest.raises(ConfigError, match="no AWS credentials for AVESA_STATE_URL"):
        DynamoDBStateStore(anonymous, "whatever").get_tenant("acme")


@pytest.mark.parametrize("name", ["", "a#b", "#"])
def test_a_name_that_could_alias_another_key_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be part of a DynamoDB state key"):
        key_part(name)


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_stored_times_compare_as_strings_exactly_as_the_times_do(a: datetime, b: datetime) -> None:
    assert dt(ts(a)) == a
    assert (ts(a) < ts(b)) == (a < b) and (ts(a) == ts(b)) == (a == b)
    assert len(ts(a)) == len(ts(b))
