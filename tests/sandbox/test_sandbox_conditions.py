"""The conditions language: parser, printer, and evaluation against an independent reference."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa_sandbox.clock import format_epoch
from avesa_sandbox.connectwise.conditions import (
    And,
    Comparison,
    ConditionError,
    Date,
    Or,
    parse,
    to_text,
)
from avesa_sandbox.connectwise.predicates import Compiler, compile_conditions
from avesa_sandbox.connectwise.schema import FieldResolver

# -- parsing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=5", Comparison(("id",), "=", 5)),
        ("id != 5", Comparison(("id",), "!=", 5)),
        ("id<5", Comparison(("id",), "<", 5)),
        ("id <= 5", Comparison(("id",), "<=", 5)),
        ("id>5", Comparison(("id",), ">", 5)),
        ("id >= -5", Comparison(("id",), ">=", -5)),
        ("annualRevenue = 1.5", Comparison(("annualRevenue",), "=", 1.5)),
        ('name contains "Acme"', Comparison(("name",), "contains", "Acme")),
        ('name not contains "Acme"', Comparison(("name",), "contains", "Acme", negated=True)),
        ('name like "Ac%"', Comparison(("name",), "like", "Ac%")),
        ('name NOT LIKE "Ac%"', Comparison(("name",), "like", "Ac%", negated=True)),
        ("id in (1, 2,3)", Comparison(("id",), "in", (1, 2, 3))),
        ('name not in ("a","b")', Comparison(("name",), "in", ("a", "b"), negated=True)),
        ("leadFlag = true", Comparison(("leadFlag",), "=", True)),
        ("leadFlag = FALSE", Comparison(("leadFlag",), "=", False)),
        ("website = null", Comparison(("website",), "=", None)),
        ("company/id=250", Comparison(("company", "id"), "=", 250)),
        ('status/name="New"', Comparison(("status", "name"), "=", "New")),
        (r'name = "say \"hi\" \\ bye"', Comparison(("name",), "=", 'say "hi" \\ bye')),
        (
            "_info/lastUpdated > [2024-01-01T00:00:00Z]",
            Comparison(("_info", "lastUpdated"), ">", Date(datetime(2024, 1, 1, tzinfo=UTC).timestamp())),
        ),
        (
            "lastUpdated >= [2024-03-05T10:20:30+02:00]",
            Comparison(("lastUpdated",), ">=", Date(datetime(2024, 3, 5, 8, 20, 30, tzinfo=UTC).timestamp())),
        ),
    ],
)
def test_parses_each_comparison(text: str, expected: Comparison) -> None:
    assert parse(text) == expected


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    a, b, c = (Comparison((name,), "=", 1) for name in "abc")
    assert parse("a=1 or b=1 and c=1") == Or((a, And((b, c))))
    assert parse("(a=1 or b=1) and c=1") == And((Or((a, b)), c))
    assert parse("a=1 AND b=1 And c=1") == And((a, b, c))
    assert parse("((a=1))") == a


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty condition"),
        ("id=", "Expected a value"),
        ("id 5", "Expected an operator"),
        ("(id=5", "Expected ')'"),
        ("id=5)", "Unexpected ')'"),
        ("status/name=New", "strings need double quotes"),
        ('name="unterminated', "Unterminated string"),
        ("lastUpdated>[2024-13-01T00:00:00Z]", "Invalid date"),
        ("lastUpdated>[2024-01-01", "Unterminated date"),
        ("id=5 and", "Expected a field name"),
        ("id not = 5", "after 'not'"),
        ("id in 5", "Expected '('"),
        ("id = 5 # 6", "Unexpected character"),
        ("id=5 name=6", "expected 'and', 'or'"),
    ],
)
def test_malformed_conditions_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        parse(text)


def test_error_positions_point_at_the_problem() -> None:
    with pytest.raises(ConditionError) as error:
        parse("id = 5 and name = Acme")
    assert error.value.position == 18


# -- round trip ----------------------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "not", "like", "contains", "in", "true", "false", "null"}
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda s: s.lower() not in _KEYWORDS)
paths = st.lists(names, min_size=1, max_size=3).map(tuple)
scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 3)),
    st.booleans(),
    st.none(),
    st.integers(min_value=0, max_value=2**31 - 1).map(lambda e: Date(float(e))),
)
comparisons = st.one_of(
    st.builds(Comparison, paths, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), scalars),
    st.builds(Comparison, paths, st.sampled_from(["contains", "like"]), st.text(max_size=8), st.booleans()),
    st.builds(Comparison, paths, st.just("in"), st.lists(scalars, min_size=1, max_size=4).map(tuple), st.booleans()),
)
trees = st.recursive(
    comparisons,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(children, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


@given(trees)
@settings(max_examples=150, deadline=None)
def test_printing_then_parsing_gives_the_same_tree(tree: Any) -> None:
    assert parse(to_text(tree)) == tree


# -- evaluation against a reference ---------------------------------------------------------------

EPOCHS = st.integers(min_value=1_700_000_000, max_value=1_800_000_000)
WORDS = st.text(alphabet="abcAB_%x ", max_size=6)


@st.composite
def company_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {"id": draw(st.integers(1, 50))}
    if draw(st.booleans()):
        record["name"] = draw(WORDS)
    if draw(st.booleans()):
        record["numberOfEmployees"] = draw(st.integers(0, 20))
    if draw(st.booleans()):
        record["annualRevenue"] = draw(st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1)))
    if draw(st.booleans()):
        record["leadFlag"] = draw(st.booleans())
    if draw(st.booleans()):
        record["status"] = {"id": draw(st.integers(1, 4)), "name": draw(WORDS)}
    record["_info"] = {"lastUpdated": format_epoch(draw(EPOCHS))}
    return record


FIELD_KINDS = {
    ("id",): "int",
    ("name",): "str",
    ("numberOfEmployees",): "int",
    ("annualRevenue",): "float",
    ("leadFlag",): "bool",
    ("status", "id"): "int",
    ("status", "name"): "str",
    ("_info", "lastUpdated"): "date",
}


def literal_for(kind: str) -> st.SearchStrategy[Any]:
    return {
        "int": st.integers(-1, 51),
        "float": st.floats(-1, 101, allow_nan=False).map(lambda x: round(x, 1)),
        "str": WORDS,
        "bool": st.booleans(),
        "date": EPOCHS.map(lambda e: Date(float(e))),
    }[kind]


@st.composite
def company_conditions(draw: st.DrawFn, depth: int = 0) -> Any:
    if depth < 2 and draw(st.integers(0, 3)) == 0:
        items = tuple(draw(company_conditions(depth + 1)) for _ in range(draw(st.integers(2, 3))))
        return And(items) if draw(st.booleans()) else Or(items)
    path = draw(st.sampled_from(sorted(FIELD_KINDS)))
    kind = FIELD_KINDS[path]
    if kind == "str" and draw(st.booleans()):
        return Comparison(path, draw(st.sampled_from(["contains", "like"])), draw(WORDS), draw(st.booleans()))
    if draw(st.integers(0, 5)) == 0:
        values = tuple(draw(st.lists(literal_for(kind), min_size=1, max_size=3)))
        return Comparison(path, "in", values, draw(st.booleans()))
    if draw(st.integers(0, 7)) == 0:
        return Comparison(path, draw(st.sampled_from(["=", "!="])), None)
    ops = ["=", "!="] if kind == "bool" else ["=", "!=", "<", "<=", ">", ">="]
    return Comparison(path, draw(st.sampled_from(ops)), draw(literal_for(kind)))


def reference(node: Any, record: dict[str, Any]) -> bool:
    """Independent statement of the documented semantics (SQL Server: case-insensitive, nulls)."""
    if isinstance(node, And):
        return all(reference(item, record) for item in node.items)
    if isinstance(node, Or):
        return any(reference(item, record) for item in node.items)
    value: Any = record
    for key in node.path:
        value = value.get(key) if isinstance(value, dict) else None
    literal = node.value
    if node.op in ("=", "!=") and literal is None:
        return (value is None) == (node.op == "=")
    if value is None:
        return False
    if node.op == "contains":
        found = literal.lower() in value.lower()
        return not found if node.negated else found
    if node.op == "like":
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in literal)
        found = re.fullmatch(pattern, value, re.IGNORECASE | re.DOTALL) is not None
        return not found if node.negated else found
    if node.op == "in":
        found = any(lit is not None and compare(value, lit) == 0 for lit in literal)
        return not found if node.negated else found
    result = compare(value, literal)
    if result is None:
        return False
    return {
        "=": result == 0,
        "!=": result != 0,
        "<": result < 0,
        "<=": result <= 0,
        ">": result > 0,
        ">=": result >= 0,
    }[node.op]


def compare(value: Any, literal: Any) -> int | None:
    if isinstance(literal, Date):
        seconds = datetime.fromisoformat(value).timestamp()
        return (seconds > literal.epoch) - (seconds < literal.epoch)
    if isinstance(literal, bool) or isinstance(value, bool):
        if not (isinstance(literal, bool) and isinstance(value, bool)):
            return None
        return int(value) - int(literal)
    if isinstance(literal, str):
        if not isinstance(value, str):
            return None
        a, b = value.casefold(), literal.casefold()
        return (a > b) - (a < b)
    if isinstance(value, str):
        return None
    return (value > literal) - (value < literal)


RESOLVER = FieldResolver("Company")


@given(company_conditions(), st.lists(company_records(), min_size=1, max_size=8))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_predicate_agrees_with_reference(tree: Any, records: list[dict[str, Any]]) -> None:
    predicate = Compiler(RESOLVER).predicate(tree)
    for record in records:
        assert predicate(record) == reference(tree, record), (to_text(tree), record)


@given(company_conditions(), st.lists(company_records(), min_size=1, max_size=8))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bounds_never_exclude_a_match(tree: Any, records: list[dict[str, Any]]) -> None:
    compiled = compile_conditions(tree, RESOLVER)
    b = compiled.bounds
    for record in records:
        if not reference(tree, record):
            continue
        updated = datetime.fromisoformat(record["_info"]["lastUpdated"]).timestamp()
        assert b.id_low is None or record["id"] >= b.id_low
        assert b.id_high is None or record["id"] <= b.id_high
        assert b.updated_low is None or updated >= b.updated_low
        assert b.updated_high is None or updated <= b.updated_high
        assert compiled.residual is None or compiled.residual(record)


def test_exact_range_terms_leave_no_residual() -> None:
    compiled = compile_conditions(
        parse("id > 10 and _info/lastUpdated >= [2024-01-01T00:00:00Z] and lastUpdated < [2024-02-01T00:00:00Z]"),
        RESOLVER,
    )
    assert compiled.residual is None
    assert compiled.bounds.id_low == 11
    assert compiled.bounds.updated_low == 1704067200
    assert compiled.bounds.updated_high == 1706745600 - 1


def test_fractional_dates_bound_conservatively() -> None:
    bounds = compile_conditions(parse("lastUpdated > [2024-01-01T00:00:00.5Z]"), RESOLVER).bounds
    assert bounds.updated_low == 1704067201
    assert math.isclose(Date(1704067200.5).epoch, 1704067200.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuchfield = 1", "Unknown field 'nosuchfield'"),
        ("status/nosuch = 1", "no field 'nosuch' of 'status'"),
        ("status = 1", "is an object"),
        ('customFields/caption = "x"', "childConditions"),
        ("name < null", "null can only be compared"),
        ("name like 5.5 or id like true", "needs a string"),
    ],
)
def test_conditions_that_cannot_apply_to_the_table_fail(text: str, message: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(message)):
        compile_conditions(parse(text), RESOLVER)


def test_field_names_are_case_insensitive_and_lastupdated_is_an_alias() -> None:
    predicate = Compiler(RESOLVER).predicate(parse('NAME = "acme" and LastUpdated = [2024-01-01T00:00:00Z]'))
    assert predicate({"name": "ACME", "_info": {"lastUpdated": "2024-01-01T00:00:00Z"}})
    assert not predicate({"name": "ACME", "_info": {"lastUpdated": "2024-01-01T00:00:01Z"}})
