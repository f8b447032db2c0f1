"""A real parser for the SOQL subset connectors use: text -> syntax tree, or MALFORMED_QUERY.

Grammar (keywords case-insensitive)::

    query      := SELECT items FROM name [WHERE expr] [ORDER BY order (, order)*] [LIMIT n] [OFFSET n]
    items      := item (, item)*
    item       := COUNT() | COUNT(field) | FIELDS(ALL|STANDARD|CUSTOM) | field
    expr       := term ((AND|OR) term)*        -- mixing AND and OR needs parentheses, as in SOQL
    term       := NOT term | ( expr ) | field op value | field [NOT] IN ( value, ... ) | field LIKE 'text'
    op         := = | != | <> | < | <= | > | >=
    value      := 'string' | number | true | false | null | 2024-01-01 | 2024-01-01T00:00:00Z
                | 2024-01-01T00:00:00.000+0000 | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | ...
    order      := field [ASC|DESC] [NULLS FIRST|LAST]

Only syntax is checked here; names and types are checked against the object by ``plan``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from avesa_sandbox.lexing import scan
from avesa_sandbox.salesforce.errors import SoqlError

MALFORMED = "MALFORMED_QUERY"

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?![\w.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_LIKE_ESCAPES = {"_": "\\_", "%": "\\%"}

DATE_LITERALS = frozenset(
    {
        "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH", "THIS_MONTH",
        "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR",
    }
)  # fmt: skip
DATE_LITERALS_N = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS"})

_RESERVED = frozenset(
    {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET", "NULLS",
     "ASC", "DESC", "GROUP", "HAVING", "WITH", "FOR", "USING", "TYPEOF", "INCLUDES", "EXCLUDES"}
)  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: str
    """name, string, number, date, datetime, op, punct or eof."""
    text: str
    value: Any
    pos: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "name" and self.text.upper() in words


# -- syntax tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    name: str
    pos: int


@dataclass(frozen=True)
class CountItem:
    """``COUNT()`` (field None) or ``COUNT(field)``."""

    field: FieldRef | None
    pos: int


@dataclass(frozen=True)
class FieldsItem:
    """``FIELDS(ALL)``, ``FIELDS(STANDARD)`` or ``FIELDS(CUSTOM)``."""

    kind: str
    pos: int


SelectItem = FieldRef | CountItem | FieldsItem


@dataclass(frozen=True)
class Literal:
    """A value in a condition. ``kind``: string, number, boolean, null, date, datetime, date_literal."""

    kind: str
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Comparison:
    field: FieldRef
    op: str
    """=, !=, <, <=, >, >= or LIKE."""
    value: Literal


@dataclass(frozen=True)
class InList:
    field: FieldRef
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str
    """AND or OR."""
    operands: tuple[Expr, ...]


Expr = Comparison | InList | Not | BoolOp


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class SoqlQuery:
    items: tuple[SelectItem, ...]
    object_name: str
    object_pos: int
    where: Expr | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    limit_pos: int


# -- lexer ---------------------------------------------------------------------------------------


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at ``start`` and the position after it."""
    out: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "'":
            return "".join(out), index + 1
        if char == "\\":
            if index + 1 >= len(text):
                break
            escaped = text[index + 1]
            if escaped in _ESCAPES:
                out.append(_ESCAPES[escaped])
            elif escaped in _LIKE_ESCAPES:
                out.append(_LIKE_ESCAPES[escaped])
            else:
                raise SoqlError(
                    MALFORMED, f"Invalid string literal '{text[start : index + 2]}'. Illegal escape sequence.", index
                )
            index += 2
            continue
        out.append(char)
        index += 1
    raise SoqlError(MALFORMED, "Invalid string literal: missing closing quote", start)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` (whitespace dropped), ending with an ``eof`` token."""

    def refuse(index: int) -> SoqlError:
        return SoqlError(MALFORMED, f"unexpected token: '{text[index]}'", index)

    tokens: list[Token] = []
    for lexeme in scan(text, _TOKEN, refuse, readers={"string": _read_string}):
        value: Any = lexeme.value if lexeme.kind == "string" else lexeme.text
        if lexeme.kind == "number":
            value = float(lexeme.text) if "." in lexeme.text else int(lexeme.text)
        tokens.append(Token(lexeme.kind, lexeme.text, value, lexeme.position))
    tokens.append(Token("eof", "<EOF>", None, len(text)))
    return tokens


# -- parser --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.token
        return SoqlError(MALFORMED, f"unexpected token: '{token.text}'", token.pos)

    def expect_keyword(self, word: str) -> Token:
        if not self.token.keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if self.token.kind != "punct" or self.token.text != char:
            raise self.unexpected()
        return self.advance()

    def name(self) -> FieldRef:
        token = self.token
        if token.kind != "name" or token.text.upper() in _RESERVED:
            raise self.unexpected()
        self.advance()
        return FieldRef(token.text, token.pos)

    # query ------------------------------------------------------------------------------------

    def query(self) -> SoqlQuery:
        self.expect_keyword("SELECT")
        items = [self.item()]
        while self.token.kind == "punct" and self.token.text == ",":
            self.advance()
            items.append(self.item())
        self.expect_keyword("FROM")
        obj = self.name()
        where = None
        if self.token.keyword("WHERE"):
            self.advance()
            where = self.expr()
        order: list[OrderItem] = []
        if self.token.keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.token.kind == "punct" and self.token.text == ",":
                self.advance()
                order.append(self.order_item())
        limit = offset = None
        limit_pos = self.token.pos
        if self.token.keyword("LIMIT"):
            self.advance()
            limit = self.integer()
        if self.token.keyword("OFFSET"):
            self.advance()
            offset = self.integer()
        if self.token.kind != "eof":
            raise self.unexpected()
        return SoqlQuery(tuple(items), obj.name, obj.pos, where, tuple(order), limit, offset, limit_pos)

    def integer(self) -> int:
        token = self.token
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0 or token.text[0] in "+-":
            raise self.unexpected()
        self.advance()
        return int(token.value)

    def item(self) -> SelectItem:
        token = self.token
        following = self.tokens[self.index + 1]
        is_call = following.kind == "punct" and following.text == "("
        if token.keyword("COUNT") and is_call:
            self.advance()
            self.advance()
            field = None if self.token.kind == "punct" and self.token.text == ")" else self.name()
            self.expect_punct(")")
            return CountItem(field, token.pos)
        if token.keyword("FIELDS") and is_call:
            self.advance()
            self.advance()
            kind = self.token
            if not kind.keyword("ALL", "STANDARD", "CUSTOM"):
                raise self.unexpected()
            self.advance()
            self.expect_punct(")")
            return FieldsItem(kind.text.upper(), token.pos)
        if token.kind == "name" and is_call:
            raise SoqlError(MALFORMED, f"Unknown function '{token.text}'", token.pos)
        return self.name()

    def order_item(self) -> OrderItem:
        field = self.name()
        descending = False
        if self.token.keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending
        if self.token.keyword("NULLS"):
            self.advance()
            if not self.token.keyword("FIRST", "LAST"):
                raise self.unexpected()
            nulls_first = self.advance().text.upper() == "FIRST"
        return OrderItem(field, descending, nulls_first)

    # conditions -------------------------------------------------------------------------------

    def expr(self) -> Expr:
        operands = [self.term()]
        connective: str | None = None
        while self.token.keyword("AND", "OR"):
            word = self.token.text.upper()
            if connective is not None and word != connective:
                raise self.unexpected()  # SOQL needs parentheses to mix AND and OR
            connective = word
            self.advance()
            operands.append(self.term())
        if connective is None:
            return operands[0]
        return BoolOp(connective, tuple(operands))

    def term(self) -> Expr:
        if self.token.keyword("NOT"):
            self.advance()
            return Not(self.term())
        if self.token.kind == "punct" and self.token.text == "(":
            self.advance()
            inner = self.expr()
            self.expect_punct(")")
            return inner
        field = self.name()
        token = self.token
        if token.kind == "op":
            self.advance()
            op = {"<>": "!="}.get(token.text, token.text)
            return Comparison(field, op, self.value())
        if token.keyword("LIKE"):
            self.advance()
            return Comparison(field, "LIKE", self.value())
        negated = False
        if token.keyword("NOT"):
            self.advance()
            negated = True
            if not self.token.keyword("IN"):
                raise self.unexpected()
        if self.token.keyword("IN"):
            self.advance()
            self.expect_punct("(")
            values = [self.value()]
            while self.token.kind == "punct" and self.token.text == ",":
                self.advance()
                values.append(self.value())
            self.expect_punct(")")
            return InList(field, tuple(values), negated)
        if token.keyword("INCLUDES", "EXCLUDES"):
            raise SoqlError(MALFORMED, f"{token.text.upper()} is only valid on multi-select picklist fields", token.pos)
        raise self.unexpected()

    def value(self) -> Literal:
        token = self.token
        if token.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(token.kind, token.value, token.pos, token.text)
        if token.keyword("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.text.upper() == "TRUE", token.pos, token.text)
        if token.keyword("NULL"):
            self.advance()
            return Literal("null", None, token.pos, token.text)
        if token.kind == "name" and token.text.upper() in DATE_LITERALS:
            self.advance()
            return Literal("date_literal", (token.text.upper(), None), token.pos, token.text)
        if token.kind == "name" and token.text.upper() in DATE_LITERALS_N:
            self.advance()
            self.expect_punct(":")
            amount = self.integer()
            return Literal("date_literal", (token.text.upper(), amount), token.pos, f"{token.text}:{amount}")
        raise self.unexpected()


def parse(text: str) -> SoqlQuery:
    """The syntax tree of a SOQL query; SoqlError (MALFORMED_QUERY) with the position otherwise."""
    if not text or not text.strip():
        raise SoqlError(MALFORMED, "A query string has to be specified")
    return _Parser(text).query()
