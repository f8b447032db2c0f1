"""Well-behaved Graph answers: a collection page, a ``$count``, one object, a delta page.

Each returns an ``Answer`` (body, extra headers, records served, media type) or raises GraphError
with the status and error Graph gives for the request. Store reads hold the instance lock: admin
changes run on other threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox.faults import RequestScope
from avesa_sandbox.instances import Instance
from avesa_sandbox.microsoft365 import errors, pages, query, tokens
from avesa_sandbox.microsoft365.delta import DeltaQuery
from avesa_sandbox.microsoft365.paths import Target
from avesa_sandbox.microsoft365.simulator import Microsoft365Simulator
from avesa_sandbox.microsoft365.tables import ResourceDef
from avesa_sandbox.store import TableStore

GRAPH_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Answer:
    body: bytes
    records: int
    media_type: str = GRAPH_JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """The parts of an HTTP request an answer needs."""

    params: list[tuple[str, str]]
    headers: Mapping[str, str]
    root: str
    """The Graph v1.0 root URL as the client reached it (links and contexts point under it)."""


def answer(instance: Instance, sim: Microsoft365Simulator, target: Target, call: Call) -> Answer:
    if target.delta:
        return delta_page(instance, sim, target.resource, call)
    if target.scope is RequestScope.COUNT:
        return count(instance, target.resource, call)
    if target.scope is RequestScope.GET:
        return one(instance, sim, target.resource, target.record_id or "", call)
    return collection_page(instance, sim, target.resource, call)


def _cursor(sim: Microsoft365Simulator, resource: ResourceDef, skiptoken: str | None) -> tuple[Any, bool]:
    """(last key served, whether the previous page was an injected empty one) from a ``$skiptoken``."""
    if skiptoken is None:
        return None, False
    state = tokens.decode(skiptoken)
    if state is None or state.get("k") != "page" or state.get("r") != resource.path:
        raise errors.bad_request("Invalid $skiptoken: it was not issued for this query.", "Directory_ExpiredPageToken")
    if state.get("g") != sim.data_generation:
        raise errors.bad_request(
            "The specified page token value has expired and can no longer be included in your request.",
            "Directory_ExpiredPageToken",
        )
    return state.get("c"), bool(state.get("ne"))


def empty_page_roll(instance: Instance) -> bool:
    """Whether this page (which has a next link) comes back empty, per the ``empty_page_rate`` knob."""
    rate = instance.knobs.empty_page_rate
    return bool(rate) and instance.rng.random() < rate


def collection_page(instance: Instance, sim: Microsoft365Simulator, resource: ResourceDef, call: Call) -> Answer:
    params = query.parse_list(resource, call.params, call.headers)
    after, no_empty = _cursor(sim, resource, params.skiptoken)
    predicate = params.filter.predicate if params.filter else None
    names = query.projection(resource, params.select)
    with instance.lock:
        store = instance.tables[resource.path]
        keys, more = pages.keyset_page(store, after, params.top, predicate)
        total = pages.count(store, predicate) if params.count else None
        empty = more and not no_empty and empty_page_roll(instance)
        values = [] if empty else sim.projections.many(store, keys, names)
    next_link = None
    if more:
        state: dict[str, Any] = {"k": "page", "r": resource.path, "g": sim.data_generation}
        state.update({"c": after, "ne": 1} if empty else {"c": keys[-1]})
        kept = [(k, v) for k, v in call.params if k.lower() != "$skiptoken"]
        next_link = query.link(call.root, resource.path, [*kept, ("$skiptoken", tokens.encode(state))])
    context = query.context_url(call.root, resource.path, params.select)
    return Answer(pages.collection(context, values, count=total, next_link=next_link), len(values))


def count(instance: Instance, resource: ResourceDef, call: Call) -> Answer:
    opts = query.options(call.params)
    if resource.directory and not query.eventual(call.headers):
        raise errors.bad_request("$count is not currently supported.")
    compiled = query.parse_filter(resource, opts.get("$filter"), True)
    with instance.lock:
        total = pages.count(instance.tables[resource.path], compiled.predicate if compiled else None)
    return Answer(str(total).encode(), 0, TEXT)


def one(instance: Instance, sim: Microsoft365Simulator, resource: ResourceDef, record_id: str, call: Call) -> Answer:
    opts = query.options(call.params)
    query.refuse_unsupported(resource, opts, call.headers)
    select = query.parse_select(resource, opts.get("$select"))
    with instance.lock:
        store = instance.tables[resource.path]
        key = _find_key(sim, store, resource, record_id)
        if key is None:
            raise errors.resource_not_found(record_id, intune=not resource.directory)
        item = sim.projections.many(store, [key], query.projection(resource, select))[0]
    return Answer(pages.entity(query.context_url(call.root, resource.path, select, entity=True), item), 1)


def _find_key(sim: Microsoft365Simulator, store: TableStore, resource: ResourceDef, record_id: str) -> int | None:
    if resource.path == "users" and "@" in record_id:  # a user can be addressed by userPrincipalName
        wanted = record_id.casefold()
        return next(
            (key for key, r in store.records.items() if (r.get("userPrincipalName") or "").casefold() == wanted),
            None,
        )
    try:
        key = sim.parse_id(resource.path, record_id)
    except (KeyError, ValueError):
        return None
    return key if key in store else None


def delta_page(instance: Instance, sim: Microsoft365Simulator, resource: ResourceDef, call: Call) -> Answer:
    path = f"{resource.path}/delta"
    page = DeltaQuery(instance, sim, resource).serve(call.params, call.headers, f"{call.root}/{path}")
    next_link = query.link(call.root, path, [("$skiptoken", page.skiptoken)]) if page.skiptoken else None
    delta_link = query.link(call.root, path, [("$deltatoken", page.deltatoken)]) if page.deltatoken else None
    context = query.context_url(call.root, resource.path, page.select)
    body = pages.collection(context, page.items, next_link=next_link, delta_link=delta_link)
    result = Answer(body, len(page.items))
    if "return=minimal" in (call.headers.get("prefer") or "").replace(" ", "").lower():
        result.headers["Preference-Applied"] = "return=minimal"
    return result
