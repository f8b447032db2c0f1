"""What each data resource answers once a request is authenticated, routed and not faulted.

Query batches (the first one, and the next ones of a cursor), a single record, and the
replication lists, read from the instance's live tables and the recycle bin under the instance
lock. Errors are raised as ``ApiError`` with the real API's status and code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from avesa_sandbox.instances import Instance
from avesa_sandbox.salesforce import errors, replication
from avesa_sandbox.salesforce.cursors import Cursor
from avesa_sandbox.salesforce.errors import ApiError
from avesa_sandbox.salesforce.execute import matching_keys
from avesa_sandbox.salesforce.generate import WINDOW_START
from avesa_sandbox.salesforce.plan import Plan
from avesa_sandbox.salesforce.render import project, query_body
from avesa_sandbox.salesforce.schema import object_def
from avesa_sandbox.salesforce.simulator import SalesforceSimulator
from avesa_sandbox.store import TableStore

Record = dict[str, Any]


@dataclass
class Answer:
    """A well-behaved answer: status, body, and how many records it holds."""

    status: int
    body: bytes
    records: int = 0


def json_answer(data: Any) -> Answer:
    return Answer(200, orjson.dumps(data))


def next_url(version: str, endpoint: str, cursor: Cursor, offset: int) -> str:
    """``/services/data/vXX.X/query/01g...-2000``: where the batch starting at ``offset`` is read."""
    return f"/services/data/v{version}/{endpoint}/{cursor.locator}-{offset}"


def run_query(
    instance: Instance,
    simulator: SalesforceSimulator,
    plan: Plan,
    version: str,
    include_deleted: bool,
    size: int,
    endpoint: str,
) -> Answer:
    """The first batch of a query (a cursor is opened when more follow), or a COUNT result."""
    with instance.lock:
        live = instance.tables[plan.obj]
        deleted = None
        if include_deleted:
            simulator.bin.sync(instance)
            deleted = simulator.bin.store(plan.obj)
        keys = matching_keys(plan, live, deleted)
        if plan.count == "rows":
            return Answer(200, query_body(len(keys), True, None, []))
        if plan.count == "aggregate":
            field = plan.count_field or "Id"
            items = _items(instance, simulator, plan.obj, keys, include_deleted)
            count = sum(1 for _, record, _ in items if record.get(field) is not None)
            aggregate = orjson.dumps({"attributes": {"type": "AggregateResult"}, "expr0": count})
            return Answer(200, query_body(1, True, None, [aggregate]))
        url = None
        if len(keys) > size:
            cursor = simulator.cursors.open(plan.obj, keys, plan.columns, include_deleted, size)
            url = next_url(version, endpoint, cursor, size)
        items = _items(instance, simulator, plan.obj, keys[:size], include_deleted)
        rendered = simulator.renderer.records(plan.obj, version, plan.columns, items)
    return Answer(200, query_body(len(keys), url is None, url, rendered), len(rendered))


def next_batch(
    instance: Instance,
    simulator: SalesforceSimulator,
    cursor: Cursor,
    offset: int,
    size: int,
    version: str,
    endpoint: str,
) -> Answer:
    """The batch of a cursor's snapshot starting at ``offset``."""
    keys = cursor.keys[offset : offset + size]
    done = offset + size >= len(cursor.keys)
    with instance.lock:
        if cursor.include_deleted:
            simulator.bin.sync(instance)
        items = _items(instance, simulator, cursor.obj, keys, cursor.include_deleted)
        rendered = simulator.renderer.records(cursor.obj, version, cursor.columns, items)
    if done:
        cursor.finished = True
    url = None if done else next_url(version, endpoint, cursor, offset + size)
    return Answer(200, query_body(len(cursor.keys), done, url, rendered), len(rendered))


def retrieve(
    instance: Instance,
    simulator: SalesforceSimulator,
    params: Mapping[str, str],
    version: str,
    obj: str,
    raw_id: str,
) -> Answer:
    """``GET /sobjects/{Object}/{id}[?fields=...]``: one record, every field unless ``fields`` names some."""
    try:
        key = simulator.parse_id(obj, raw_id)
    except ValueError:
        raise ApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw_id}"
        ) from None
    definition = object_def(obj)
    columns = definition.field_names
    if params.get("fields"):
        names = [n.strip() for n in params["fields"].split(",") if n.strip()]
        unknown = [n for n in names if definition.field(n) is None]
        if unknown:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}")
        columns = tuple(dict.fromkeys(f.name for n in names if (f := definition.field(n)) is not None))
    with instance.lock:
        record = instance.tables[obj].get(key)
        if record is None:
            simulator.bin.sync(instance)
            store = simulator.bin.store(obj)
            if store is not None and key in store:
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
            raise errors.not_found()
    return Answer(200, orjson.dumps(project(record, obj, version, columns)), 1)


def replicate(
    instance: Instance, simulator: SalesforceSimulator, params: Mapping[str, str], obj: str, action: str
) -> Answer:
    """``GET /sobjects/{Object}/deleted/`` or ``/updated/`` for a ``start``/``end`` window."""
    start, end, latest = replication.window(params, instance.clock.now())
    with instance.lock:
        if action == "updated":
            return json_answer(replication.updated(instance.tables[obj], start, end, latest))
        simulator.bin.sync(instance)
        earliest = simulator.bin.purged_until.get(obj, WINDOW_START)
        body = replication.deleted(simulator.bin.store(obj), start, end, latest, earliest)
    return Answer(200, orjson.dumps(body), len(body["deletedRecords"]))


def _items(
    instance: Instance, simulator: SalesforceSimulator, obj: str, keys: list[int], include_deleted: bool
) -> Iterator[tuple[int, Record, TableStore]]:
    """(key, current record, its store) of each key still there: live, or in the bin for ``queryAll``."""
    live = instance.tables[obj]
    records = live.records
    bin_store = simulator.bin.store(obj) if include_deleted else None
    for key in keys:
        record = records.get(key)
        if record is not None:
            yield key, record, live
        elif bin_store is not None and (record := bin_store.records.get(key)) is not None:
            yield key, record, bin_store
