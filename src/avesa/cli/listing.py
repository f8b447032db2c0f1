"""Listings at 200 tenants: one way to print rows as a table, JSON or CSV, and to say how many
rows a table left out ("N more rows") instead of hiding them.

JSON and CSV are for programs: every row (unless `--limit` is given), values as they are, parsed
back by `json.loads` / `csv.DictReader`. The table is for people: the first `limit` rows, long
texts (errors) cut short unless asked for whole, and a line saying how many more rows there are
and how to see them."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from avesa.cli.common import console, literals, table_title
from avesa.domain.errors import UsageError

FORMATS = ("table", "json", "csv")
FORMAT_HELP = "table | json | csv (json and csv: every row, for scripts)"
TABLE_LIMIT = 40
"""Rows a table shows unless --limit says otherwise."""
CUT_CHARS = 120
"""Characters of a long text (an error) a table cell shows unless --full-errors."""
LIMIT_HELP = "rows to show (table default 40; json and csv: every row unless given)"
FULL_ERRORS_HELP = (f"show errors whole in the table (by default cut at {CUT_CHARS} characters; json and csv: "
                    "always whole)")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}: use {', '.join(FORMATS)}")
    return fmt


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, *, title: str = "",
         limit: int | None = None, noun: str = "rows", headers: Sequence[str] | None = None,
         more_hint: str = "", cut: Sequence[str] = (), whole: Sequence[str] = ()) -> None:
    """Print `rows` (dicts keyed by `columns`) as `fmt`. A table shows `limit` (default
    TABLE_LIMIT) and says how many more there are, with the texts of the `cut` columns cut at
    CUT_CHARS and those of the `whole` columns never wrapped (names people copy: the other columns
    wrap when the terminal is narrow, and fold a word longer than their width rather than cut it);
    JSON and CSV print every row unless `limit`, every text whole."""
    if fmt == "json":
        shown = list(rows if limit is None else rows[:limit])
        sys.stdout.write(json.dumps([{c: r.get(c) for c in columns} for r in shown], default=_json_value,
                                    indent=2) + "\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows if limit is None else rows[:limit]:
            writer.writerow({c: _csv_cell(row.get(c)) for c in columns})
        return
    cap = TABLE_LIMIT if limit is None else limit
    table = Table(title=table_title(title) if title else None, title_justify="left")
    for column, header in zip(columns, headers or columns, strict=True):
        table.add_column(header, no_wrap=column in whole, overflow="ellipsis" if column in whole else "fold")
    for row in rows[:cap]:
        table.add_row(*literals(*(shorten(_cell(row.get(c))) if c in cut else _cell(row.get(c)) for c in columns)))
    console.print(table)
    print_more(len(rows), cap, noun, more_hint)


def print_more(total: int, shown: int, noun: str = "rows", hint: str = "") -> None:
    """The line under a table that left rows out: how many, and how to see them."""
    if total > shown:
        console.print(Text(f"{total - shown:,} more {noun} (--limit {total} shows them all, --format json or "
                           f"csv lists every one{'; ' + hint if hint else ''})"))


def shorten(text: str, chars: int = CUT_CHARS) -> str:
    """`text` cut to `chars` and an ellipsis, so one long error does not take a table's width."""
    return text if len(text) <= chars else text[:chars] + "…"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _json_value(value: Any) -> Any:
    """Times as ISO 8601 with their offset (`2025-01-01T12:00:00+00:00`), anything else as text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=_json_value, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value
