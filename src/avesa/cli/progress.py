"""Live progress while a run goes (tables, chunks, records/s, the merge phase) and the summary
table after.

On a terminal the display fits the screen whatever the number of tables: one line per table while
they fit, else a roll-up — an overall bar, one line per tenant and the slowest tables at work
(`RunBoard`). Off a terminal (a pipe, a log file, CI, systemd's journal) rich draws nothing until
the run ends, so plain lines are printed instead as the run goes (`PlainProgress`): one when a
table ends, and a summary line every AVESA_PROGRESS_INTERVAL_SECONDS while anything moves.

Table labels and error messages are printed as text, never as markup (see cli/common.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.style import Style
from rich.table import Table
from rich.text import Text

from avesa.cli.common import literals, table_title
from avesa.domain.errors import AvesaError
from avesa.domain.work import TablePlan, TableRef, TableResult, TableStatus
from avesa.runtime.local import RunSummary
from avesa.settings import Settings


class PlainProgress:
    """Progress as plain lines for output that is not a terminal (see the module)."""

    def __init__(self, write: Callable[[str], None], interval: float, label: str = "run",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.interval = interval
        self.label = label
        self.clock = clock
        self.started = clock()
        self._last_line = self.started
        self.tables_started = self.tables_done = self.tables_failed = 0
        self.chunks_planned = self.chunks_done = 0
        self.records = 0
        self.merging: set[str] = set()

    def line(self) -> str:
        elapsed = max(1e-9, self.clock() - self.started)
        running = self.tables_started - self.tables_done
        failed = f", {self.tables_failed} failed" if self.tables_failed else ""
        merging = f" ({len(self.merging)} merging)" if self.merging else ""
        return (f"{self.label}: {self.tables_done} tables done{failed}, {running} running{merging}; chunks "
                f"{self.chunks_done}/{self.chunks_planned}; {self.records:,} records, "
                f"{self.records / elapsed:,.0f} rec/s, {elapsed:,.0f}s")

    def _tick(self) -> None:
        now = self.clock()
        if now - self._last_line >= self.interval:
            self._last_line = now
            self.write(self.line())

    def table_started(self, ref: TableRef) -> None:
        self.tables_started += 1
        self._tick()

    def table_planned(self, plan: TablePlan) -> None:
        self.chunks_planned += len(plan.chunks)
        self._tick()

    def records_landed(self, ref: TableRef, count: int) -> None:
        self.records += count
        self._tick()

    def chunk_finished(self, ref: TableRef) -> None:
        self.chunks_done += 1
        self._tick()

    def chunks_added(self, ref: TableRef, count: int) -> None:
        self.chunks_planned += count

    def table_merging(self, ref: TableRef) -> None:
        self.merging.add(ref.label)
        self._tick()

    def table_finished(self, result: TableResult) -> None:
        self.merging.discard(result.table.label)
        self.tables_done += 1
        self.tables_failed += result.status is TableStatus.FAILED
        rate = result.records / result.seconds if result.seconds > 0 else 0.0
        self.write(f"{self.label}: {result.table.label} {result.status.value}: {result.records:,} records, "
                   f"{result.versions_created:,} versions in {result.seconds:.1f}s ({rate:,.0f} rec/s)"
                   + (f" — {result.error}" if result.error else ""))
        self._tick()


def progress_interval() -> float:
    """AVESA_PROGRESS_INTERVAL_SECONDS (30 s unless set)."""
    try:
        return Settings().progress_interval_seconds
    except (ValueError, AvesaError):  # a bad setting is reported by the command that reads the settings
        return 30.0


_DONE_PHASES = {"ok", "failed", "cancelled", "stopped"}
_MARKS = {"ok": ("✓", "green"), "failed": ("✗", "red"), "cancelled": ("-", "yellow"), "stopped": ("…", "yellow")}


@dataclass
class TableProgress:
    """One table of a run as the display knows it."""

    tenant: str
    label: str
    started: float
    chunks_total: int | None = None
    chunks_done: int = 0
    records: int = 0
    phase: str = "planning"  # planning, extracting, merging, then ok, failed, cancelled or stopped
    ended: float | None = None

    def seconds(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started

    @property
    def done(self) -> bool:
        return self.phase in _DONE_PHASES


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _count(value: int) -> str:
    """12,345 or 1.2M: a column of records stays narrow."""
    return f"{value / 1e6:.1f}M" if value >= 10_000_000 else f"{value:,}"


class RunBoard:
    """What a run's tables are doing, drawn to fit a terminal of any height (see the module): rich
    calls `__rich_console__` with the console's size on every refresh."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.tables: dict[str, TableProgress] = {}

    # ---- what the executor reports ----
    def table_started(self, ref: TableRef) -> None:
        self.tables[ref.label] = TableProgress(ref.tenant_id, ref.label, self.clock())

    def _table(self, ref: TableRef) -> TableProgress:
        if ref.label not in self.tables:
            self.table_started(ref)
        return self.tables[ref.label]

    def table_planned(self, plan: TablePlan) -> None:
        table = self._table(plan.table)
        table.chunks_total = len(plan.chunks)
        table.phase = "extracting"

    def records_landed(self, ref: TableRef, count: int) -> None:
        self._table(ref).records += count

    def chunk_finished(self, ref: TableRef) -> None:
        self._table(ref).chunks_done += 1

    def chunks_added(self, ref: TableRef, count: int) -> None:
        table = self._table(ref)
        table.chunks_total = (table.chunks_total or 0) + count

    def table_merging(self, ref: TableRef) -> None:
        self._table(ref).phase = "merging"

    def table_finished(self, result: TableResult) -> None:
        table = self._table(result.table)
        table.ended = self.clock()
        table.phase = {TableStatus.COMPLETE: "ok", TableStatus.FAILED: "failed",
                       TableStatus.CANCELLED: "cancelled"}.get(result.status, "stopped")

    # ---- drawing ----
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or console.size.height
        yield self.render(options.max_width, height)

    def render(self, width: int, height: int) -> Group:
        """The display in at most `height - 1` lines of `width` columns."""
        now, lines = self.clock(), max(3, height - 1)
        tables = list(self.tables.values())
        parts = [self._overall(tables, now, width)]
        if 1 + len(tables) <= lines:
            parts += [self._table_line(t, now, width) for t in tables]
            return Group(*parts)
        at_work = sorted((t for t in tables if not t.done), key=lambda t: -t.seconds(now))
        slow = min(len(at_work), max(3, (lines - 1) // 3))
        room = lines - 1 - (1 + slow if slow else 0) - 1  # overall, slowest and their header, tenants' header
        parts.append(Text("tenants", style="bold"))
        parts += self._tenant_lines(tables, width, room)
        if slow:
            parts.append(Text("slowest tables at work", style="bold"))
            parts += [self._table_line(t, now, width) for t in at_work[:slow]]
        return Group(*parts)

    def _overall(self, tables: list[TableProgress], now: float, width: int) -> Text:
        done = [t for t in tables if t.done]
        failed = sum(t.phase == "failed" for t in tables)
        merging = sum(t.phase == "merging" for t in tables)
        records = sum(t.records for t in tables)
        elapsed = max(1e-9, now - self.started)
        facts = [f"{len(done)}/{len(tables)} tables"]
        if failed:
            facts.append(f"{failed} failed")
        if merging:
            facts.append(f"{merging} merging")
        facts += [f"chunks {sum(t.chunks_done for t in tables)}/{sum(t.chunks_total or 0 for t in tables)}",
                  f"{_count(records)} rec", f"{records / elapsed:,.0f} rec/s", _duration(elapsed)]
        line = Text.assemble(("run ", "bold"), _bar(len(done), len(tables), _bar_width(width)), " ",
                             (" · ".join(facts), "red" if failed else ""))
        return _fitted(line, width)

    def _table_line(self, table: TableProgress, now: float, width: int) -> Text:
        mark, style = _MARKS.get(table.phase, ("", ""))
        total = table.chunks_total
        fields = [  # (text, width, priority: the lowest goes first when the line is too narrow)
            (_bar(table.chunks_done, total, _bar_width(width)), _bar_width(width), 1),
            (Text(f"{table.chunks_done}/{total}" if total is not None else "-", justify="right"), 9, 4),
            (Text(f"{_count(table.records)} rec", justify="right"), 12, 2),
            (Text(table.phase, style="cyan" if table.phase == "merging" else style), 10, 5),
            (Text(_duration(table.seconds(now)), justify="right"), 7, 3),
        ]
        return _columns((f"{mark} " if mark else "  ", style), table.label, fields, width, label_min=24)

    def _tenant_lines(self, tables: list[TableProgress], width: int, room: int) -> list[Text]:
        by_tenant: dict[str, list[TableProgress]] = {}
        for table in tables:
            by_tenant.setdefault(table.tenant, []).append(table)

        def order(item: tuple[str, list[TableProgress]]) -> tuple[int, int, str]:
            tenant, own = item
            failed = any(t.phase == "failed" for t in own)
            at_work = any(not t.done for t in own)
            return (0 if failed else 1 if at_work else 2, -len(own), tenant)

        ranked = sorted(by_tenant.items(), key=order)
        shown = ranked if len(ranked) <= room else ranked[:max(0, room - 1)]
        rows = []
        for tenant, own in shown:
            done = sum(t.done for t in own)
            failed = sum(t.phase == "failed" for t in own)
            merging = sum(t.phase == "merging" for t in own)
            facts = [f"{done}/{len(own)} tables", f"{_count(sum(t.records for t in own))} rec"]
            if merging:
                facts.append(f"{merging} merging")
            if failed:
                facts.append(f"{failed} failed")
            rows.append((tenant, done, len(own), Text(" · ".join(facts), style="red" if failed else "")))
        facts_width = min(max((len(r[3]) for r in rows), default=0), max(8, width - 17))
        lines = [_columns(("", ""), tenant, [(_bar(done, total, _bar_width(width)), _bar_width(width), 1),
                                            (facts, facts_width, 2)], width, style=facts.style)
                 for tenant, done, total, facts in rows]
        hidden = ranked[len(shown):]
        if hidden:
            finished = sum(all(t.done for t in own) for _, own in hidden)
            lines.append(_fitted(Text(f"… {len(hidden)} more tenants ({finished} done, {len(hidden) - finished} at "
                                      "work)", style="dim"), width))
        return lines


def _bar_width(width: int) -> int:
    return max(6, min(24, width // 6))


def _bar(done: int, total: int | None, width: int) -> Text:
    """A bar of `width` cells, `done` of `total` filled (rich's style); dim when the total is unknown."""
    if not total:
        return Text("━" * width, style="bar.back")
    filled = min(width, round(width * done / total))
    return Text.assemble(("━" * filled, "bar.finished" if done >= total else "bar.complete"),
                         ("━" * (width - filled), "bar.back"))


def _fitted(line: Text, width: int) -> Text:
    line.no_wrap, line.overflow = True, "ellipsis"
    line.truncate(width, overflow="ellipsis")
    return line


def _short(label: str, room: int) -> str:
    """`tenant/service/table` in `room` columns: the service goes first (`acme/…/tickets`), then the end."""
    if len(label) <= room:
        return label
    pieces = label.split("/")
    if len(pieces) == 3 and len(shorter := f"{pieces[0]}/…/{pieces[2]}") <= room:
        return shorter
    return label[:max(0, room - 1)] + "…"


def _columns(mark: tuple[str, str], label: str, fields: list[tuple[Text, int, int]], width: int,
             label_min: int = 16, style: str | Style = "") -> Text:
    """`mark` and `label`, then each field padded to its width, dropping the least important fields
    while the label would get fewer than `label_min` columns; the label is shortened to what is left."""
    kept = list(fields)
    while kept and width - len(mark[0]) - sum(w + 1 for _, w, _ in kept) < label_min:
        kept.remove(min(kept, key=lambda field: field[2]))
    room = max(1, width - len(mark[0]) - sum(w + 1 for _, w, _ in kept))
    shown = _short(label, room)
    parts: list[str | Text] = [Text(mark[0], style=mark[1]), Text(shown + " " * (room - len(shown)), style=str(style))]
    for text, w, _ in kept:
        cell = text.copy()
        cell.truncate(w, overflow="ellipsis")
        pad = w - cell.cell_len
        parts += [" ", Text(" " * pad) + cell if cell.justify == "right" else cell + Text(" " * pad)]
    return _fitted(Text.assemble(*parts), width)


class RichRunObserver:
    """The run as it goes: `RunBoard` redrawn live on a terminal; plain lines (`PlainProgress`) off one."""

    def __init__(self, console: Console, interval: float | None = None) -> None:
        self.board = RunBoard()
        self._plain = None if console.is_terminal else PlainProgress(
            lambda line: console.print(Text(line), soft_wrap=True),
            progress_interval() if interval is None else interval)
        self._live = Live(self.board, console=console, refresh_per_second=4, transient=False,
                          vertical_overflow="crop") if console.is_terminal else None

    def __enter__(self) -> RichRunObserver:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, traceback)
        if self._plain is not None and self._plain.tables_started:
            self._plain.write(self._plain.line())  # off a terminal, the totals once more at the end

    def table_started(self, ref: TableRef) -> None:
        self.board.table_started(ref)
        if self._plain is not None:
            self._plain.table_started(ref)

    def table_planned(self, plan: TablePlan) -> None:
        self.board.table_planned(plan)
        if self._plain is not None:
            self._plain.table_planned(plan)

    def records_landed(self, ref: TableRef, count: int) -> None:
        self.board.records_landed(ref, count)
        if self._plain is not None:
            self._plain.records_landed(ref, count)

    def chunk_finished(self, ref: TableRef) -> None:
        self.board.chunk_finished(ref)
        if self._plain is not None:
            self._plain.chunk_finished(ref)

    def chunks_added(self, ref: TableRef, count: int) -> None:
        self.board.chunks_added(ref, count)
        if self._plain is not None:
            self._plain.chunks_added(ref, count)

    def table_merging(self, ref: TableRef) -> None:
        self.board.table_merging(ref)
        if self._plain is not None:
            self._plain.table_merging(ref)

    def table_finished(self, result: TableResult) -> None:
        self.board.table_finished(result)
        if self._plain is not None:
            self._plain.table_finished(result)


def summary_table(summary: RunSummary, title: str | None = None) -> Table:
    table = Table(title=table_title(title or f"run {summary.run_id}"), title_justify="left")
    for column, justify in [("tenant", "left"), ("service", "left"), ("table", "left"), ("mode", "left"),
                            ("records", "right"), ("versions", "right"), ("deletes", "right"),
                            ("seconds", "right"), ("rec/s", "right"), ("status", "left")]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in sorted(summary.results, key=lambda r: r.table.key):
        rate = r.records / r.seconds if r.seconds > 0 else 0.0
        table.add_row(*literals(r.table.tenant_id, r.table.service, r.table.table, r.table.mode.value,
                                f"{r.records:,}", f"{r.versions_created:,}", f"{r.deletes:,}", f"{r.seconds:.1f}",
                                f"{rate:,.0f}"), _status(r))
    return table


def _status(result: TableResult) -> Text:
    if result.status is TableStatus.COMPLETE:
        return Text("ok", "green")
    if result.status is TableStatus.CANCELLED:
        return Text("cancelled", "yellow")
    # folded, not cut with an ellipsis: a quoted body has long unbreakable stretches
    return Text.assemble(("failed", "red"), " ", result.error or "", overflow="fold")


def rate_limit_notes(summary: RunSummary) -> list[Text]:
    """One line per tenant's service that answered with rate limits: how often, how much the run
    slowed down for it, and the rate the source let through — the figures of the run's log."""
    notes = []
    for where, f in sorted(summary.rate_limits.items()):
        share = f"{f['http_429']} of {f['requests']} requests"
        achieved = f", {f['achieved_per_minute']:g}/min achieved" if f["achieved_per_minute"] is not None else ""
        notes.append(Text.assemble(
            (f"{where} rate limited", "yellow"),
            f": {share} answered 429; the budget went down to {f['lowest_per_minute']:g}/min (documented "
            f"{f['documented_per_minute']:g}/min){achieved}, paused {f['paused_seconds']:.1f}s by Retry-After"))
    return notes
