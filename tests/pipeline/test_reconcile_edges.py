"""Deletes found by listing ids, at the edges of time: a record re-created in the very second the
listing began, a source clock that runs behind ours, keys the source lists again. Real sandbox over
HTTP; the source's clock is moved through the sandbox's own clock offset, the pipeline's only where
the listing's start is read (finalize), so each case happens exactly, not by luck of timing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avesa.pipeline import finalize
from avesa.pipeline.canonical_build import latest_reading
from avesa.pipeline.reconcile import listing_stamp
from avesa.transform.scd2 import merge_versions
from avesa_sandbox import SandboxAdmin
from avesa_sandbox.server import SandboxServer
from tests.pipeline.helpers import canonical, let_source_clock_pass, sync
from tests.pipeline.test_end_to_end import _assert_matches_source
from tests.transform.scd2_support import BUSINESS, table, v

PATH = "company/companies"
TS = pa.timestamp("us", "UTC")


@contextlib.contextmanager
def source_clock_at(server: SandboxServer, epoch: int) -> Iterator[None]:
    """The sandbox stamps what changes inside the block at `epoch` (whole seconds, as ConnectWise does)."""
    assert server.registry is not None
    clock = server.registry.clock
    shift = epoch - clock.now()
    clock.offset_seconds += shift
    try:
        yield
    finally:
        clock.offset_seconds -= shift


def key_rows(ctx, tenant: str, key: int) -> list[dict]:
    rows = [r for r in canonical(ctx, tenant, "companies").to_pylist() if r["source_id"] == str(key)]
    return sorted(rows, key=lambda r: r["effective_start_date"])


def history(rows: list[dict]) -> list[tuple]:
    return [(r["effective_start_date"], r["is_deleted"], r["company_name"], r["record_hash"]) for r in rows]


def delete_by_listing(admin: SandboxAdmin, make_ctx, tenant: str, key: int, monkeypatch: pytest.MonkeyPatch,
                      *, mid_second: bool = False) -> int:
    """Delete `key` at the source and let a full sync's listing close it; with `mid_second`, the
    listing begins half-way through the current second. Returns that second (epoch)."""
    admin.delete_record(tenant, PATH, key)
    let_source_clock_pass(admin, [tenant])
    second = int(time.time())
    with monkeypatch.context() as m:
        if mid_second:
            m.setattr(finalize, "utc_now", lambda: datetime.fromtimestamp(second + 0.5, UTC))
        summary = sync(make_ctx(), full=True)
    assert not summary.failed and sum(r.deletes for r in summary.results) == 1
    assert [r["is_deleted"] for r in key_rows(make_ctx(), tenant, key)][-1] is True
    return second


def test_a_record_recreated_in_the_second_the_listing_began_is_alive(
        sandbox_admin: SandboxAdmin, engine_sandbox: SandboxServer, new_instance, register, make_ctx,
        monkeypatch) -> None:
    tenant = register(make_ctx(), new_instance("recreate"), tables=["company_companies"])
    assert not sync(make_ctx(), full=True).failed
    key = sandbox_admin.record_ids(tenant, PATH)[0]
    second = delete_by_listing(sandbox_admin, make_ctx, tenant, key, monkeypatch, mid_second=True)
    with source_clock_at(engine_sandbox, second):  # re-created right after, in the same whole second
        sandbox_admin.create_record(tenant, PATH, fields={"id": key, "name": "Re-created"})
    time.sleep(max(0.0, second + 1.05 - time.time()))  # a run's range ends at its start's whole second
    assert not sync(make_ctx()).failed  # incremental, no listing due: the stamps alone must order it
    rows = key_rows(make_ctx(), tenant, key)
    assert [(r["is_deleted"], r["is_current"]) for r in rows] == [(False, False), (True, False), (False, True)]
    tombstone, recreated = rows[1], rows[2]
    assert recreated["last_updated"] == datetime.fromtimestamp(second, UTC)
    assert tombstone["effective_start_date"] < recreated["effective_start_date"]
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)


def test_a_listing_reopens_a_key_the_source_lists_again(
        sandbox_admin: SandboxAdmin, engine_sandbox: SandboxServer, new_instance, register, make_ctx,
        monkeypatch) -> None:
    tenant = register(make_ctx(), new_instance("reopen"), tables=["company_companies"])
    assert not sync(make_ctx(), full=True).failed
    key = sandbox_admin.record_ids(tenant, PATH)[0]
    last_stamp = key_rows(make_ctx(), tenant, key)[-1]["last_updated"]
    delete_by_listing(sandbox_admin, make_ctx, tenant, key, monkeypatch)
    # re-created by a source whose clock runs behind ours: its stamp lies before the tombstone's
    with source_clock_at(engine_sandbox, int(last_stamp.timestamp()) + 1):
        sandbox_admin.create_record(tenant, PATH, fields={"id": key, "name": "Back again"})
    assert not sync(make_ctx(), full=True).failed
    rows = key_rows(make_ctx(), tenant, key)
    assert [(r["is_deleted"], r["is_current"]) for r in rows][-2:] == [(True, False), (False, True)]
    assert rows[-1]["company_name"] == "Back again"
    assert rows[-1]["effective_start_date"] > rows[-2]["effective_start_date"]
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    assert not sync(make_ctx(), full=True).failed  # nothing to undo: the next listing leaves it be
    assert history(key_rows(make_ctx(), tenant, key)) == history(rows)


# ------------------------------------------------------------------------------ the pieces

SECOND = datetime(2025, 3, 1, 12, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(("previous", "expected"), [
    (SECOND - timedelta(days=1), SECOND - timedelta(microseconds=1)),  # just before the listing's second
    (SECOND, SECOND + timedelta(microseconds=1)),  # never at or before the row it follows
    (SECOND + timedelta(seconds=30), SECOND + timedelta(seconds=30, microseconds=1)),  # a source clock ahead
    (datetime(1, 1, 1, tzinfo=UTC), SECOND - timedelta(microseconds=1)),  # an "unset" sentinel stamp
    (datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
])
def test_a_listing_stamps_just_before_its_second_and_after_the_row_it_follows(previous, expected):
    assert listing_stamp(previous, SECOND + timedelta(microseconds=654_321)) == expected


def test_of_a_record_one_extraction_read_twice_the_one_read_last_is_kept():
    at = [SECOND, SECOND, SECOND + timedelta(seconds=1)]
    versions = pa.table({
        "source_id": ["1", "1", "1", "2", "1"],
        "last_updated": pa.array([SECOND, SECOND, SECOND, SECOND, SECOND], TS),
        "extracted_at": pa.array([at[0], at[1], at[2], at[0], None], TS),
        "name": ["first", "second", "other run", "two", "legacy"],
    })
    kept = latest_reading(versions)
    assert kept.column("name").to_pylist() == ["second", "other run", "two", "legacy"]


def _floor(t: datetime, tick: timedelta) -> datetime:
    """A source clock's stamp of real time `t`, counting in `tick`s."""
    return t - (t - datetime(2000, 1, 1, tzinfo=UTC)) % tick


