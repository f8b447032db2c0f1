"""Rich progress while a run extracts (tables, chunks, records/s) and the summary table after.

Off a terminal (a pipe, a log file, CI, systemd's journal) rich draws nothing until the run ends, so
plain lines are printed instead as the run goes (`PlainProgress`): one when a table ends, and a
summary line every AVESA_PROGRESS_INTERVAL_SECONDS while anything moves.

Table labels and error messages are printed as text, never as markup (see cli/common.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
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

    def line(self) -> str:
        elapsed = max(1e-9, self.clock() - self.started)
        running = self.tables_started - self.tables_done
        failed = f", {self.tables_failed} failed" if self.tables_failed else ""
        return (f"{self.label}: {self.tables_done} tables done{failed}, {running} running; chunks "
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

    def table_finished(self, result: TableResult) -> None:
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


class RichRunObserver:
    """One line per table while it runs: chunks done of planned, records landed, records/s. Off a
    terminal, plain lines as well (`PlainProgress`)."""

    def __init__(self, console: Console, interval: float | None = None) -> None:
        self._plain = None if console.is_terminal else PlainProgress(
            lambda line: console.print(Text(line), soft_wrap=True),
            progress_interval() if interval is None else interval)
        self.progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("chunks"),
            TextColumn("{task.fields[records]:>8,} rec"),
            TextColumn("{task.fields[rate]:>7,.0f} rec/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._records: dict[str, int] = {}

    def __enter__(self) -> RichRunObserver:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def table_started(self, ref: TableRef) -> None:
        if self._plain is not None:
            self._plain.table_started(ref)
        self._records[ref.label] = 0
        # the description column is a markup template: the label goes in escaped
        self._tasks[ref.label] = self.progress.add_task(escape(ref.label), total=None, records=0, rate=0.0)

    def table_planned(self, plan: TablePlan) -> None:
        if self._plain is not None:
            self._plain.table_planned(plan)
        self.progress.update(self._tasks[plan.table.label], total=max(1, len(plan.chunks)),
                             completed=0 if plan.chunks else 1)

    def records_landed(self, ref: TableRef, count: int) -> None:
        if self._plain is not None:
            self._plain.records_landed(ref, count)
        self._records[ref.label] += count
        task = self.progress.tasks[self._tasks[ref.label]]
        elapsed = task.elapsed or 0.0
        rate = self._records[ref.label] / elapsed if elapsed > 0 else 0.0
        self.progress.update(self._tasks[ref.label], records=self._records[ref.label], rate=rate)

    def chunk_finished(self, ref: TableRef) -> None:
        if self._plain is not None:
            self._plain.chunk_finished(ref)
        self.progress.advance(self._tasks[ref.label])

    def chunks_added(self, ref: TableRef, count: int) -> None:
        if self._plain is not None:
            self._plain.chunks_added(ref, count)
        task = self.progress.tasks[self._tasks[ref.label]]
        self.progress.update(self._tasks[ref.label], total=(task.total or 0) + count)

    def table_finished(self, result: TableResult) -> None:
        if self._plain is not None:
            self._plain.table_finished(result)
        label = result.table.label
        task = self._tasks.get(label)
        if task is None:
            return
        marks = {TableStatus.COMPLETE: "[green]✓[/]", TableStatus.CANCELLED: "[yellow]-[/]"}
        mark = marks.get(result.status, "[red]✗[/]")
        self.progress.update(task, description=f"{mark} {escape(label)}")
        self.progress.stop_task(task)


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
