"""The ConnectWise ``conditions`` language: tokenizer, recursive-descent parser and printer.

Grammar (keywords case-insensitive)::

    expression := conjunction ( "or" conjunction )*
    conjunction := primary ( "and" primary )*
    primary    := "(" expression ")" | comparison
    comparison := path operator value
                | path ["not"] ("like" | "contains") value
                | path ["not"] "in" "(" value ( "," value )* ")"
    operator   := "=" | "!=" | "<" | "<=" | ">" | ">="
    value      := "string in double quotes" | number | true | false | null | [date-time]
    path       := name ( "/" name )*      e.g. id, company/id, status/name, _info/lastUpdated

Dates are written in square brackets (``[2024-01-01T00:00:00Z]``), as ConnectWise requires. The
parser knows nothing about tables or fields: ``predicates`` resolves paths and gives the tree
meaning. ``to_text`` prints a tree back so that ``parse(to_text(tree)) == tree``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from avesa_sandbox.clock import parse_timestamp
from avesa_sandbox.lexing import scan

COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
WORD_OPERATORS = ("contains", "like", "in")
NEGATABLE = frozenset(WORD_OPERATORS)


class ConditionError(ValueError):
    """A condition that does not parse or cannot apply; the message names the problem."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.position = position
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")


@dataclass(frozen=True)
class Date:
    """A ``[date-time]`` literal, held as epoch seconds (UTC)."""

    epoch: float
    text: str = field(default="", compare=False)

    def render(self) -> str:
        """The literal as ``[YYYY-MM-DDTHH:MM:SSZ]`` (fractions kept when present)."""
        moment = datetime.fromtimestamp(self.epoch, tz=UTC)
        spec = "seconds" if self.epoch == math.floor(self.epoch) else "microseconds"
        return "[" + moment.isoformat(timespec=spec).replace("+00:00", "Z") + "]"


Scalar = str | int | float | bool | None | Date


@dataclass(frozen=True)
class Comparison:
    """``path op value``; ``negated`` only for ``not like`` / ``not contains`` / ``not in``."""

    path: tuple[str, ...]
    op: str
    value: Scalar | tuple[Scalar, ...]
    negated: bool = False


@dataclass(frozen=True)
class And:
    """All of ``items`` (at least two)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items`` (at least two)."""

    items: tuple[Node, ...]


Node = Comparison | And | Or


# -- tokenizer -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<date>\[[^\]]*\])
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_KEYWORDS = frozenset({"and", "or", "not", "like", "contains", "in", "true", "false", "null"})


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` in string/date/number/word/keyword/op/punct/end."""

    kind: str
    text: str
    position: int


def _refusal(text: str) -> Callable[[int], ConditionError]:
    def refuse(position: int) -> ConditionError:
        snippet = text[position : position + 12]
        if text[position] == '"':
            return ConditionError("Unterminated string", position)
        if text[position] == "[":
            return ConditionError("Unterminated date (missing ']')", position)
        return ConditionError(f"Unexpected character {snippet[0]!r} in {snippet!r}", position)

    return refuse


def tokenize(text: str) -> list[Token]:
    """Split a condition into tokens; raises ConditionError on a character that starts no token."""
    tokens: list[Token] = []
    for lexeme in scan(text, _TOKEN, _refusal(text)):
        kind, value = lexeme.kind, lexeme.text
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append(Token(kind, value, lexeme.position))
    tokens.append(Token("end", "", len(text)))
    return tokens


# -- parser ----------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept_keyword(self, word: str) -> bool:
        if self.current.kind == "keyword" and self.current.text == word:
            self.index += 1
            return True
        return False

    def expect_punct(self, char: str, context: str) -> None:
        token = self.current
        if token.kind != "punct" or token.text != char:
            raise ConditionError(f"Expected '{char}' {context}, found {_describe(token)}", token.position)
        self.index += 1

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise ConditionError("Empty condition", 0)
        node = self.expression()
        if self.current.kind != "end":
            token = self.current
            raise ConditionError(f"Unexpected {_describe(token)}; expected 'and', 'or' or the end", token.position)
        return node

    def expression(self) -> Node:
        items = [self.conjunction()]
        while self.accept_keyword("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.primary()]
        while self.accept_keyword("and"):
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Node:
        token = self.current
        if token.kind == "punct" and token.text == "(":
            self.advance()
            node = self.expression()
            self.expect_punct(")", "to close the parenthesis")
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.advance()
        if token.kind != "word":
            raise ConditionError(f"Expected a field name, found {_describe(token)}", token.position)
        path = tuple(token.text.split("/"))
        operator_token = self.current
        negated = self.accept_keyword("not")
        op_token = self.advance()
        is_symbol = op_token.kind == "op" and not negated
        is_word = op_token.kind == "keyword" and op_token.text in NEGATABLE
        if is_symbol or is_word:
            op = op_token.text
        else:
            expected = "'like', 'contains' or 'in' after 'not'" if negated else "an operator"
            raise ConditionError(
                f"Expected {expected} after field '{token.text}', found {_describe(op_token)}",
                operator_token.position if not negated else op_token.position,
            )
        if op == "in":
            return Comparison(path, op, self.value_list(token.text), negated)
        return Comparison(path, op, self.value(f"'{token.text} {op}'"), negated)

    def value_list(self, field_name: str) -> tuple[Scalar, ...]:
        self.expect_punct("(", f"after '{field_name} in'")
        values = [self.value(f"'{field_name} in ('")]
        while self.current.kind == "punct" and self.current.text == ",":
            self.advance()
            values.append(self.value("','"))
        self.expect_punct(")", "to close the 'in' list")
        return tuple(values)

    def value(self, context: str) -> Scalar:
        token = self.advance()
        if token.kind == "string":
            return _unescape(token.text[1:-1])
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "date":
            inner = token.text[1:-1].strip()
            try:
                return Date(parse_timestamp(inner), inner)
            except ValueError:
                raise ConditionError(
                    f"Invalid date [{inner}]; expected e.g. [2024-01-31T00:00:00Z]", token.position
                ) from None
        if token.kind == "keyword" and token.text in ("true", "false"):
            return token.text == "true"
        if token.kind == "keyword" and token.text == "null":
            return None
        if token.kind == "word":
            raise ConditionError(
                f"Expected a value after {context}, found '{token.text}' (strings need double quotes)",
                token.position,
            )
        raise ConditionError(f"Expected a value after {context}, found {_describe(token)}", token.position)


def _describe(token: Token) -> str:
    return "the end of the condition" if token.kind == "end" else f"'{token.text}'"


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", r"\1", body)


def parse(text: str) -> Node:
    """Parse a ``conditions`` string into a tree; raises ConditionError naming the problem."""
    return _Parser(text).parse()


# -- printer ---------------------------------------------------------------------------------------


def render_value(value: Scalar | tuple[Scalar, ...]) -> str:
    """A literal as it is written in a condition."""
    if isinstance(value, tuple):
        return "(" + ",".join(render_value(item) for item in value) + ")"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Date):
        return value.render()
    if isinstance(value, int | float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_text(node: Node) -> str:
    """Print a tree as a condition string (compound children are parenthesised)."""
    if isinstance(node, Comparison):
        op = f"not {node.op}" if node.negated else node.op
        spacer = " " if op[0].isalpha() else ""
        return f"{'/'.join(node.path)}{spacer}{op}{spacer}{render_value(node.value)}"
    joiner = " and " if isinstance(node, And) else " or "
    return joiner.join(to_text(item) if isinstance(item, Comparison) else f"({to_text(item)})" for item in node.items)
