"""The DuckDB half of the columnar mapping: one query that parses each raw record once and
converts every value a mapping's paths point at, for the Arrow half to pick from.

The query extracts every path in one `json_extract` (one parse per record), then works on the
list of extracted values with lambdas: per slot, the value's kind and its text (`e`); for the slots
that feed a number or a flag, the value as an integer, a double and a flag (`n`); for the slots
that feed a timestamp, the parsed timestamp and whether the text has the form SQL parses as
Python does (`ts`). A `[k=v]` match is a slot of its own: the picked item's value, and whether the
pick is certain (`certain`: every object's wanted fields hold a flag, an integer, null or ASCII
text, which SQL compares as Python's `str(...).lower()` does).

The work is written once per list as a lambda, not once per path: DuckDB plans every expression
of a query each time it runs it (about half a millisecond for a CASE), so a query with an
expression per path and column cost more to plan than to run on a raw file.

The conversions here are only those SQL does exactly as `avesa.transform.values` does; the kinds
tell the Arrow half which values are of another shape, to be left to the row function.
Paths a JSON path cannot express unambiguously — a key holding a quote or a backslash, two
matches in one path — raise `Unsupported` and the mapping runs record by record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from avesa.transform import values
from avesa.transform.duckdb_session import literal as _literal

ABSENT, STRING, EMPTY_STRING, FLAG, CONTAINER, INTEGER, LONG_INTEGER, PLAIN_NUMBER, ODD_NUMBER = range(9)
"""A slot's kind (`e.k`): absent or JSON's null; a string; ""; true or false; an object or a list;
an integer of up to 18 digits (exact as int64 and as Python's int); a longer one; any other number
of JSON's plain form with an exponent of at most two digits (a double holds it); any other number
(`1e400`, and NaN or Infinity, which DuckDB's parser also reads)."""
NOT_TEXT, INTEGER_TEXT, LONG_INTEGER_TEXT, DECIMAL_TEXT, ASCII_TEXT, OTHER_TEXT = range(6)
"""A string's form (`e.tk`): no string; `-?digits` of up to 18 digits; longer; `-?digits.digits`;
other ASCII text; text with non-ASCII characters (which Python's strip and lower treat otherwise)."""

TIMESTAMP_TEXT = (r"(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                  r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?")
"""The timestamp texts DuckDB parses exactly as Python's fromisoformat (years 1900–2199, no
surrounding space); others go to the row function."""

_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what Python's str.strip() removes from ASCII text
_SHORT_INTEGER = r"-?[0-9]{1,18}"
_WHOLE = r"-?[0-9]+"
_PLAIN_NUMBER = r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]{1,2})?"
_PLAIN_DECIMAL = r"-?[0-9]+\.[0-9]+"


class Unsupported(ValueError):
    """A path the query cannot express; the mapping runs record by record."""


@dataclass
class Slots:
    """What the query reads, in slot order: JSON paths, then `[k=v]` matches (a slot each);
    `numbers` and `timestamps` are the slots whose values feed a number or flag, and a timestamp."""

    paths: list[str] = field(default_factory=list)
    matches: list[tuple[str, str, list[tuple[str, str, str]]]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)

    def path_slot(self, path: str) -> int:
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path)

    def slot(self, path: str) -> int:
        """The slot of one source path (negation aside); a match's is negative until every path is
        known (`index`)."""
        steps = values.STEP.findall(path)
        at = [i for i, (_, _, match) in enumerate(steps) if match]
        if not at:
            return self.path_slot(json_path(steps))
        if len(at) > 1:
            raise Unsupported(f"path {path!r}: more than one [k=v] match")
        entry = (json_path(steps[: at[0]]), steps[at[0]][2], steps[at[0] + 1:])
        self.path_slot(entry[0])  # the list the match picks from is extracted like any path
        if entry not in self.matches:
            self.matches.append(entry)
        return -1 - self.matches.index(entry)

    def index(self, slot: int) -> int:
        return slot if slot >= 0 else len(self.paths) + (-1 - slot)

    def need(self, kind: str, slot: int, negated: bool) -> None:
        """Note what the column reading `slot` needs computed of it."""
        wanted = self.numbers if negated or kind in ("int64", "float64", "bool") else (
            self.timestamps if kind == "timestamp" else None)
        if wanted is not None and slot not in wanted:
            wanted.append(slot)


def json_path(steps: list[tuple[str, str, str]]) -> str:
    path = "$"
    for name, index, _ in steps:
        if name:
            if '"' in name or "\\" in name:
                raise Unsupported(f"key {name!r}: a JSON path cannot quote it unambiguously")
            path += f'."{name}"'
        else:
            path += f"[{int(index)}]"
    return path


