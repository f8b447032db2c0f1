"""The compiled mapping (`CompiledMapping.to_versions`) gives exactly what the per-record mapping it
replaced gave (tests/transform/mapping_reference.py, a frozen copy of it), and so does the columnar
mapping (`CompiledMapping.columnar`, DuckDB and Arrow) a canonical build runs: the same table,
schema included, the same null counts added to the caller's counter, and the same failure — a
record no decoder reads, a bad batch — for random mappings over the catalog's canonical tables,
for every built-in mapping over hostile values, and for every built-in mapping over the sandbox's
records."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.catalog.loader import load_catalog
from avesa.catalog.models import CanonicalTable, Mapping
from avesa.domain.timeutil import parse_utc
from avesa.transform.mapping import CompiledMapping, RecordUnreadable
from avesa.transform.values import to_timestamp

from .mapping_reference import ReferenceMapping, ReferenceUnreadable

CATALOG = load_catalog()
CANONICAL = sorted(CATALOG.canonical)
MAPPINGS = sorted((service, table) for service, spec in CATALOG.services.items() for table in spec.tables
                  if CATALOG.mapping(service, table) is not None)
STAMP = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the generated paths and records share, so that paths find values; some need quoting in source.
KEYS = ["id", "name", "a", "b", "items", "_info", "flag", "it's", 'q"x', "back\\slash", "ünï", "s\ud800"]
MATCH_VALUES = ["x", "true", "false", "1", "none", "Email", "EMAIL", ""]

timestamp_texts = st.one_of(
    st.sampled_from([
        "2025-03-01T12:00:00Z", "2025-03-01T12:00:00.123Z", "2025-03-01T12:00:00.123456Z", "2025-03-01 12:00:00",
        "2025-03-01T12:00:00+02:00", "2025-03-01T12:00:00-05:30", "2025-03-01", "20250301T120000Z",
        " 2025-03-01T12:00:00Z ", "\t2025-03-01T12:00:00Z\n", "2025-03-01T24:00:00Z", "2025-02-30T00:00:00Z",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
        "2025-03-01T12:00:00z", "2025-03-01T12:00", "2025-03-01T12", "2025-W09-6", "yesterday", "", " ", "\u3000",
        "2025-03-01T12:00:00.1234567Z", "2025-03-01T12:00:00,5Z", "2025-03-01T12:00:00+0200", "１２３",
    ]),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.one_of(st.none(), st.just(UTC),
                                     st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))))
    .flatmap(lambda dt: st.sampled_from([dt.isoformat(), dt.isoformat(sep=" "), dt.isoformat(timespec="seconds"),
                                         dt.isoformat().replace("+00:00", "Z")])),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 2**63 - 1, -(2**63), 2**64, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e308, 5e-324, 1.5, 9.2e18, 9.3e18]),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12),  # lone surrogates too
    st.sampled_from(["", " ", "NaN", "Infinity", "-inf", "1e999", "12", " 12 ", "1_000", "0x10", "12.5", "-0",
                     "9223372036854775808", "9223372036854775807", "true", "FALSE", " yes", "0", "1", "x\ud800",
                     "\ud800"]),
    timestamp_texts,
    st.sampled_from(KEYS + MATCH_VALUES),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)


@st.composite
def match_steps(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(KEYS[:7]), st.sampled_from(MATCH_VALUES)), min_size=1,
                          max_size=2, unique_by=lambda pair: pair[0]))
    spaced = draw(st.booleans())
    return "[" + ",".join(f"{k} = {v}" if spaced else f"{k}={v}" for k, v in pairs) + "]"


keys = st.sampled_from(KEYS).map(lambda k: ("key", k))
steps = st.one_of(
    keys, keys, keys,
    st.integers(0, 3).map(lambda i: ("index", f"[{i}]")),
    match_steps().map(lambda m: ("match", m)),
)


@st.composite
def paths(draw: st.DrawFn) -> str:
    first = draw(keys if draw(st.integers(0, 9)) else steps)
    parts = [first, *draw(st.lists(steps, max_size=3))] if draw(st.integers(0, 19)) else []  # "": the record
    text = ""
    for kind, part in parts:
        text += ("." if text and kind == "key" else "") + part
    return ("!" if draw(st.integers(0, 5)) == 0 else "") + text


sources = st.one_of(paths(), paths(), st.lists(paths(), min_size=1, max_size=3), st.just([]))


@st.composite
def mappings(draw: st.DrawFn) -> tuple[Mapping, CanonicalTable]:
    canonical = CATALOG.canonical_table(draw(st.sampled_from(CANONICAL)))
    names = [c.name for c in canonical.columns]
    mapped = draw(st.lists(st.sampled_from([*names, "not_a_column"]), unique=True, min_size=1,
                                 max_size=len(names)))
    columns = {name: draw(sources) for name in mapped}
    mapping = Mapping(canonical_table=canonical.canonical_table, source_service="svc", source_table="tbl", id="id",
                      columns=columns)
    return mapping, canonical


def record_text(record: Any, form: str) -> str:
    """As APIs send them: the standard library's JSON (NaN, Infinity, lone surrogate escapes, integers
    of any size), `1e999` for infinity, orjson's bytes, or broken text."""
    if form == "orjson":
        try:
            return orjson.dumps(record).decode()
        except (orjson.JSONEncodeError, UnicodeEncodeError):
            return json.dumps(record, allow_nan=True)
    text = json.dumps(record, allow_nan=True)
    if form == "1e999":
        return text.replace("-Infinity", "-1e999").replace("Infinity", "1e999")
    if form == "truncated":
        return text[: len(text) // 2]
    return text


@st.composite
def batches(draw: st.DrawFn, top: st.SearchStrategy[Any] = records) -> list[tuple[str, datetime, str]]:
    shapes = st.one_of(top, top, top, values)  # a record that is no object (a list, a number) now and then
    forms = st.sampled_from(["json", "json", "orjson", "1e999", "truncated"] if draw(st.integers(0, 9)) == 0
                            else ["json", "json", "orjson", "1e999"])
    rows = draw(st.lists(st.tuples(shapes, forms), max_size=6))
    return [(f"r{i}", STAMP - timedelta(seconds=i), record_text(record, form))
            for i, (record, form) in enumerate(rows)]


def outcome(mapper: CompiledMapping | ReferenceMapping, rows: list, **kwargs: Any) -> tuple[Any, Counter]:
    """The table (or the failure's class and message) and the counter the run added to."""
    nulled = Counter({"already": 2, **dict.fromkeys(mapper.columns[::2], 1)})  # counts are added to
    try:
        table = mapper.to_versions(rows, tenant_id="t", run_id="run", loaded_at=STAMP, nulled=nulled, **kwargs)
    except (RecordUnreadable, ReferenceUnreadable) as exc:
        return ("unreadable", str(exc)), nulled
    except Exception as exc:  # whatever else the reference raised, the fast path must raise alike
        return (type(exc).__name__, str(exc)), nulled
    return table, nulled


def columnar_outcome(mapper: CompiledMapping, rows: list, extracted_at: list | None = None) -> tuple[Any, Counter]:
    """`outcome` of the columnar mapping, over the rows as a raw file's columns."""
    nulled = Counter({"already": 2, **dict.fromkeys(mapper.columns[::2], 1)})
    raw = pa.table({"record_id": pa.array([r[0] for r in rows], pa.string()),
                    "source_updated_at": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
                    "record": pa.array([r[2] for r in rows], pa.string()),
                    "extracted_at": pa.array(extracted_at or [None] * len(rows), pa.timestamp("us", tz="UTC"))})
    try:
        table = mapper.columnar.to_versions(raw, tenant_id="t", run_id="run", loaded_at=STAMP, nulled=nulled)
    except RecordUnreadable as exc:
        return ("unreadable", str(exc)), nulled
    except Exception as exc:
        return (type(exc).__name__, str(exc)), nulled
    return table, nulled


def _equal(got: Any, want: Any) -> None:
    if isinstance(want, tuple) or isinstance(got, tuple):
        assert got == want
    else:
        assert got.schema.equals(want.schema, check_metadata=True)
        assert got.equals(want), (got.to_pylist(), want.to_pylist())


def assert_same(mapping: Mapping, canonical: CanonicalTable, rows: list, **kwargs: Any) -> None:
    """The compiled row function, the frozen reference and the columnar mapping agree: table,
    failure and null counts (the columnar one where the extraction stamps fit the rows, as a raw
    file's always do)."""
    compiled = CompiledMapping(mapping, canonical)
    fast, fast_nulled = outcome(compiled, rows, **kwargs)
    reference, reference_nulled = outcome(ReferenceMapping(mapping, canonical), rows, **kwargs)
    _equal(fast, reference)
    assert fast_nulled == reference_nulled and set(fast_nulled) == set(reference_nulled)
    stamps = kwargs.get("extracted_at")
    if stamps is None or len(stamps) == len(rows):
        columnar, columnar_nulled = columnar_outcome(compiled, rows, stamps)
        _equal(columnar, fast)
        assert columnar_nulled == fast_nulled and set(columnar_nulled) == set(fast_nulled)


# What a `[k=v]` match wants, as values a source may hold: str(item.get(k)).lower() must equal it.
MATCHING = {"true": [True, "true", "TRUE"], "false": [False, "False"], "1": [1, "1"], "none": [None, "None"],
            "email": ["Email", "EMAIL"], "x": ["x", "X"], "": [""]}


def _plant(draw: st.DrawFn, record: Any, steps: list[tuple[str, str, str]], leaf: Any, top: bool = True) -> Any:
    """`record` with `leaf` where the path's steps lead (made of dicts and lists as needed), or
    now and then a near miss: a list too short, an item that does not match, the wrong container."""
    if not steps:
        return leaf
    (name, index, match), rest = steps[0], steps[1:]
    if not top and draw(st.integers(0, 19)) == 0:
        return draw(values)  # the wrong shape at this step
    if name:
        into = record if isinstance(record, dict) else {}
        return {**into, name: _plant(draw, into.get(name), rest, leaf, False)}
    if index:
        i = int(index)
        items = list(record) if isinstance(record, list) else []
        items += [draw(values) for _ in range(max(0, i + 1 - len(items)))]
        if draw(st.integers(0, 5)) == 0:
            return items[:i]  # one too short
        items[i] = _plant(draw, items[i], rest, leaf, False)
        return items
    wanted = [[part.strip() for part in pair.split("=", 1)] for pair in match.split(",")]
    item = {k: draw(st.sampled_from(MATCHING.get(v.lower(), [v]))) for k, v in wanted}
    decoys = [{**item, wanted[0][0]: "decoy"}] if draw(st.booleans()) else []
    found = _plant(draw, item, rest, leaf, False) if rest else {"value": leaf, **item}  # the item is the value
    return [*decoys, found, *([draw(values)] if draw(st.booleans()) else [])]


# The values at the edge of each column type's conversion, planted where the mapping reads.
EDGES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.sampled_from(["", " ", "\t", "x", "x\ud800", "\udfff", True, False, 0, -0.0, 1.5, 10**30, [], {},
                               ["a", None], {"k": float("inf")}, {"b": 10**30}]),
    "int64": st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, "9223372036854775808", 9.3e18])
    | st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 0, True, 1e19, 9.2e18, -9.3e18, 2.9,
                              float("nan"), float("inf"), "12", " 12 ", "12.7", "1e3", "1e999", "9223372036854775808",
                              "-9223372036854775809", "", " ", "x", [1], {"a": 1}]),
    "float64": st.sampled_from([1.5, -0.0, float("inf"), float("-inf"), float("nan"), 10**400, 2**63, True, "1.5",
                                " 2 ", "nan", "inf", "1e999", "", " ", "x", [1.0]]),
    "bool": st.sampled_from([True, False, 0, 1, 2, -1, 0.0, 0.5, float("nan"), float("inf"), "true", " TRUE ",
                             "False", "1", "0", "yes", "", " ", None, [True]]),
    "timestamp": timestamp_texts | st.sampled_from([0, 1.5, True, [], {"a": 1}]),
}