@settings(max_examples=200, deadline=None)
@given(changed=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
       listing_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(seconds=3)),
       recreated_after=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(seconds=3)),
       tick=st.sampled_from([timedelta(seconds=1), timedelta(milliseconds=1), timedelta(microseconds=1)]),
       order=st.permutations([0, 1, 2]), split=st.booleans())
def test_a_key_recreated_after_the_listing_is_alive_in_any_merge_order(changed, listing_after, recreated_after, tick,
                                                                      order, split):
    """The last version changed at real time `changed`; the listing began `listing_after` later and
    missed the key; the record came back `recreated_after` the listing began. The source stamps in
    `tick`s. Whenever the re-create's stamp lies after the last version's (a later tick), the key
    ends alive with the re-created values; the tombstone always lies after the version it closes."""
    listed = changed + listing_after
    last_stamp, recreated_stamp = _floor(changed, tick), _floor(listed + recreated_after, tick)
    tombstone = listing_stamp(last_stamp, listed)
    assert tombstone > last_stamp
    versions = [v("1", last_stamp, "a", extracted=changed),
                v("1", tombstone, "a", deleted=True, extracted=listed),
                v("1", recreated_stamp, "b", extracted=listed + recreated_after)]
    batches = [[versions[i]] for i in order] if split else [[versions[i] for i in order]]
    result = None
    for batch in batches:
        result, _ = merge_versions(result, table(batch), BUSINESS)
    current = [r for r in result.to_pylist() if r["is_current"]]
    if recreated_stamp > last_stamp:
        assert [(r["name"], r["is_deleted"]) for r in current] == [("b", False)]
