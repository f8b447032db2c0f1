"""OData ``$filter`` as Graph's directory understands it: a parser and a compiler to record predicates.

Supported: ``eq ne gt ge lt le``, ``in (...)``, ``startswith``/``endswith``/``contains``, ``and``/
``or``/``not``, parentheses, lambda ``any``/``all`` over collections (``groupTypes/any(c:c eq
'Unified')``, ``assignedLicenses/any(x:x/skuId eq 6fd2...)``) and literals: quoted strings (``''``
escapes a quote), numbers, ``true``/``false``/``null``, GUIDs and date-times unquoted. String
comparisons ignore case, as the directory's do.

Directory objects answer ``ne``, ``not`` and ``endsWith`` only as "advanced queries" (header
``ConsistencyLevel: eventual`` plus ``$count=true``); without them the request is refused with
Graph's ``Request_UnsupportedQuery`` message. ``contains`` is not supported on directory objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from avesa_sandbox.lexing import scan
from avesa_sandbox.microsoft365.schema import PropertyInfo, data_properties, flat_properties, property_info

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>'(?:[^']|'')*')
      | (?P<name>[A-Za-z_@$][A-Za-z0-9_./@$]*)
      | (?P<punct>[(),:])
    )""",
    re.VERBOSE,
)

_COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_FUNCTIONS = ("startswith", "endswith", "contains")


class FilterError(ValueError):
    """A malformed or unsupported filter; ``code`` is Graph's error code for it."""

    def __init__(self, message: str, code: str = "Request_BadRequest") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    text = text.rstrip()

    def refuse(position: int) -> FilterError:
        return FilterError(f"Invalid filter clause: syntax error at position {position} in '{text}'.")

    # the expression takes the whitespace before each token with it: nothing to skip
    return [Token(lexeme.kind, lexeme.text) for lexeme in scan(text, _TOKEN, refuse, skip=frozenset())]


@dataclass
class Compiled:
    """A compiled filter: the predicate, whether it needs advanced query parameters, and the ids it
    pins down when it is nothing but ``id eq`` clauses joined by ``or`` (what delta accepts)."""

    predicate: Predicate
    advanced: bool = False
    only_ids: list[str] | None = None
    used: set[str] = field(default_factory=set)


