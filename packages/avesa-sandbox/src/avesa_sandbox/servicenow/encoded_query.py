"""Parsing ServiceNow encoded queries (``sysparm_query``) into groups of conditions and an ordering.

Syntax, as the platform reads it: ``^NQ`` separates alternative queries (OR of whole queries);
inside one, ``^`` joins conditions with AND and ``^OR`` joins a condition to the previous one with
OR (``a=1^ORb=2^c=3`` is ``(a=1 OR b=2) AND c=3``); ``ORDERBY<field>`` / ``ORDERBYDESC<field>``
add sort keys in order; ``^^`` is a literal ``^``; ``EQ`` ends a query copied from a list URL.
A condition is a lowercase field name (dot-walks allowed: ``caller_id.name``), an operator and a
value: ``state=2``, ``priority<=2``, ``short_descriptionLIKEvpn``, ``sys_idIN<a>,<b>``,
``assigned_toISEMPTY``, ``sys_updated_onBETWEEN<a>@<b>``.

Like the real platform, this parser never rejects a query: a piece it cannot read is dropped and the
rest applies. Which fields exist is checked later (``predicates``), against the table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

OPERATORS = (
    "ISNOTEMPTY", "ISEMPTY", "EMPTYSTRING", "ANYTHING", "STARTSWITH", "ENDSWITH", "NOT LIKE", "NOTLIKE", "LIKE",
    "NOT IN", "NOTIN", "IN", "BETWEEN", "NSAMEAS", "SAMEAS", "NOTON", "ON", "!=", ">=", "<=", "=", ">", "<",
    "DATEPART", "RELATIVEGT", "RELATIVELT", "RELATIVEGE", "RELATIVELE", "RELATIVEEE", "VALCHANGES", "CHANGESFROM",
    "CHANGESTO", "DYNAMIC", "MORETHAN", "LESSTHAN", "GT_FIELD", "LT_FIELD", "GT_OR_EQUALS_FIELD",
    "LT_OR_EQUALS_FIELD", "INSTANCEOF",
)  # fmt: skip
"""Operators the platform knows, longest match first (``predicates`` implements the common ones)."""

ALIASES = {"NOTLIKE": "NOT LIKE", "NOTIN": "NOT IN"}

_FIELD = re.compile(r"^[a-z0-9_][a-z0-9_.]*")
_CARET = "\x00"


@dataclass(frozen=True)
class Condition:
    """``field`` ``operator`` ``value`` (value is "" for operators without one)."""

    field: str
    operator: str
    value: str


@dataclass(frozen=True)
class EncodedQuery:
    """Alternative groups (OR of groups); a group is an AND of clauses; a clause an OR of conditions."""

    groups: tuple[tuple[tuple[Condition, ...], ...], ...]
    order: tuple[tuple[str, bool], ...]
    """(field, descending) sort keys, first is primary."""
    dropped: tuple[str, ...] = ()
    """Pieces that could not be read at all (for diagnostics; the platform ignores them silently)."""


def parse_condition(piece: str) -> Condition | None:
    """One condition, or None if ``piece`` is not ``field OPERATOR value``."""
    match = _FIELD.match(piece)
    if match is None:
        return None
    field, rest = match.group(0), piece[match.end() :]
    if not rest:
        return None
    for operator in OPERATORS:
        if rest.startswith(operator):
            return Condition(field.rstrip("."), ALIASES.get(operator, operator), rest[len(operator) :])
    return None


@functools.lru_cache(maxsize=1024)
def parse(query: str | None) -> EncodedQuery:
    """Parse an encoded query; never raises (unreadable pieces are dropped)."""
    if not query:
        return EncodedQuery((), ())
    text = query.replace("^^", _CARET)
    groups: list[tuple[tuple[Condition, ...], ...]] = []
    order: list[tuple[str, bool]] = []
    dropped: list[str] = []
    for raw_group in text.split("^NQ"):
        clauses: list[list[Condition]] = []
        for raw in raw_group.split("^"):
            piece = raw.replace(_CARET, "^")
            if not piece or piece == "EQ":
                continue
            if piece.startswith("ORDERBYDESC"):
                order.append((piece[len("ORDERBYDESC") :], True))
                continue
            if piece.startswith("ORDERBY"):
                order.append((piece[len("ORDERBY") :], False))
                continue
            if piece.startswith("GROUPBY"):
                continue
            is_or = piece.startswith("OR") and bool(clauses)
            condition = parse_condition(piece[2:] if is_or else piece)
            if condition is None:
                dropped.append(piece)
                continue
            if is_or:
                clauses[-1].append(condition)
            else:
                clauses.append([condition])
        groups.append(tuple(tuple(clause) for clause in clauses))
    return EncodedQuery(tuple(groups), tuple(order), tuple(dropped))
