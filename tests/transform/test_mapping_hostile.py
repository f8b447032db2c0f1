"""Every built-in mapping against generated hostile records: whatever JSON a source sends in a mapped
field — numbers past int64 or the double range, NaN, infinities, -0.0, lone surrogates, huge or deeply
nested values, the wrong type for every column — mapping never raises; each value either converts to
its column's type or becomes null, and every null made from a present value is counted for its column."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.catalog.loader import load_catalog
from avesa.transform.mapping import CompiledMapping, NulledValues, RecordUnreadable, decode_record

CATALOG = load_catalog()
MAPPINGS = sorted((service, table) for service, spec in CATALOG.services.items() for table in spec.tables
                  if CATALOG.mapping(service, table) is not None)
STAMP = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # far past int64 in both directions
    st.sampled_from([2**63, -(2**63) - 1, 2**63 - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e308, 5e-324]),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),  # lone surrogates too
    st.sampled_from(["", " ", "NaN", "Infinity", "-0", "1e999", "12", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "2025-13-45", "true", "FALSE", "[/resolved]", "9223372036854775808"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                                 max_size=3),
                      max_leaves=8)


def _top_fields(mapping: CompiledMapping) -> list[str]:
    """The first key of every path the mapping reads (`status.name` -> `status`)."""
    sources = mapping.mapping.columns.values()
    paths = [p for source in sources for p in ([source] if isinstance(source, str) else source)]
    return sorted({p.removeprefix("!").split(".")[0].split("[")[0] for p in paths})


def _record_json(record: dict) -> str:
    """As an API may send it: the standard library writes NaN, Infinity, integers of any size and lone
    surrogates (as escapes) — what a strict decoder refuses."""
    return json.dumps(record, allow_nan=True)


@pytest.mark.parametrize(("service", "table"), MAPPINGS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mapping_never_raises_and_counts_every_value_it_nulls(service: str, table: str, data: st.DataObject) -> None:
    mapping = CompiledMapping(CATALOG.mapping(service, table), CATALOG.canonical_table(
        CATALOG.mapping(service, table).canonical_table))
    fields = _top_fields(mapping)
    records = data.draw(st.lists(st.fixed_dictionaries({}, optional=dict.fromkeys(fields, values)), min_size=1,
                                 max_size=4))
    rows = [(str(i), STAMP, _record_json(r)) for i, r in enumerate(records)]
    nulled = NulledValues()
    versions = mapping.to_versions(rows, tenant_id="t", run_id="r", loaded_at=STAMP, nulled=nulled)

    assert versions.num_rows == len(records)
    assert versions.schema == mapping.schema
    for name, count in nulled.items():
        assert 0 < count <= len(records) and name in mapping.columns
    # every counted null is a null in the output, and every value written is one of the column's type
    for name in mapping.columns:
        column = versions.column(name)
        assert column.null_count >= nulled.get(name, 0)
        if pa.types.is_floating(column.type):
            assert all(v is None or math.isfinite(v) for v in column.to_pylist())
        if pa.types.is_string(column.type):
            assert all(v is None or v.encode() for v in column.to_pylist())  # valid UTF-8 text


def test_a_null_from_a_value_that_cannot_be_converted_is_counted_and_a_missing_one_is_not() -> None:
    mapping = CompiledMapping(CATALOG.mapping("connectwise", "company_companies"), CATALOG.canonical_table("companies"))
    rows = [("1", STAMP, '{"id": 1, "numberOfEmployees": 1e300}'),
            ("2", STAMP, '{"id": 2, "numberOfEmployees": "12"}'),
            ("3", STAMP, '{"id": 3}'),
            ("4", STAMP, '{"id": 4, "numberOfEmployees": 9223372036854775808}'),
            ("5", STAMP, '{"id": 5, "numberOfEmployees": "9223372036854775807"}'),
            ("6", STAMP, '{"id": 6, "numberOfEmployees": 1e400}')]
    nulled = NulledValues()
    versions = mapping.to_versions(rows, tenant_id="t", run_id="r", loaded_at=STAMP, nulled=nulled)
    assert versions.column("number_of_employees").to_pylist() == [None, 12, None, None, 2**63 - 1, None]
    assert nulled == {"number_of_employees": 3}  # the missing value (record 3) is no conversion failure


def test_a_record_no_decoder_reads_is_named() -> None:
    with pytest.raises(RecordUnreadable, match="record 7 "):
        decode_record("7", '{"id": 7, "name": ')
    with pytest.raises(RecordUnreadable, match="record 8 is not JSON"):
        decode_record("8", "[" * 100_000 + "]" * 100_000)