@dataclass
class _Scope:
    """What names mean where an operand is read: record properties, or a lambda variable."""

    schema: str
    variable: str | None = None
    element: PropertyInfo | None = None


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _parse_datetime(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class _Parser:
    def __init__(self, text: str, schema: str, type_name: str, not_in_list: tuple[str, ...]) -> None:
        self.tokens = tokenize(text)
        self.position = 0
        self.schema = schema
        self.type_name = type_name
        self.not_in_list = not_in_list
        self.advanced = False
        self.used: set[str] = set()
        self.id_terms: list[str] | None = []

    # -- token stream -------------------------------------------------------------------------------

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise FilterError("Invalid filter clause: unexpected end of expression.")
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.next()
        if token.text.lower() != text:
            raise FilterError(f"Invalid filter clause: expected '{text}' but found '{token.text}'.")

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "name" and token.text.lower() in words

    # -- grammar ------------------------------------------------------------------------------------

    def parse(self) -> Compiled:
        predicate = self.expression(_Scope(self.schema))
        if self.peek() is not None:
            raise FilterError(f"Invalid filter clause: unexpected '{self.peek().text}'.")  # type: ignore[union-attr]
        return Compiled(predicate, self.advanced, self.id_terms or None, self.used)

    def expression(self, scope: _Scope) -> Predicate:
        parts = [self.conjunction(scope)]
        while self.at_word("or"):
            self.next()
            parts.append(self.conjunction(scope))
        if len(parts) == 1:
            return parts[0]
        return lambda record: any(part(record) for part in parts)

    def conjunction(self, scope: _Scope) -> Predicate:
        parts = [self.negation(scope)]
        while self.at_word("and"):
            self.next()
            self.id_terms = None
            parts.append(self.negation(scope))
        if len(parts) == 1:
            return parts[0]
        return lambda record: all(part(record) for part in parts)

    def negation(self, scope: _Scope) -> Predicate:
        if self.at_word("not"):
            self.next()
            self.advanced = True
            self.id_terms = None
            inner = self.negation(scope)
            return lambda record: not inner(record)
        return self.atom(scope)

    def atom(self, scope: _Scope) -> Predicate:
        token = self.peek()
        if token is None:
            raise FilterError("Invalid filter clause: unexpected end of expression.")
        if token.text == "(":
            self.next()
            inner = self.expression(scope)
            self.expect(")")
            return inner
        if token.kind != "name":
            raise FilterError(f"Invalid filter clause: expected a property but found '{token.text}'.")
        if token.text.lower() in _FUNCTIONS:
            return self.function(scope)
        self.next()
        lowered = token.text.lower()
        if lowered.endswith(("/any", "/all")) and self.peek() is not None and self.peek().text == "(":  # type: ignore[union-attr]
            return self.lambda_(scope, token.text[:-4], lowered[-3:])
        getter, info = self.operand(scope, token.text)
        operator = self.next()
        op = operator.text.lower()
        if op == "in":
            self.id_terms = None
            self.expect("(")
            values = [self.literal(info)]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                values.append(self.literal(info))
            self.expect(")")
            folded = {_casefold(value) for value in values}
            return lambda record: _casefold(getter(record)) in folded
        if op not in _COMPARISONS:
            raise FilterError(f"Invalid filter clause: unknown operator '{operator.text}'.")
        literal_token = self.peek()
        value = self.literal(info)
        if op == "ne":
            self.advanced = True
        if not (op == "eq" and scope.variable is None and info.name == "id" and isinstance(value, str)):
            self.id_terms = None
        elif self.id_terms is not None and literal_token is not None:
            self.id_terms.append(value.lower())
        return _comparison(getter, op, value, info)

    def function(self, scope: _Scope) -> Predicate:
        name = self.next().text.lower()
        self.id_terms = None
        self.expect("(")
        token = self.next()
        if token.kind != "name":
            raise FilterError(f"Invalid filter clause: {name} needs a property as its first argument.")
        getter, info = self.operand(scope, token.text)
        self.expect(",")
        value = self.literal(info)
        self.expect(")")
        if not isinstance(value, str):
            raise FilterError(f"Invalid filter clause: {name} needs a string argument.")
        needle = value.casefold()
        if name == "endswith":
            self.advanced = True
            return lambda record: isinstance(v := getter(record), str) and v.casefold().endswith(needle)
        if name == "contains":
            if self.schema != "microsoft.graph.managedDevice":
                raise FilterError("Unsupported Query.", "Request_UnsupportedQuery")
            return lambda record: isinstance(v := getter(record), str) and needle in v.casefold()
        return lambda record: isinstance(v := getter(record), str) and v.casefold().startswith(needle)

    def lambda_(self, scope: _Scope, path: str, kind: str) -> Predicate:
        self.id_terms = None
        collection, info = self.property(scope, path)
        if info.kind not in ("collection", "complex_collection"):
            raise FilterError(f"Invalid filter clause: '{path}' is not a collection.")
        self.expect("(")
        variable = self.next()
        if variable.kind != "name":
            raise FilterError("Invalid filter clause: a lambda needs a variable name.")
        self.expect(":")
        inner = self.expression(_Scope(scope.schema, variable.text, info))
        self.expect(")")
        if kind == "all":
            return lambda record: all(inner(item) for item in (collection(record) or ()))
        return lambda record: any(inner(item) for item in (collection(record) or ()))

    # -- operands -----------------------------------------------------------------------------------

    def operand(self, scope: _Scope, path: str) -> tuple[Callable[[Any], Any], PropertyInfo]:
        getter, info = self.property(scope, path)
        if info.kind != "scalar":
            raise FilterError(
                f"Unsupported or invalid query filter clause specified for property '{info.name}' of resource "
                f"'{self.type_name.rsplit('.', 1)[-1]}'.",
                "Request_UnsupportedQuery",
            )
        return getter, info

    def property(self, scope: _Scope, path: str) -> tuple[Callable[[Any], Any], PropertyInfo]:
        segments = path.split("/")
        if scope.variable is not None and segments[0] == scope.variable:
            element = scope.element
            assert element is not None
            if len(segments) == 1:
                if element.kind != "collection":
                    raise FilterError(f"Invalid filter clause: '{path}' is an object; name one of its properties.")
                return (lambda item: item), PropertyInfo(element.name, "scalar", element.scalar_type, None)
            if element.kind != "complex_collection" or element.element is None or len(segments) != 2:
                raise FilterError(f"Invalid filter clause: '{path}' is not a property of '{element.name}'.")
            return self._member(element.element, segments[1], path)
        if len(segments) != 1:
            raise FilterError(f"Invalid filter clause: '{path}' is not supported.", "Request_UnsupportedQuery")
        return self._member(self.schema, segments[0], path)

    def _member(self, schema: str, name: str, path: str) -> tuple[Callable[[Any], Any], PropertyInfo]:
        props = data_properties(schema) if schema == self.schema else _complex_properties(schema)
        canonical = next((p for p in props if p.lower() == name.lower()), None)
        if canonical is None:
            raise FilterError(f"Could not find a property named '{name}' on type '{self.type_name}'.")
        if schema == self.schema:
            if canonical in self.not_in_list:
                raise FilterError(
                    f"Unsupported or invalid query filter clause specified for property '{canonical}' of resource "
                    f"'{self.type_name.rsplit('.', 1)[-1]}'.",
                    "Request_UnsupportedQuery",
                )
            self.used.add(canonical)
        return (lambda item: item.get(canonical) if isinstance(item, dict) else None), props[canonical]

    def literal(self, info: PropertyInfo) -> Any:
        token = self.next()
        kind, text = token.kind, token.text
        if kind == "string":
            value: Any = text[1:-1].replace("''", "'")
        elif kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind == "guid":
            value = text.lower()
        elif kind == "datetime":
            value = text
        elif kind == "name" and text.lower() in ("true", "false"):
            value = text.lower() == "true"
        elif kind == "name" and text.lower() == "null":
            return None
        else:
            raise FilterError(f"Invalid filter clause: expected a value but found '{text}'.")
        expected = info.scalar_type
        compatible = {
            "boolean": isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "date-time": kind == "datetime",
            "date": kind in ("datetime", "string"),
            "uuid": kind in ("guid", "string"),
        }.get(expected or "", kind in ("string", "guid"))
        if not compatible:
            raise FilterError(
                f"A binary operator with incompatible types was detected. Found operand types for property "
                f"'{info.name}' ({expected}) and literal '{text}'."
            )
        return value


def _complex_properties(schema: str) -> dict[str, PropertyInfo]:
    return {
        name: property_info(schema, name, node)
        for name, node in flat_properties(schema).items()
        if name != "@odata.type"
    }


def _comparison(getter: Callable[[Any], Any], op: str, value: Any, info: PropertyInfo) -> Predicate:
    if info.scalar_type == "date-time" and value is not None:
        threshold = _parse_datetime(value)

        def read(record: Any) -> Any:
            raw = getter(record)
            return _parse_datetime(raw) if isinstance(raw, str) else None

        target: Any = threshold
    else:
        read = lambda record: _casefold(getter(record))  # noqa: E731
        target = _casefold(value)
    if op == "eq":
        return lambda record: read(record) == target
    if op == "ne":
        return lambda record: read(record) != target
    compare: Callable[[Any, Any], bool] = {
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
    }[op]

    def ordered(record: Any) -> bool:
        current = read(record)
        if current is None or target is None or isinstance(current, str) != isinstance(target, str):
            return False
        try:
            return compare(current, target)
        except TypeError:
            return False

    return ordered


def compile_filter(text: str, schema: str, type_name: str, not_in_list: tuple[str, ...] = ()) -> Compiled:
    """Parse and compile a ``$filter`` for records of ``schema``; FilterError if Graph would refuse it."""
    if not text.strip():
        raise FilterError("Invalid filter clause: the filter is empty.")
    return _Parser(text, schema, type_name, not_in_list).parse()
