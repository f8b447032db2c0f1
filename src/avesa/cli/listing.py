"""Listings at 200 tenants: one way to print rows as a table, JSON or CSV, and to say how many
rows a table left out ("N more rows") instead of hiding them.

JSON and CSV are for programs: every row (unless `--limit` is given), values as they are, parsed
back by `json.loads` / `csv.DictReader`. The table is for people: the first `limit` rows, and a
line saying how many more there are and how to see them."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from avesa.cli.common import console, literals, table_title
from avesa.domain.errors import UsageError

FORMATS = ("table", "json", "csv")
FORMAT_HELP = "table | json | csv (json and csv: every row, for scripts)"
TABLE_LIMIT = 40
"""Rows a table shows unless --limit says otherwise."""


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}: use {', '.join(FORMATS)}")
    return fmt


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, *, title: str = "",
         limit: int | None = None, noun: str = "rows", headers: Sequence[str] | None = None,
         more_hint: str = "") -> None:
    """Print `rows` (dicts keyed by `columns`) as `fmt`. A table shows `limit` (default
    TABLE_LIMIT) and says how many more there are; JSON and CSV print every row unless `limit`."""
    if fmt == "json":
        shown = list(rows if limit is None else rows[:limit])
        sys.stdout.write(json.dumps([{c: r.get(c) for c in columns} for r in shown], default=str, indent=2) + "\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows if limit is None else rows[:limit]:
            writer.writerow({c: _csv_cell(row.get(c)) for c in columns})
        return
    cap = TABLE_LIMIT if limit is None else limit
    table = Table(*(headers or columns), title=table_title(title) if title else None, title_justify="left")
    for row in rows[:cap]:
        table.add_row(*literals(*(_cell(row.get(c)) for c in columns)))
    console.print(table)
    if len(rows) > cap:
        console.print(Text(f"{len(rows) - cap:,} more {noun} (--limit {len(rows)} shows them all, --format json or "
                           f"csv lists every one{'; ' + more_hint if more_hint else ''})"))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return "" if value is None else value
