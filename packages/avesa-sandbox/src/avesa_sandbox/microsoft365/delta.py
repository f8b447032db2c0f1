"""Delta queries (``GET /users/delta``, ``/groups/delta``, ``/devices/delta``), as Graph runs them.

A round of calls walks ``@odata.nextLink`` pages until a page carries ``@odata.deltaLink``; calling
that link later starts the next round, which returns only what changed since. The sync state is a
position in the instance's ground-truth change log:

- The initial round (no token) pins ``s0`` = the log's length and pages over the current records by
  key. Records that change while it runs are served as they are now and again in the next round
  (Graph warns of such replays); none is missed, because the deltaLink carries ``s0``.
- A changes round (``$deltatoken``) pins ``s1`` = the log's length and pages over the records with a
  log entry in ``(s0, s1]``. A record that exists and differs from its version at ``s0`` in a tracked
  property is returned (every returned property by default; with ``Prefer: return=minimal`` only
  ``id`` and the changed properties); one created since ``s0`` is returned whole; one deleted since
  is ``{"id": ..., "@removed": {"reason": "changed" | "deleted"}}`` (``changed``: users and groups go
  to the recycle bin first). A record created and deleted within the window is not mentioned.
- ``$select`` chooses the returned and tracked properties (a change to another property does not
  return the record); without it every property is tracked and the resource's default set returned.
  ``$filter`` may only pin ids (``id eq '...' or id eq '...'``, at most 50). ``$top`` is ignored: the
  service sizes delta pages. ``$deltatoken=latest`` returns no data, just a deltaLink from now.
- A delta token older than seven days, from before an instance reset, or not issued here is
  answered ``410 Gone`` with ``syncStateNotFound`` and a ``Location`` to restart from, Graph's signal
  for a full resync.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from avesa_sandbox.microsoft365 import tokens
from avesa_sandbox.microsoft365.errors import GraphError, bad_request, unsupported_query
from avesa_sandbox.microsoft365.query import options, parse_filter, parse_select, projection
from avesa_sandbox.microsoft365.tables import DELTA_PAGE_SIZE, ResourceDef

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from avesa_sandbox.instances import Instance
    from avesa_sandbox.microsoft365.simulator import Microsoft365Simulator

TOKEN_LIFETIME_SECONDS = 7 * 86400
"""Delta tokens of directory objects are valid for seven days."""
MAX_FILTER_IDS = 50


@dataclass
class DeltaPage:
    """One delta response: items, and either a next token (``$skiptoken``) or a delta token."""

    items: list[bytes]
    select: tuple[str, ...] | None
    skiptoken: str | None = None
    deltatoken: str | None = None


def sync_state_not_found(location: str) -> GraphError:
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        {"Location": location},
    )


class DeltaQuery:
    """Delta requests of one resource of one instance."""

    def __init__(self, instance: Instance, simulator: Microsoft365Simulator, resource: ResourceDef) -> None:
        self.instance = instance
        self.sim = simulator
        self.resource = resource
        self.table = resource.path

    # -- entry point --------------------------------------------------------------------------------

    def serve(self, params: Iterable[tuple[str, str]], headers: Mapping[str, str], restart_url: str) -> DeltaPage:
        """Answer a delta request (initial, ``$skiptoken`` or ``$deltatoken``); GraphError if refused."""
        opts = options(params)
        minimal = "return=minimal" in (headers.get("prefer") or "").replace(" ", "").lower()
        if "$skiptoken" in opts:
            state = self._state(opts["$skiptoken"], restart_url, "skip")
            return self._page(state, minimal)
        if "$deltatoken" in opts:
            if opts["$deltatoken"].strip().lower() == "latest":
                select, ids = self._initial_options(opts)
                return self._latest(select, ids)
            state = self._state(opts["$deltatoken"], restart_url, "delta")
            if "$select" in opts:  # Graph lets a deltaLink change the tracked properties
                state["sel"] = list(parse_select(self.resource, opts["$select"]) or []) or None
            if self.instance.clock.now() - int(state.get("i", 0)) > TOKEN_LIFETIME_SECONDS:
                raise sync_state_not_found(restart_url)
            state.update(ph="chg", u=len(self.instance.changelog), c=None)
            return self._page(state, minimal)
        select, ids = self._initial_options(opts)
        state = {
            "ph": "init",
            "s": len(self.instance.changelog),
            "sel": list(select) if select else None,
            "ids": ids,
            "c": None,
        }
        return self._page(state, minimal)

    def _initial_options(self, opts: dict[str, str]) -> tuple[tuple[str, ...] | None, list[str] | None]:
        for name in ("$orderby", "$expand", "$search", "$skip"):
            if name in opts:
                raise unsupported_query(f"{name} is not supported with delta queries.")
        select = parse_select(self.resource, opts.get("$select"))
        compiled = parse_filter(self.resource, opts.get("$filter"), True)
        ids = None
        if compiled is not None:
            if compiled.only_ids is None:
                raise unsupported_query("Delta queries only support filtering by object id: $filter=id eq '{id}'.")
            if len(compiled.only_ids) > MAX_FILTER_IDS:
                raise bad_request(f"Too many ids in the filter: at most {MAX_FILTER_IDS} objects can be tracked.")
            ids = sorted(set(compiled.only_ids))
        return select, ids

    def _state(self, token: str, restart_url: str, kind: str) -> dict[str, Any]:
        state = tokens.decode(token)
        if (
            state is None
            or state.get("k") != kind
            or state.get("r") != self.table
            or state.get("g") != self.sim.data_generation
        ):
            raise sync_state_not_found(restart_url)
        return state

    # -- pages --------------------------------------------------------------------------------------

    def _emitted(self, state: dict[str, Any]) -> tuple[str, ...] | None:
        select = state.get("sel")
        return projection(self.resource, tuple(select) if select else None)

    def _latest(self, select: tuple[str, ...] | None, ids: list[str] | None) -> DeltaPage:
        state = {"s": len(self.instance.changelog), "sel": list(select) if select else None, "ids": ids}
        return DeltaPage([], select, deltatoken=self._token("delta", state))

    def _token(self, kind: str, state: dict[str, Any], **changes: Any) -> str:
        payload = {k: state.get(k) for k in ("ph", "s", "u", "sel", "ids", "c", "i")}
        payload.update(changes, k=kind, r=self.table, g=self.sim.data_generation)
        if kind == "delta":
            payload.update(ph=None, u=None, c=None, ne=None, i=self.instance.clock.now())
        return tokens.encode({k: v for k, v in payload.items() if v is not None})

    def _page(self, state: dict[str, Any], minimal: bool) -> DeltaPage:
        with self.instance.lock:
            if state.get("ph") == "chg":
                items, cursor, more = self._changes(state, minimal)
                sync_point = state["u"]
            else:
                items, cursor, more = self._initial(state)
                sync_point = state["s"]
        select = tuple(state["sel"]) if state.get("sel") else None
        if not more:
            return DeltaPage(items, select, deltatoken=self._token("delta", state, s=sync_point))
        if not state.get("ne") and self._empty_page():
            # Graph may answer an empty page that still has a nextLink; the next call resumes here
            return DeltaPage([], select, skiptoken=self._token("skip", state, ne=1))
        return DeltaPage(items, select, skiptoken=self._token("skip", state, c=cursor, ne=None))

    def _empty_page(self) -> bool:
        rate = self.instance.knobs.empty_page_rate
        return bool(rate) and self.instance.rng.random() < rate

    def _initial(self, state: dict[str, Any]) -> tuple[list[bytes], Any, bool]:
        store = self.instance.tables[self.table]
        cursor = state.get("c")
        if state.get("ids") is not None:
            wanted = [key for key in (self._key(i) for i in state["ids"]) if key is not None and key in store]
            keys = [key for key in wanted if cursor is None or key > cursor]
        else:
            start = 0 if cursor is None else bisect.bisect_right(store.ids, cursor)
            keys = store.ids[start : start + DELTA_PAGE_SIZE + 1]
        page, more = keys[:DELTA_PAGE_SIZE], len(keys) > DELTA_PAGE_SIZE
        items = self.sim.projections.many(store, page, self._emitted(state))
        return items, (page[-1] if page else cursor), more

    def _changes(self, state: dict[str, Any], minimal: bool) -> tuple[list[bytes], Any, bool]:
        sim, table = self.sim, self.table
        store = self.instance.tables[table]
        sim.history.refresh(self.instance.changelog)
        changed = sim.history.changed_ids(self.instance.changelog, table, state["s"], state["u"])
        if state.get("ids") is not None:
            pinned = set(state["ids"])
            changed = [i for i in changed if i in pinned]
        cursor = state.get("c")
        start = 0 if cursor is None else bisect.bisect_right(changed, cursor)
        emitted = self._emitted(state)
        tracked = tuple(state["sel"]) if state.get("sel") else None
        items: list[bytes] = []
        index = start
        while index < len(changed) and len(items) < DELTA_PAGE_SIZE:
            public = changed[index]
            index += 1
            item = self._change_item(store, public, state["s"], emitted, tracked, minimal)
            if item is not None:
                items.append(item)
        last = changed[index - 1] if index > start else cursor
        return items, last, index < len(changed)

    def _change_item(
        self,
        store: Any,
        public: str,
        since: int,
        emitted: tuple[str, ...] | None,
        tracked: tuple[str, ...] | None,
        minimal: bool,
    ) -> bytes | None:
        key = self._key(public)
        current = store.get(key) if key is not None else None
        before = self.sim.history.version_at(self.table, public, since)
        if key is None or current is None:  # (no key: no current record either)
            if before is None:
                return None
            return orjson.dumps({"id": public, "@removed": {"reason": self.resource.removed_reason}})
        if before is None:
            return self.sim.projections.many(store, [key], emitted)[0]
        names = tracked or (*(n for n in current if n != "id"), *(n for n in before if n not in current))
        changed = [name for name in names if current.get(name) != before.get(name)]
        if not changed:
            return None
        if minimal:
            return orjson.dumps({"id": public, **{name: current.get(name) for name in changed}})
        return self.sim.projections.many(store, [key], emitted)[0]

    def _key(self, public: str) -> int | None:
        try:
            return self.sim.parse_id(self.table, public)
        except (KeyError, ValueError):
            return None
