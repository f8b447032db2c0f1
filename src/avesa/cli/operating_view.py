"""What `avesa status` says about operating: when `avesa serve` syncs each tenant's service next,
and the data-quality counts of the last full sync (source count against live canonical rows)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from avesa.cli.common import console as default_console
from avesa.cli.common import literals
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.quality import beyond_tolerance
from avesa.runtime import schedules
from avesa.state.ledger_records import TableRunRecord


def next_syncs(ctx: PipelineContext, now: datetime) -> dict[tuple[str, str], str]:
    """(tenant, service) → when `avesa serve` runs it next ("2025-01-01 12:00:00 full", "off", "disabled")."""
    found = schedules.upcoming(ctx.settings, ctx.state, now)
    shown: dict[tuple[str, str], str] = {}
    for config in ctx.state.list_services():
        key = (config.tenant_id, config.service)
        if key not in found:
            shown[key] = "disabled"
        elif found[key] is None:
            shown[key] = "off"
        else:
            when, mode = found[key]  # type: ignore[misc]
            shown[key] = f"{when:%Y-%m-%d %H:%M:%S}" + (" full" if mode == "full" else "")
    return shown


def last_counts(runs: list[TableRunRecord]) -> dict[tuple[str, str, str], TableRunRecord]:
    """The newest table run with data-quality counts, per table (`runs` newest first)."""
    found: dict[tuple[str, str, str], TableRunRecord] = {}
    for tr in runs:
        if tr.source_count is not None and tr.canonical_count is not None:
            found.setdefault((tr.tenant_id, tr.service, tr.table), tr)
    return found


def print_operating(ctx: PipelineContext, tenant: str | None, history: list[TableRunRecord], now: datetime,
                    console: Console | None = None, limit: int | None = None, service: str | None = None) -> None:
    """`avesa status`'s part on operating: the next run of each tenant's service (the first `limit`),
    and a line for each table whose last full sync counted differently from the lake."""

    out = console or default_console
    upcoming = {k: v for k, v in next_syncs(ctx, now).items()
                if tenant in (None, k[0]) and service in (None, k[1])}
    history = [tr for tr in history if service in (None, tr.service)]
    counted, tolerance = last_counts(history), ctx.settings.count_tolerance
    if upcoming:
        table = Table("tenant / service", "next run (UTC)", "counts of the last full sync (source = lake)",
                      title="next runs (`avesa serve`; `avesa schedule show`)", title_justify="left")
        keys = sorted(upcoming)
        for key in keys[:limit]:
            cells = [count_cell(tr, tolerance) + f" {k[2]}" for k, tr in sorted(counted.items()) if k[:2] == key]
            table.add_row(*literals("/".join(key), upcoming[key], "; ".join(cells) or "-"))
        out.print(table)
        if limit is not None and len(keys) > limit:
            out.print(Text(f"{len(keys) - limit:,} more services: `avesa schedule show` lists every schedule"))
    for line in count_warnings(counted, tolerance):
        out.print(line, soft_wrap=True)


def count_cell(tr: TableRunRecord | None, tolerance: float) -> str:
    """`1,204 = 1,204`, or `1,204 ≠ 1,203` when the difference is beyond the tolerance; `-` without counts."""
    if tr is None or tr.source_count is None or tr.canonical_count is None:
        return "-"
    mark = "≠" if beyond_tolerance(tr.source_count, tr.canonical_count, tolerance) else "="
    return f"{tr.source_count:,} {mark} {tr.canonical_count:,}"


def count_warnings(counted: dict[tuple[str, str, str], TableRunRecord], tolerance: float) -> list[Text]:
    """One line per table whose last full sync's counts differ beyond the tolerance, saying what to do."""
    lines = []
    for key in sorted(counted):
        tr = counted[key]
        if not beyond_tolerance(tr.source_count, tr.canonical_count, tolerance):
            continue
        assert tr.source_count is not None and tr.canonical_count is not None
        difference = tr.source_count - tr.canonical_count
        side = f"{difference:,} fewer" if difference > 0 else f"{-difference:,} more"
        lines.append(Text.assemble(
            ("count mismatch", "yellow"), " ", Text("/".join(key)),
            f": the source counts {tr.source_count:,} records, the lake holds {tr.canonical_count:,} live rows "
            f"({side}, beyond AVESA_COUNT_TOLERANCE {tolerance:g}) after the full sync of run ",
            Text(tr.run_id), "; run the full sync again (`avesa run --full --tenant ", Text(key[0]),
            " --service ", Text(key[1]), "`) — a difference that stays means records the API lists "
            "differently from how it counts them"))
    return lines
