"""The page executor against a brute-force reference: same records, same order, same totals."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from avesa_sandbox.clock import format_epoch
from avesa_sandbox.connectwise.query import ListParams, build_query
from avesa_sandbox.connectwise.simulator import ConnectWiseSimulator
from avesa_sandbox.selection import select
from avesa_sandbox.store import TableStore

BASE = 1_704_067_200


@st.composite
def stores(draw: st.DrawFn) -> TableStore:
    ids = draw(st.lists(st.integers(1, 400), min_size=0, max_size=60, unique=True))
    records = [
        {
            "id": rid,
            "name": draw(st.sampled_from(["Acme", "acme", "Beta", "Gamma", None])),
            "numberOfEmployees": draw(st.integers(0, 5)),
            "_info": {"lastUpdated": format_epoch(BASE + draw(st.integers(0, 50)))},
        }
        for rid in ids
    ]
    store = TableStore("company/companies", ConnectWiseSimulator().updated_epoch)
    store.load([{k: v for k, v in r.items() if v is not None} for r in records])
    return store


def stamp(seconds: int) -> str:
    return f"[{format_epoch(BASE + seconds)}]"


terms = st.one_of(
    st.tuples(st.sampled_from(["id >", "id >=", "id <", "id <=", "id ="]), st.integers(0, 401)).map(
        lambda t: f"{t[0]} {t[1]}"
    ),
    st.tuples(
        st.sampled_from(["lastUpdated >", "_info/lastUpdated >=", "lastUpdated <", "lastUpdated <="]),
        st.integers(-1, 51),
    ).map(lambda t: f"{t[0]} {stamp(t[1])}"),
    st.sampled_from(['name = "acme"', 'name like "%a"', "numberOfEmployees >= 3", "name = null", "id in (5, 50, 77)"]),
)
conditions = st.one_of(
    st.none(),
    st.lists(terms, min_size=1, max_size=4).map(" and ".join),
    st.tuples(terms, terms, terms).map(lambda t: f"({t[0]} or {t[1]}) and {t[2]}"),
)
orders = st.sampled_from(
    [
        None,
        "id asc",
        "id desc",
        "_info/lastUpdated asc",
        "lastUpdated asc, id asc",
        "name desc",
        "numberOfEmployees asc, id desc",
        "lastUpdated desc",
    ]
)


def brute_force(store: TableStore, condition: str | None, order: str | None) -> list[int]:
    """Every record checked with the full predicate, then sorted by Python's sort on explicit keys."""
    from avesa_sandbox.connectwise.conditions import parse
    from avesa_sandbox.connectwise.predicates import Compiler
    from avesa_sandbox.connectwise.schema import FieldResolver

    predicate = Compiler(FieldResolver("Company")).predicate(parse(condition)) if condition else (lambda r: True)
    matched = [store.records[i] for i in sorted(store.ids) if predicate(store.records[i])]
    terms_: list[tuple[list[str], bool]] = []
    for part in (order or "id asc").split(","):
        words = part.split()
        path = {"lastupdated": "_info/lastUpdated"}.get(words[0].lower(), words[0]).split("/")
        terms_.append((path, len(words) > 1 and words[1] == "desc"))
    if ["id"] not in [p for p, _ in terms_]:
        terms_.append((["id"], False))

    def value(record: dict[str, Any], path: list[str]) -> tuple[Any, ...]:
        v: Any = record
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        return (0,) if v is None else (1, v.casefold() if isinstance(v, str) else v)

    for path, desc in reversed(terms_):
        matched.sort(key=lambda r, path=path: value(r, path), reverse=desc)
    return [r["id"] for r in matched]


@given(stores(), conditions, orders, st.integers(1, 7), st.integers(1, 12), st.booleans())
@settings(max_examples=400, deadline=None)
def test_select_matches_brute_force(
    store: TableStore, condition: str | None, order: str | None, page: int, page_size: int, want_total: bool
) -> None:
    params = ListParams(conditions=condition, order_by=order, page=page, page_size=page_size)
    selection = select(store, build_query("Company", params, want_total=want_total))
    expected = brute_force(store, condition, order)
    start = (page - 1) * page_size
    assert selection.ids == expected[start : start + page_size]
    assert selection.has_more == (len(expected) > start + page_size)
    assert selection.total == (len(expected) if want_total else None)


@given(stores(), conditions, st.integers(1, 9))
@settings(max_examples=200, deadline=None)
def test_forward_only_keyset_walk_visits_every_match_once(store: TableStore, condition: str | None, size: int) -> None:
    expected = brute_force(store, condition, None)
    seen: list[int] = []
    page_id = None
    for _ in range(200):
        params = ListParams(conditions=condition, page_size=size, page_id=page_id, forward_only=True)
        selection = select(store, build_query("Company", params, want_total=False))
        seen += selection.ids
        if not selection.has_more:
            break
        page_id = selection.ids[-1]
    assert seen == expected


def test_store_changes_keep_indexes_consistent() -> None:
    store = TableStore("t", ConnectWiseSimulator().updated_epoch)
    store.load([{"id": i, "_info": {"lastUpdated": format_epoch(BASE + i)}} for i in (5, 1, 3)])
    assert store.ids == [1, 3, 5]
    store.put({"id": 2, "_info": {"lastUpdated": format_epoch(BASE + 100)}})
    store.put({"id": 1, "_info": {"lastUpdated": format_epoch(BASE + 200)}})
    store.delete(3)
    assert store.ids == [1, 2, 5]
    start, end = store.updated_span(BASE + 50, None)
    assert list(store.ids_by_updated(start, end)) == [2, 1]
    assert store.json_array([5, 1]).startswith(b'[{"id":5')