@st.composite
def planted_records(draw: st.DrawFn, mapping: Mapping, canonical: CanonicalTable) -> dict[str, Any]:
    """A record holding values where the mapping's paths look (and a few fields elsewhere): mostly
    values at the edge of the column's conversion."""
    record: Any = draw(records)
    types = canonical.column_types()
    for column, source in mapping.columns.items():
        leaves = EDGES[types[column]] if column in types else scalars
        for path in [source] if isinstance(source, str) else source:
            steps = re.findall(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]+)\]", path.removeprefix("!"))
            if steps and draw(st.integers(0, 5)):  # (a path "" reads the whole record)
                leaf = draw(EDGES["bool"] if path.startswith("!") else st.one_of(leaves, leaves, leaves, scalars))
                record = _plant(draw, record, steps, leaf)
    return record


@SETTINGS
@given(mapped=mappings(), data=st.data(), extraction=st.sampled_from(["none", "stamps", "short"]))
def test_random_mappings_over_random_records_match_the_per_record_mapping(
    mapped: tuple[Mapping, CanonicalTable], data: st.DataObject, extraction: str
) -> None:
    top = planted_records(*mapped) if data.draw(st.integers(0, 4)) else records
    rows = data.draw(batches(top))
    extracted = {"none": None, "stamps": [STAMP + timedelta(hours=i) for i in range(len(rows))],
                 "short": [STAMP] * max(0, len(rows) - 1)}[extraction]
    assert_same(*mapped, rows, extracted_at=extracted)


