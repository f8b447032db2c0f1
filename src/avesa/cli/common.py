"""Shared CLI plumbing: settings, the pipeline context, turning AvesaErrors into clear exits, and
printing data as text.

Rich reads markup in every plain string it prints — a cell, a title, a line — so text that comes
from outside (a ticket summary quoted in an error, a company name, a cursor) would be restyled when
it holds ``[bold]`` and crash the print when it holds ``[/resolved]``. Such text is printed as
`rich.text.Text` (`literal`, `literals`, or a ``Text.assemble`` of styled parts and plain ones);
markup strings are only ever the code's own."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from avesa.catalog.loader import Catalog, load_catalog
from avesa.domain.errors import AvesaError, ConfigError
from avesa.domain.storage_errors import storage_problem
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings, load_settings

# Tables are wide; when output is not a terminal (CI logs, pipes) rich would fold them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

F = TypeVar("F", bound=Callable[..., Any])

MAX_LISTED = 100_000
"""The largest `--limit` of a listing: more rows than a terminal shows, and within SQLite's integers."""


def load_context(settings: Settings | None = None) -> PipelineContext:
    """The pipeline context of `settings` (default: the environment's), its home created first."""
    settings = load_settings() if settings is None else settings
    ensure_home(settings)
    return PipelineContext.from_settings(settings)


def ensure_home(settings: Settings) -> None:
    """Create AVESA_HOME, or say why it cannot be: a path under a file, a read-only mount, no rights."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"AVESA_HOME={settings.home}: cannot create it ({exc.strerror or exc}); point AVESA_HOME "
                          "at a folder this user can write") from None


def friendly_errors(func: F) -> F:
    """A user sees `error: <what is wrong and what to do>` and exit code 2, never a traceback — for
    AVESA's own errors and for a write the machine refused (a full disk, a read-only folder)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AvesaError as exc:
            _print_error(str(exc))
            raise typer.Exit(2) from None
        except (OSError, sqlite3.Error) as exc:
            problem = storage_problem(exc, state_path=_state_path())
            if problem is None:
                raise
            _print_error(problem)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _print_error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def _state_path() -> Path | None:
    try:
        return load_settings().state_path
    except ConfigError:
        return None


def nulled_summary(nulled: dict[str, int], *, short: bool = False) -> str:
    """`2 values nulled (number_of_employees 1, budget_hours 1)` — `2 (number_of_employees 1, …)` when
    short: source values a run could not convert to their canonical type (the raw files keep them as
    sent). "" when there were none."""
    if not nulled:
        return ""
    total = sum(nulled.values())
    columns = ", ".join(f"{name} {count:,}" for name, count in sorted(nulled.items(), key=lambda kv: (-kv[1], kv[0])))
    noun = "" if short else f" value{'s' if total != 1 else ''} nulled"
    return f"{total:,}{noun} ({columns})"


def literal(value: object) -> Text:
    """Data or an error message as a cell or line part: printed exactly, never read as markup."""
    return Text("" if value is None else str(value))


def table_title(value: object) -> Text:
    """A table title of data, in the style rich gives titles."""
    return Text(str(value), style="table.title")


def literals(*values: object) -> list[Text]:
    """A table row of data, each cell printed exactly."""
    return [literal(v) for v in values]


def user_catalog() -> Catalog:
    """The catalog as this process sees it: built-in services plus ``AVESA_CATALOG_PATH``'s."""
    return load_catalog(load_settings().catalog_path)
