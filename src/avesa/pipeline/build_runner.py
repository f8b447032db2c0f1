"""Where a table's canonical build runs: in a thread of this process, or in a process of its own.

Extraction is an event loop doing Python work for every page (decoding, checks, raw files); a
canonical build is Python work for every record (mapping) and Delta I/O. In one process they take
turns holding the interpreter lock, so a run used about one core of two. `ProcessBuilds` runs the
builds in a small pool of worker processes (`AVESA_BUILD_PROCESSES`; by default one when the
machine has a second core), so the extraction loop never waits behind a merge.

Nothing of the run's guarantees moves with it: the build reads only finished raw files, the
ledger is read and written by the parent (`pipeline/finalize.py` reads the chunks before and moves
the watermark after), and two builds of one canonical table — from two processes as from two
threads — are serialised by the merge's commit protocol (`lake/delta_merge.py`).

The pool is shared by every run of the process (`avesa serve` runs many) and started on first use
with the `spawn` method: a forked copy of a process with running threads (the event loop's
workers, Arrow's and Delta's pools) may inherit a lock held mid-operation. A worker that dies
(killed for memory, say) fails the builds it held with a message saying so, and the next build
starts a new pool. Only a local lake is built in another process: an object store's credentials
come from the environment the parent may still change (tests do; a refreshed role does), so those
builds stay in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import ClassVar

from avesa.domain.errors import AvesaError
from avesa.observability import events, stage_cpu
from avesa.pipeline.canonical_build import BuiltVersions, CanonicalBuild, build_canonical
from avesa.pipeline.failures import failure_message

CanonicalBuilder = Callable[[CanonicalBuild], Awaitable[BuiltVersions]]
"""Runs one table's build somewhere and returns what it did (raises what the build raised)."""


class BuildFailed(AvesaError):
    """A build in a worker process failed: the message is the one the build's error would have given."""


@dataclass(frozen=True)
class _Failure:
    """A worker's error, carried back as text: not every exception can be pickled and rebuilt."""

    message: str
    unexpected: bool
    error_type: str
    traceback: str


async def build_in_thread(job: CanonicalBuild) -> BuiltVersions:
    """The build in a thread of this process (one core; the only way on a single-core machine)."""
    return await asyncio.to_thread(build_canonical, job)


def default_build_processes() -> int:
    """One worker process when the machine has a second core, else none (builds in a thread)."""
    return 1 if (os.cpu_count() or 1) > 1 else 0


def _build_reporting(job: CanonicalBuild) -> BuiltVersions | _Failure:
    """The worker process's side: the build, its stage CPU, or its error as text."""
    before = stage_cpu.snapshot()
    try:
        built = build_canonical(job)
    except Exception as exc:  # every failure is the table's, reported by the parent
        return _Failure(message=failure_message(job.table, exc), unexpected=not isinstance(exc, AvesaError),
                        error_type=type(exc).__name__,
                        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    built.stage_seconds = stage_cpu.since(before)
    return built


PARENT_CHECK_SECONDS = 1.0


def _watch_parent(parent: int) -> None:
    """Each worker ends itself once the process that started it is gone: a parent killed outright
    (`kill -9`, the OOM killer) never shuts its pool down, and the idle worker would wait for work
    forever. Nothing is lost: a build it held is redone by the next run (its watermark never moved)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="avesa-parent-watch", daemon=True).start()


def _ready() -> None:
    """A task that only makes a worker start: its imports (pyarrow, deltalake, the engine) then
    happen while the run extracts, not when the first table is built."""


class ProcessBuilds:
    """Builds in a pool of `processes` worker processes, shared by every run of this process."""

    _pools: ClassVar[dict[int, ProcessPoolExecutor]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("a process pool needs at least one process")
        self.processes = processes

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            pool = self._pools.get(self.processes)
            if pool is None:
                pool = self._pools[self.processes] = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_watch_parent, initargs=(os.getpid(),))
            return pool

    def _forget(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pools.get(self.processes) is pool:
                del self._pools[self.processes]
        pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Start the workers now (a run calls this as it begins); a pool whose worker died since the
        last run is replaced first."""
        pool = self._pool()
        try:
            for _ in range(self.processes):
                pool.submit(_ready)
        except BrokenProcessPool:
            self._forget(pool)
            self.start()

    async def __call__(self, job: CanonicalBuild) -> BuiltVersions:
        pool = self._pool()
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(pool, _build_reporting, job)
        except BrokenProcessPool:
            self._forget(pool)
            raise BuildFailed(f"{job.table.label}: the process building the canonical table ended before the "
                              "build did (killed, perhaps for memory); nothing of this table's run was lost: the "
                              "watermark stays, so the next run builds it again. If it recurs, lower "
                              "AVESA_BUILD_PROCESSES or give the machine more memory") from None
        if isinstance(outcome, _Failure):
            if outcome.unexpected:
                ref = job.table
                events.emit("table_error", level=logging.ERROR, run_id=ref.run_id, tenant_id=ref.tenant_id,
                            service=ref.service, table=ref.table, stage="finalize", error_type=outcome.error_type,
                            traceback=outcome.traceback)
            raise BuildFailed(outcome.message)
        stage_cpu.charge(outcome.stage_seconds)
        return outcome


def canonical_builder(processes: int | None, *, local_lake: bool) -> CanonicalBuilder:
    """Where builds run: `processes` worker processes (None: `default_build_processes()`), or a thread
    when that is 0 or the lake is not local."""
    count = default_build_processes() if processes is None else processes
    if count == 0 or not local_lake:
        return build_in_thread
    return ProcessBuilds(count)
