"""The tokenizer loop the simulated query languages share — ConnectWise conditions, SOQL and
Graph's OData `$filter` (ServiceNow's encoded queries split on `^` and need none): one regular
expression of named groups matched from each position in turn, whitespace passed over, a position
where nothing matches refused in the language's own words, and a kind whose end the expression
cannot find (SOQL's string with its escapes) read by a function of its own.

Each language turns the lexemes into its own tokens (keywords, numbers, an end token)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Lexeme:
    kind: str
    """The name of the group that matched."""
    text: str
    """The text the group matched (a reader's: from the start to where it ended)."""
    position: int
    value: Any = None
    """What a reader made of the text (SOQL: the string's value); None otherwise."""


Reader = Callable[[str, int], tuple[Any, int]]
"""(text, start) → (value, position after the lexeme), for a kind the expression only opens."""


def scan(text: str, pattern: re.Pattern[str], refuse: Callable[[int], Exception], *,
         skip: frozenset[str] = frozenset({"ws"}), readers: Mapping[str, Reader] | None = None) -> Iterator[Lexeme]:
    """The lexemes of `text`. A position where `pattern` matches nothing (or only the empty string)
    raises `refuse(position)`; kinds in `skip` are passed over."""
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if match is None or match.end() == position:
            raise refuse(position)
        kind = match.lastgroup or ""
        reader = readers.get(kind) if readers else None
        if reader is not None:
            value, end = reader(text, position)
            yield Lexeme(kind, text[position:end], position, value)
            position = end
            continue
        if kind not in skip:
            yield Lexeme(kind, match.group(kind), match.start(kind), None)
        position = match.end()