@SETTINGS
@given(name=st.sampled_from(CANONICAL), data=st.data())
def test_every_column_type_over_its_edge_values_matches_the_per_record_mapping(name: str, data: st.DataObject) -> None:
    """Every column of a canonical table but most text ones read from its own field (some as
    `!flag`, some as alternatives), each record holding values at the edge of the column's conversion."""
    canonical = CATALOG.canonical_table(name)
    columns: dict[str, str | list[str]] = {}
    texts = [c.name for c in canonical.columns if c.type == "string"]
    chosen = set(data.draw(st.lists(st.sampled_from(texts), max_size=4)))  # the few types other than text: all
    for c in canonical.columns:
        if c.type == "string" and c.name not in chosen:
            continue
        shape = data.draw(st.sampled_from(["plain", "plain", "nested", "alternatives", "negated"]))
        columns[c.name] = {"plain": c.name, "nested": f"{c.name}.v", "alternatives": [f"{c.name}.v", c.name],
                           "negated": f"!{c.name}"}[shape]
    mapping = Mapping(canonical_table=name, source_service="s", source_table="t", id="id", columns=columns)
    types = canonical.column_types()

    def leaf(column: str) -> st.SearchStrategy[Any]:
        source = columns[column]
        negated = isinstance(source, str) and source.startswith("!")
        edges = EDGES["bool"] if negated else EDGES[types[column]]
        value = st.one_of(edges, edges, edges, scalars)
        if source == f"{column}.v":
            return value.map(lambda v: {"v": v})
        if isinstance(source, list):  # either path may hold it
            return st.one_of(value.map(lambda v: {"v": v}), value, st.just({"v": None}))
        return value

    record = st.fixed_dictionaries({}, optional={c: leaf(c) for c in columns})
    rows = data.draw(batches(record))
    assert_same(mapping, canonical, rows, extracted_at=[STAMP] * len(rows))


