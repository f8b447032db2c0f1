"""Give a parsed condition meaning: compile it to a record predicate plus index bounds.

Semantics follow the SQL Server behind ConnectWise:

- string comparisons (``=``, ``<``, ``like``, ``contains``, ``in``) ignore case;
- a missing or null field matches only ``= null`` (and ``!= null`` matches only present values):
  every other comparison with a null field, negated ones included, is false;
- ``like`` has the SQL wildcards ``%`` (any run) and ``_`` (one character);
- ``[date]`` literals compare with timestamp strings by time, not text;
- a value of another type than the field's (``name = 5``) matches nothing, except a quoted number
  against a numeric field (``id = "5"``), which SQL converts.

Besides the predicate, compilation extracts conservative bounds on ``id`` and
``_info/lastUpdated`` so that the executor can start from an index range instead of scanning the
table; top-level ``and`` terms that the bounds capture exactly are dropped from the predicate.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avesa_sandbox.clock import format_epoch, parse_timestamp
from avesa_sandbox.connectwise.conditions import And, Comparison, ConditionError, Date, Node, Scalar
from avesa_sandbox.connectwise.schema import FieldResolver

Predicate = Callable[[dict[str, Any]], bool]
ValueTest = Callable[[Any], bool]

ID_PATH = ("id",)
UPDATED_PATH = ("_info", "lastUpdated")


# -- bounds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """Inclusive integer bounds on id and on lastUpdated (epoch seconds); None means unbounded."""

    id_low: int | None = None
    id_high: int | None = None
    updated_low: int | None = None
    updated_high: int | None = None

    @property
    def empty(self) -> bool:
        """True if no record can satisfy the bounds."""
        return _empty(self.id_low, self.id_high) or _empty(self.updated_low, self.updated_high)

    def intersect(self, other: Bounds) -> Bounds:
        return Bounds(
            _max(self.id_low, other.id_low),
            _min(self.id_high, other.id_high),
            _max(self.updated_low, other.updated_low),
            _min(self.updated_high, other.updated_high),
        )

    def hull(self, other: Bounds) -> Bounds:
        if self.empty:
            return other
        if other.empty:
            return self
        return Bounds(
            _lower_hull(self.id_low, other.id_low),
            _upper_hull(self.id_high, other.id_high),
            _lower_hull(self.updated_low, other.updated_low),
            _upper_hull(self.updated_high, other.updated_high),
        )


def _empty(low: int | None, high: int | None) -> bool:
    return low is not None and high is not None and low > high


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _lower_hull(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else min(a, b)


def _upper_hull(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def _interval(op: str, x: float) -> tuple[int | None, int | None]:
    """Integer interval of values v with ``v op x``."""
    if op == "=":
        return math.ceil(x), math.floor(x)
    if op == ">":
        return math.floor(x) + 1, None
    if op == ">=":
        return math.ceil(x), None
    if op == "<":
        return None, math.ceil(x) - 1
    return None, math.floor(x)  # "<="


def _leaf_bounds(node: Comparison, path: tuple[str, ...]) -> tuple[Bounds, bool]:
    """Bounds a single comparison implies, and whether they capture it exactly."""
    value = node.value
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if path == ID_PATH and node.op in ("=", "<", "<=", ">", ">=") and numeric:
        low, high = _interval(node.op, value)  # type: ignore[arg-type]
        return Bounds(id_low=low, id_high=high), True
    if path == ID_PATH and node.op == "in" and not node.negated and isinstance(value, tuple):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(value):
            return Bounds(id_low=math.ceil(min(numbers)), id_high=math.floor(max(numbers))), len(numbers) == 1
    if path == UPDATED_PATH and node.op in ("=", "<", "<=", ">", ">=") and isinstance(value, Date):
        low, high = _interval(node.op, value.epoch)
        return Bounds(updated_low=low, updated_high=high), True
    return Bounds(), False


# -- value tests -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _epoch(text: str) -> float | None:
    try:
        return parse_timestamp(text)
    except ValueError:
        return None


def _three_way(value: Any, literal: Scalar) -> int | None:
    """Compare a field value with a literal: -1/0/1, or None when they are not comparable."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(literal, Date):
        if not isinstance(value, str):
            return None
        epoch = _epoch(value)
        if epoch is None:
            return None
        return (epoch > literal.epoch) - (epoch < literal.epoch)
    if isinstance(literal, bool):
        if not isinstance(value, bool):
            return None
        return (value > literal) - (value < literal)
    if isinstance(literal, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return (value > literal) - (value < literal)
    if isinstance(literal, str):
        if isinstance(value, str):
            a, b = value.casefold(), literal.casefold()
            return (a > b) - (a < b)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                number = float(literal)
            except ValueError:
                return None
            return (value > number) - (value < number)
    return None


_ORDER_TESTS: dict[str, Callable[[int], bool]] = {
    "=": lambda c: c == 0,
    "!=": lambda c: c != 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def _comparison_test(op: str, literal: Scalar) -> ValueTest:
    if literal is None:
        if op == "=":
            return lambda v: v is None
        if op == "!=":
            return lambda v: v is not None
        raise ConditionError(f"null can only be compared with = or !=, not {op}")
    if isinstance(literal, Date) and literal.epoch == math.floor(literal.epoch):
        return _date_test(op, literal)
    test = _ORDER_TESTS[op]

    def compare(value: Any) -> bool:
        result = _three_way(value, literal)
        return result is not None and test(result)

    return compare


def _date_test(op: str, literal: Date) -> ValueTest:
    """Fast path: canonical ``YYYY-MM-DDTHH:MM:SSZ`` strings compare as text."""
    canonical = format_epoch(int(literal.epoch))
    test = _ORDER_TESTS[op]

    def compare(value: Any) -> bool:
        if isinstance(value, str) and len(value) == 20 and value[10] == "T" and value[19] == "Z":
            return test((value > canonical) - (value < canonical))
        result = _three_way(value, literal)
        return result is not None and test(result)

    return compare


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE pattern (``%``, ``_``) as an anchored, case-insensitive regex."""
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _text_literal(node: Comparison) -> str:
    value = node.value
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConditionError(f"'{node.op}' needs a string value, got {value!r} for '{'/'.join(node.path)}'")


def value_test(node: Comparison) -> ValueTest:
    """A function deciding whether one field value satisfies ``node`` (path already resolved)."""
    op, negated = node.op, node.negated
    if op in ("contains", "like"):
        text = _text_literal(node)
        if op == "contains":
            needle = text.casefold()

            def matches(value: str) -> bool:
                return needle in value.casefold()
        else:
            matches = like_regex(text).fullmatch  # type: ignore[assignment]

        def test_text(value: Any) -> bool:
            as_text = _text_of(value)
            if as_text is None:
                return False
            return (not matches(as_text)) if negated else bool(matches(as_text))

        return test_text
    if op == "in":
        literals = node.value if isinstance(node.value, tuple) else (node.value,)
        null_listed = any(lit is None for lit in literals)
        concrete = [lit for lit in literals if lit is not None]

        def test_in(value: Any) -> bool:
            if value is None:
                return null_listed and not negated
            found = any(_three_way(value, lit) == 0 for lit in concrete)
            if negated:
                return not found and not isinstance(value, dict | list)
            return found

        return test_in
    return _comparison_test(op, node.value)  # type: ignore[arg-type]


# -- compilation -----------------------------------------------------------------------------------


def _getter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    if len(path) == 1:
        key = path[0]
        return lambda record: record.get(key)
    if len(path) == 2:
        outer, inner = path

        def get_nested(record: dict[str, Any]) -> Any:
            value = record.get(outer)
            return value.get(inner) if isinstance(value, dict) else None

        return get_nested

    def get_deep(record: dict[str, Any]) -> Any:
        value: Any = record
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get_deep


def _collection_values(record: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    values: list[Any] = [record]
    for key in path:
        following: list[Any] = []
        for value in values:
            if isinstance(value, dict):
                item = value.get(key)
                if isinstance(item, list):
                    following.extend(item)
                else:
                    following.append(item)
        values = following
    return values


class Compiler:
    """Compiles condition trees against one schema.

    ``collections`` allows paths through arrays (``childConditions``): such a comparison is true
    if any element satisfies it. Plain ``conditions`` reject them, as ConnectWise does.
    """

    def __init__(self, resolver: FieldResolver, *, collections: bool = False, parameter: str = "conditions"):
        self.resolver = resolver
        self.collections = collections
        self.parameter = parameter

    def resolve(self, node: Comparison) -> tuple[str, ...]:
        resolved = self.resolver.resolve(node.path)
        if resolved.is_object:
            raise ConditionError(
                f"Field '{resolved.text}' is an object; compare one of its fields, e.g. '{resolved.text}/id'"
            )
        if resolved.collection and not self.collections:
            raise ConditionError(f"Field '{resolved.text}' is inside a collection; filter it with childConditions")
        return resolved.path

    def predicate(self, node: Node) -> Predicate:
        """A function record -> bool for the whole tree."""
        if isinstance(node, Comparison):
            path = self.resolve(node)
            test = value_test(node)
            if self.collections and self.resolver.resolve(node.path).collection:
                return lambda record: any(test(v) for v in _collection_values(record, path))
            get = _getter(path)
            return lambda record: test(get(record))
        parts = [self.predicate(item) for item in node.items]
        if isinstance(node, And):
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)

    def bounds(self, node: Node) -> tuple[Bounds, bool]:
        """Conservative index bounds of the tree, and whether they capture it exactly."""
        if isinstance(node, Comparison):
            return _leaf_bounds(node, self.resolve(node))
        results = [self.bounds(item) for item in node.items]
        if isinstance(node, And):
            bounds = Bounds()
            for item_bounds, _ in results:
                bounds = bounds.intersect(item_bounds)
            return bounds, all(exact for _, exact in results)
        hull = results[0][0]
        for item_bounds, _ in results[1:]:
            hull = hull.hull(item_bounds)
        return hull, False


@dataclass(frozen=True)
class CompiledConditions:
    """What the executor needs: index bounds, and a predicate for whatever they do not capture."""

    bounds: Bounds
    residual: Predicate | None


def compile_conditions(node: Node | None, resolver: FieldResolver) -> CompiledConditions:
    """Compile a ``conditions`` tree (None: no conditions) into bounds + residual predicate."""
    if node is None:
        return CompiledConditions(Bounds(), None)
    compiler = Compiler(resolver)
    items = node.items if isinstance(node, And) else (node,)
    bounds = Bounds()
    leftover: list[Node] = []
    for item in items:
        item_bounds, exact = compiler.bounds(item)
        bounds = bounds.intersect(item_bounds)
        if not exact:
            leftover.append(item)
    if not leftover:
        return CompiledConditions(bounds, None)
    residual = compiler.predicate(leftover[0] if len(leftover) == 1 else And(tuple(leftover)))
    return CompiledConditions(bounds, residual)
