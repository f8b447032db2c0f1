"""Shared CLI plumbing: settings, the pipeline context, and turning AvesaErrors into clear exits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from avesa.catalog.loader import Catalog, load_catalog
from avesa.domain.errors import AvesaError
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings

# Tables are wide; when output is not a terminal (CI logs, pipes) rich would fold them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

F = TypeVar("F", bound=Callable[..., Any])


def load_context() -> PipelineContext:
    return PipelineContext.from_settings(Settings())


def friendly_errors(func: F) -> F:
    """A user sees `error: <what is wrong and what to do>` and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AvesaError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


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


def user_catalog() -> Catalog:
    """The catalog as this process sees it: built-in services plus ``AVESA_CATALOG_PATH``'s."""
    return load_catalog(Settings().catalog_path)
