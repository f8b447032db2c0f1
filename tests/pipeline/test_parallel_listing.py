"""A reconciliation's id listing by id ranges read at once (pipeline/id_listing.py), through the
whole pipeline against the sandbox over HTTP: a full sync closes what the source deleted, the
boundaries coming from the run's raw files (full) or the canonical keys (incremental), and a range
that fails fails the table without closing a single key.

The tables here are a few pages small, below where a listing is cut; `range_count` is set to cut
them anyway, which is all the size decides."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from avesa.connectors.id_ranges import IdRange
from avesa.connectors.rest import RestConnector
from avesa.domain.errors import BadDataError
from avesa.pipeline import id_listing
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import canonical, emitted, sync
from tests.pipeline.test_end_to_end import _assert_matches_source

TICKETS = "service/tickets"
RANGES = 4


@pytest.fixture
def ranges_used(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[IdRange]]]:
    """Every listing cut into RANGES ranges, and the (table, ranges) of each listing recorded."""
    used: list[tuple[str, list[IdRange]]] = []
    real = id_listing.list_ranges

    async def recorded(connector: RestConnector, table: str, ranges: list[IdRange]) -> set[str]:
        used.append((table, ranges))
        return await real(connector, table, ranges)

    monkeypatch.setattr(id_listing, "range_count", lambda ids, page_size: RANGES)
    monkeypatch.setattr(id_listing, "list_ranges", recorded)
    return used


def synced_tickets(sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, name: str) -> tuple[str, list[int]]:
    """A tenant of service tickets alone, synced whole once: its name and its ticket ids, sorted."""
    tenant = register(make_ctx(), new_instance(name), tables=["service_tickets"])
    assert not sync(make_ctx(), full=True).failed
    return tenant, sorted(sandbox_admin.record_ids(tenant, TICKETS))


def current_deleted(ctx, tenant: str) -> dict[str, bool]:
    return {r["source_id"]: r["is_deleted"] for r in canonical(ctx, tenant, "tickets").to_pylist() if r["is_current"]}


def test_a_full_sync_listed_by_ranges_closes_the_records_deleted_at_the_source(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, ranges_used) -> None:
    tenant, ids = synced_tickets(sandbox_admin, new_instance, register, make_ctx, "ranges")
    victims = [ids[0], ids[len(ids) // 2], ids[-1]]  # the first range's, a middle one's, the last one's
    for victim in victims:
        sandbox_admin.delete_record(tenant, TICKETS, victim)
    ranges_used.clear()

    with emitted("ids_listed") as seen:
        summary = sync(make_ctx(), full=True)
    assert not summary.failed and [r.deletes for r in summary.results] == [3]
    [listed] = seen  # the debug event says how the listing went
    assert listed["table"] == "service_tickets" and listed["ranges"] == RANGES and listed["ids"] == len(ids) - 3
    [(table, ranges)] = ranges_used
    assert table == "service_tickets" and len(ranges) == RANGES
    # the boundaries are ids of this run's raw files: the table as it is now
    assert all(r.through is None or (int(r.through) in ids and int(r.through) not in victims) for r in ranges)
    deleted = current_deleted(make_ctx(), tenant)
    assert {rid for rid, gone in deleted.items() if gone} == {str(v) for v in victims}
    assert len(deleted) == len(ids)
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)

    # an incremental run's listing (due every run here) cuts its ranges at the canonical keys
    ranges_used.clear()
    sandbox_admin.delete_record(tenant, TICKETS, ids[1])
    summary = sync(make_ctx(reconcile_interval_hours=0))
    assert not summary.failed and [r.deletes for r in summary.results] == [1]
    [(_, ranges)] = ranges_used
    assert len(ranges) == RANGES and current_deleted(make_ctx(), tenant)[str(ids[1])] is True


def test_a_range_that_fails_fails_the_table_and_closes_nothing(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, ranges_used,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, ids = synced_tickets(sandbox_admin, new_instance, register, make_ctx, "ranges-fail")
    sandbox_admin.delete_record(tenant, TICKETS, ids[0])  # the first range, which lists fine
    real = RestConnector.list_ids

    async def last_range_fails(self: RestConnector, table: str, after: str | None = None,
                               through: str | None = None) -> AsyncIterator[list[str]]:
        if after is not None and through is None:
            raise BadDataError("listing ids, page 1: id 9 is not above 10: the API ignored the id order")
        async for batch in real(self, table, after, through):
            yield batch

    monkeypatch.setattr(RestConnector, "list_ids", last_range_fails)
    summary = sync(make_ctx(), full=True)
    [result] = summary.results
    assert result.status.value == "failed" and result.deletes == 0
    assert "id 9 is not above 10: the API ignored the id order" in (result.error or "")
    assert len(ranges_used[-1][1]) == RANGES
    assert not any(current_deleted(make_ctx(), tenant).values()), "no key closed by a partial listing"


def test_ids_the_boundaries_cannot_be_read_from_leave_one_walk_and_the_deletes_closed(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, ranges_used,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, ids = synced_tickets(sandbox_admin, new_instance, register, make_ctx, "ranges-unknown")
    sandbox_admin.delete_record(tenant, TICKETS, ids[-1])
    ranges_used.clear()

    def unreadable(*args: object) -> None:
        raise OSError("the lake refused the read")

    monkeypatch.setattr(id_listing, "_read_known_ids", unreadable)
    with emitted("id_ranges_unknown") as warned:
        summary = sync(make_ctx(), full=True)
    assert not summary.failed and [r.deletes for r in summary.results] == [1]
    assert ranges_used == []  # listed in one walk
    assert [w["error"] for w in warned] == ["OSError: the lake refused the read"]
    assert current_deleted(make_ctx(), tenant)[str(ids[-1])] is True