def _ascii(text: str) -> str:
    return f"(strlen({text}) = length({text}))"


def _match(prefix_slot: str, spec: str, rest: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(picked value as JSON, certain) of `[k=v,...]` over the JSON value in `prefix_slot`."""
    wanted = [(k.strip(), val.strip().lower()) for k, val in (part.split("=", 1) for part in spec.split(","))]
    equal, plain = [], []
    for key, text in wanted:
        name = _literal(json_path([(key, "", "")]))
        equal.append(f"lower(coalesce(json_extract_string(e, {name}), 'none')) = {_literal(text)}")
        plain.append(f"(coalesce(json_type(e, {name}) IN ('NULL', 'BOOLEAN', 'BIGINT', 'UBIGINT'), TRUE) OR "
                     f"(json_type(e, {name}) = 'VARCHAR' AND {_ascii(f'json_extract_string(e, {name})')}))")
    items = f"json_extract({prefix_slot}, '$[*]')"
    picked = f"list_filter({items}, lambda e: json_type(e) = 'OBJECT' AND {' AND '.join(equal)})[1]"
    if rest:
        picked = f"json_extract({picked}, {_literal(json_path(rest))})"
    certain = (f"NOT coalesce(list_bool_or(list_transform({items}, lambda e: json_type(e) = 'OBJECT' AND NOT "
               f"({' AND '.join(plain)}))), FALSE)")
    return picked, certain


def _kind(t: str) -> str:
    """The kind of a compact JSON text, from its first character but for a number, where a regex
    runs only on one with an exponent (JSON's grammar makes the rest plain)."""
    return (f"CASE WHEN {t} IS NULL OR {t} = 'null' THEN {ABSENT} WHEN {t} = '\"\"' THEN {EMPTY_STRING} "
            f"WHEN left({t}, 1) = '\"' THEN {STRING} WHEN {t} = 'true' OR {t} = 'false' THEN {FLAG} "
            f"WHEN left({t}, 1) IN ('{{', '[') THEN {CONTAINER} "
            f"WHEN contains({t}, 'N') OR contains({t}, 'I') THEN {ODD_NUMBER} "
            f"WHEN contains({t}, 'e') OR contains({t}, 'E') THEN (CASE WHEN regexp_full_match({t}, "
            f"{_literal(_PLAIN_NUMBER)}) THEN {PLAIN_NUMBER} ELSE {ODD_NUMBER} END) "
            f"WHEN contains({t}, '.') THEN {PLAIN_NUMBER} "
            f"WHEN strlen({t}) - CASE WHEN left({t}, 1) = '-' THEN 1 ELSE 0 END <= 18 THEN {INTEGER} "
            f"ELSE {LONG_INTEGER} END")


def _text(t: str) -> str:
    """A string's text (unquoted without a parse when it holds no escape); an integer's or a flag's
    JSON text, which is what a text column holds of them; NULL for anything else and for ""."""
    return (f"CASE WHEN left({t}, 1) = '\"' THEN nullif(CASE WHEN contains({t}, '\\') THEN "
            f"json_extract_string({t}, '$') ELSE substring({t}, 2, length({t}) - 2) END, '') "
            f"WHEN {t} = 'true' OR {t} = 'false' OR (NOT contains({t}, '.') AND NOT contains({t}, 'e') "
            f"AND NOT contains({t}, 'E') AND NOT contains({t}, 'N') AND NOT contains({t}, 'I') "
            f"AND left({t}, 1) NOT IN ('{{', '[', 'n')) THEN {t} END")  # n: JSON's null


def _text_kind(k: str, x: str) -> str:
    """A string's form; number forms are looked for only in text that begins as one."""
    return (f"CASE WHEN {k} <> {STRING} THEN {NOT_TEXT} WHEN NOT {_ascii(x)} THEN {OTHER_TEXT} "
            f"WHEN NOT (left({x}, 1) BETWEEN '0' AND '9' OR left({x}, 1) = '-') THEN {ASCII_TEXT} "
            f"WHEN regexp_full_match({x}, {_literal(_SHORT_INTEGER)}) THEN {INTEGER_TEXT} "
            f"WHEN regexp_full_match({x}, {_literal(_WHOLE)}) THEN {LONG_INTEGER_TEXT} "
            f"WHEN regexp_full_match({x}, {_literal(_PLAIN_DECIMAL)}) THEN {DECIMAL_TEXT} ELSE {ASCII_TEXT} END")


def _double(e: str) -> str:
    """`to_float`'s value where exact in SQL: a plain JSON number, number text, a flag; NULL for
    anything else and where not finite (a long integer past the double range)."""
    number_kinds = f"({INTEGER}, {LONG_INTEGER}, {PLAIN_NUMBER})"
    number_texts = f"({INTEGER_TEXT}, {LONG_INTEGER_TEXT}, {DECIMAL_TEXT})"
    return (f"CASE WHEN {e}.k IN {number_kinds} THEN TRY_CAST({e}.j AS DOUBLE) "
            f"WHEN {e}.k = {FLAG} THEN ({e}.j = 'true')::DOUBLE "
            f"WHEN {e}.k = {STRING} AND {e}.tk IN {number_texts} THEN TRY_CAST({e}.s AS DOUBLE) END")


def _numbers(e: str) -> str:
    """{i: to_int's value, d: to_float's, f: to_bool's} of a slot, each where SQL gives Python's."""
    d = f"{e}.d"
    integer = (f"CASE WHEN {e}.k = {INTEGER} THEN TRY_CAST({e}.j AS BIGINT) "
               f"WHEN {e}.k = {STRING} AND {e}.tk = {INTEGER_TEXT} THEN TRY_CAST({e}.s AS BIGINT) "
               f"WHEN {d} >= -9223372036854775808.0 AND {d} < 9223372036854775808.0 THEN trunc({d})::BIGINT END")
    core = f"lower(trim({e}.s, {_literal(_ASCII_SPACE)}))"
    flag = (f"CASE WHEN {e}.k = {FLAG} THEN {e}.j = 'true' "
            f"WHEN {e}.k IN ({INTEGER}, {LONG_INTEGER}, {PLAIN_NUMBER}) THEN {d} <> 0 "
            f"WHEN {e}.k = {STRING} AND {e}.tk <> {OTHER_TEXT} THEN (CASE {core} WHEN 'true' THEN TRUE "
            f"WHEN '1' THEN TRUE WHEN 'false' THEN FALSE WHEN '0' THEN FALSE END) END")
    return f"{{'i': {integer}, 'd': CASE WHEN isfinite({d}) THEN {d} END, 'f': {flag}}}"


def _selected(slots: list[int], index: Slots) -> str:
    return f"[{', '.join(str(index.index(s) + 1) for s in slots)}]"


def extraction_query(slots: Slots) -> str:
    """The query over a registered table `raw` (a `record` column): per record the lists `e`
    ({k, tk, s} per slot), `n` ({i, d, f} per number slot), `ts` ({t, m} per timestamp slot: the
    value where valid, and whether the text has TIMESTAMP_TEXT's form) and `certain` (per match)."""
    extracted = f"json_extract(record, [{', '.join(_literal(p) for p in slots.paths)}])" if slots.paths else "[]"
    picks = [_match(f"v[{slots.path_slot(prefix) + 1}]", spec, rest) for prefix, spec, rest in slots.matches]
    with_matches = f"list_concat(v, [{', '.join(p for p, _ in picks)}])" if picks else "v"
    certain = f"[{', '.join(c for _, c in picks)}]" if picks else "[]::BOOLEAN[]"
    numbers = "[]"
    if slots.numbers:
        with_double = f"list_transform(list_select(e, {_selected(slots.numbers, slots)}), " \
                      f"lambda x: struct_insert(x, d := {_double('x')}))"
        numbers = f"list_transform({with_double}, lambda x: {_numbers('x')})"
    stamps = "[]"
    if slots.timestamps:
        pattern = _literal(TIMESTAMP_TEXT)
        stamps = (f"list_transform(list_select(e, {_selected(slots.timestamps, slots)}), lambda x: "
                  f"{{'t': CASE WHEN x.k = {STRING} AND regexp_full_match(x.s, {pattern}) "
                  f"THEN TRY_CAST(x.s AS TIMESTAMPTZ) END, "
                  f"'m': x.k = {STRING} AND regexp_full_match(x.s, {pattern})}})")
    t = "j::VARCHAR"  # compact JSON text; JSON's null is `null`
    numeric = (f"CASE WHEN {t} = 'true' OR {t} = 'false' OR (left({t}, 1) BETWEEN '0' AND '9' OR left({t}, 1) = '-') "
               f"THEN {t} END")
    kinds = f"list_transform(j, lambda j: {{'k': ({_kind(t)})::TINYINT, 's': {_text(t)}, 'j': {numeric}}})"
    with_forms = f"list_transform(e0, lambda x: struct_insert(x, tk := ({_text_kind('x.k', 'x.s')})::TINYINT))"
    return (f"WITH x AS (SELECT {extracted} AS v FROM raw), "
            f"m AS (SELECT {with_matches} AS j, {certain} AS certain FROM x), "
            f"y AS (SELECT {kinds} AS e0, certain FROM m), "
            f"z AS (SELECT {with_forms} AS e, certain FROM y) "
            f"SELECT e, {numbers} AS n, {stamps} AS ts, certain FROM z")
