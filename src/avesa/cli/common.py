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
from avesa.config_file import find_config_file
from avesa.domain.errors import AvesaError, BusyError, ConfigError
from avesa.domain.storage_errors import storage_problem
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings, load_settings, setting_sources

# Tables are wide; when output is not a terminal (CI logs, pipes) rich would fold them at 80 columns.
console = Console(width=None if Console().is_terminal else 160)
err_console = Console(stderr=True, width=None if Console(stderr=True).is_terminal else 160)

F = TypeVar("F", bound=Callable[..., Any])

MAX_LISTED = 100_000
"""The largest `--limit` of a listing: more rows than a terminal shows, and within SQLite's integers."""


# Exit codes, the same for every command (README, "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1
"""A table (or a resumed or retried one) failed, or the run was cancelled."""
EXIT_USAGE = 2
"""Bad input or configuration: nothing was done (click's own usage errors exit 2 as well)."""
EXIT_BUSY = 3
"""Skipped: other live runs hold the tenants asked for; nothing was synced."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (SIGINT), as shells report it: the run stopped and resumes with the next `avesa run`."""

TENANT_HELP = "only this tenant"


def tenant_option(help: str = TENANT_HELP, *, required: bool = False) -> Any:
    """The tenant flag, one name everywhere: `--tenant ID` (`--tenant-id` kept as an alias)."""
    return typer.Option(... if required else None, "--tenant", "--tenant-id", metavar="<tenant>", help=help)


def load_context(settings: Settings | None = None) -> PipelineContext:
    """The pipeline context of `settings` (default: the environment's and the config file's), on a
    home that must exist already (`require_home`)."""
    settings = load_settings() if settings is None else settings
    require_home(settings)
    return PipelineContext.from_settings(settings)


def require_home(settings: Settings) -> None:
    """Refuse a home that was never made: a command run from another folder must not silently start
    a new, empty one (and report "nothing to run" with exit 0). `avesa init` makes homes."""
    source = setting_sources(settings)["home"]
    home = settings.home
    if source.kind == "default":
        _, looked = find_config_file()
        raise ConfigError(f"no AVESA home is configured here ({looked}; AVESA_HOME is not set): create one with "
                          "`avesa init PATH` (it writes the config file every folder finds), or set AVESA_HOME to "
                          "an existing home")
    if home.is_dir():
        return
    named = f"AVESA_HOME={home}" if source.kind == "environment" else f"the home {home}"
    origin = f" (named by {source.where})" if source.kind == "file" else ""
    if home.exists():
        raise ConfigError(f"{named}{origin} is not a folder: point it at an AVESA home, or create one with "
                          "`avesa init PATH`")
    relative = "" if Path(home).is_absolute() else f", relative to the current folder {Path.cwd()}"
    raise ConfigError(f"{named}{origin} does not exist{relative}: create it with `avesa init "
                      f"{home.absolute()}`, or point {'AVESA_HOME' if source.kind == 'environment' else 'the config'}"
                      " at your existing home")


def ensure_home(settings: Settings) -> None:
    """Create AVESA_HOME for the commands that make homes (`avesa init`, `avesa state init`, the
    demo's own), or say why it cannot be: a path under a file, a read-only mount, no rights."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"AVESA_HOME={settings.home}: cannot create it ({exc.strerror or exc}); point AVESA_HOME "
                          "at a folder this user can write") from None


INTERRUPTED_NOTE = ("interrupted (Ctrl-C): what was landed is kept; the run will resume with the next `avesa run` "
                    "(or `avesa jobs resume`)")


def friendly_errors(func: F) -> F:
    """A user sees `error: <what is wrong and what to do>` and exit code 2, never a traceback — for
    AVESA's own errors and for a write the machine refused (a full disk, a read-only folder); 3 when
    another run holds what was asked for; 130 and what happens next on Ctrl-C."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            err_console.print(Text(INTERRUPTED_NOTE, style="yellow"), soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BusyError as exc:
            _print_error(str(exc))
            raise typer.Exit(EXIT_BUSY) from None
        except AvesaError as exc:
            _print_error(str(exc))
            raise typer.Exit(EXIT_USAGE) from None
        except (OSError, sqlite3.Error) as exc:
            problem = storage_problem(exc, state_path=_state_path())
            if problem is None:
                raise
            _print_error(problem)
            raise typer.Exit(EXIT_USAGE) from None

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