EDGE_LISTS: dict[str, list[Any]] = {
    "string": ["", " ", "\t", "x", "x\ud800", True, False, 0, 7, -0.0, 1.5, 10**30, [], {}, {"b": 10**30}],
    "int64": [2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 0, True, 1e19, 9.2e18, -9.3e18, 2.9, float("nan"),
              float("inf"), "12", " 12 ", "12.7", "1e3", "1e999", "9223372036854775808", "", " ", "x", [1]],
    "float64": [1.5, -0.0, float("inf"), float("-inf"), float("nan"), 10**400, 2**63, True, "1.5", " 2 ", "nan",
                "inf", "1e999", "", " ", "x", [1.0]],
    "bool": [True, False, 0, 1, 2, 0.5, float("nan"), "true", " TRUE ", "False", "1", "0", "yes", "", " ", [True]],
    "timestamp": ["2025-03-01T12:00:00Z", " 2025-03-01T12:00:00Z ", "2025-03-01T12:00:00+02:00", "2025-03-01",
                  "0001-01-01T00:00:00+01:00", "2025-02-30T00:00:00Z", "", " ", "x", 0, True, {"a": 1}],
}


@pytest.mark.parametrize("form", ["json", "1e999"])
def test_each_edge_value_of_each_type_in_one_batch_matches_the_per_record_mapping(form: str) -> None:
    """Every listed edge value of every type, each in a record of its own: the same table and counts,
    whatever a random draw happened to leave out."""
    canonical = CanonicalTable(canonical_table="edges", columns=[
        {"name": f"{kind}_col", "type": kind} for kind in EDGE_LISTS] + [{"name": "last_updated", "type": "timestamp"},
                                                                         {"name": "flag", "type": "bool"}])
    columns: dict[str, str | list[str]] = {f"{kind}_col": kind for kind in EDGE_LISTS}
    mapping = Mapping(canonical_table="edges", source_service="s", source_table="t", id="id",
                      columns={**columns, "last_updated": "timestamp", "flag": "!bool"})
    rows = [(f"{kind}{i}", STAMP, record_text({kind: value}, form))
            for kind, edge in EDGE_LISTS.items() for i, value in enumerate(edge)]
    assert_same(mapping, canonical, rows)


def test_a_malformed_match_is_refused_when_compiled_as_before() -> None:
    canonical = CATALOG.canonical_table("contacts")
    mapping = Mapping(canonical_table="contacts", source_service="s", source_table="t", id="id",
                      columns={"id": "items[nokey].id"})
    with pytest.raises(ValueError, match="not enough values to unpack"):
        ReferenceMapping(mapping, canonical)
    with pytest.raises(ValueError, match="not enough values to unpack"):
        CompiledMapping(mapping, canonical)


def test_a_canonical_table_without_last_updated_fails_as_before() -> None:
    canonical = CanonicalTable(canonical_table="plain", columns=[{"name": "id", "type": "string"}])
    mapping = Mapping(canonical_table="plain", source_service="s", source_table="t", id="id", columns={"id": "id"})
    assert_same(mapping, canonical, [("1", STAMP, '{"id": 1}')])
    assert_same(mapping, canonical, [])


@SETTINGS
@given(texts=st.lists(st.one_of(timestamp_texts, scalars), min_size=1, max_size=8), last_updated=st.booleans())
def test_timestamps_convert_as_parse_utc_does(texts: list[Any], last_updated: bool) -> None:
    column = "last_updated" if last_updated else "created_date"
    canonical = CATALOG.canonical_table("tickets")
    mapping = Mapping(canonical_table="tickets", source_service="s", source_table="t", id="id", columns={column: "t"})
    rows = [(str(i), STAMP, json.dumps({"t": text}, allow_nan=True)) for i, text in enumerate(texts)]
    assert_same(mapping, canonical, rows)
    table = CompiledMapping(mapping, canonical).to_versions(rows, tenant_id="t", run_id="r", loaded_at=STAMP)
    for text, got in zip(texts, table.column(column).to_pylist(), strict=True):
        expected = to_timestamp(text)
        if isinstance(text, str) and expected is not None:
            assert expected == parse_utc(text)
        assert got == (expected if expected is not None or not last_updated else STAMP)


def _top_fields(mapping: Mapping) -> list[str]:
    paths = [p for s in mapping.columns.values() for p in ([s] if isinstance(s, str) else s)]
    return sorted({p.removeprefix("!").split(".")[0].split("[")[0] for p in paths})


@pytest.mark.parametrize(("service", "table"), MAPPINGS)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_catalog_mapping_over_hostile_values_matches_the_per_record_mapping(
    service: str, table: str, data: st.DataObject
) -> None:
    mapping = CATALOG.mapping(service, table)
    fields = _top_fields(mapping)
    # the mapping's own fields, holding hostile values or the shapes its paths look for
    shaped = st.one_of(values, st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(
        ["communicationType", "defaultFlag", "value", "name", "id"], values)), max_size=3),
        st.fixed_dictionaries({}, optional=dict.fromkeys(
            ["name", "id", "identifier", "lastUpdated", "updatedBy", "enteredBy", "dateEntered"], values)))
    top = st.fixed_dictionaries({}, optional=dict.fromkeys(fields, shaped))
    rows = data.draw(batches(top))
    assert_same(mapping, CATALOG.canonical_table(mapping.canonical_table), rows)


@pytest.fixture(scope="module")
def sandbox_records() -> dict[str, dict[str, list[dict]]]:
    """Every table of a tiny instance of every sandbox service, as its generator built them."""
    simulator_for = pytest.importorskip("avesa_sandbox.service").simulator_for
    from avesa_sandbox.spec import InstanceSpec

    return {service: simulator_for(service).generate(InstanceSpec(name="fast-path", service=service, scale="tiny"),
                                                     "http://127.0.0.1:1/x")
            for service in CATALOG.services}


@pytest.mark.parametrize(("service", "table"), MAPPINGS)
def test_every_catalog_mapping_over_sandbox_records_matches_the_per_record_mapping(
    service: str, table: str, sandbox_records: dict[str, dict[str, list[dict]]]
) -> None:
    mapping = CATALOG.mapping(service, table)
    records = sandbox_records[service][CATALOG.services[service].tables[table].path]
    assert records
    rows = [(str(i), STAMP, orjson.dumps(r).decode()) for i, r in enumerate(records)]
    assert_same(mapping, CATALOG.canonical_table(mapping.canonical_table), rows)
    versions = CompiledMapping(mapping, CATALOG.canonical_table(mapping.canonical_table)).to_versions(
        rows, tenant_id="t", run_id="r", loaded_at=STAMP)
    assert versions.num_rows == len(records)
    assert versions.column("id").null_count < len(records)  # the mapping reads these records, not nulls
