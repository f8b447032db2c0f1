"""The proof executor: the pipeline units run the way a serverless deployment runs them.

Every unit is called by name (`avesa.pipeline.units.call_unit`) in a context built afresh from the
process environment, with its payload passed as JSON text; plan-table, run-chunk and
finalize-table run in a pool of OS processes, several chunks at once, so nothing can travel
between units except through the payloads, the state store and the lake. Plan-run and finish-run
run in the calling process, which owns the run (as the state machine's first and last states do).

If this executor builds the same lake and history as runtime/local.py on the same source data,
the units keep the contract "a function of (context, JSON payload) → JSON payload".
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    ChunkAttempt,
    ChunkAttemptResult,
    ChunkOutcome,
    ChunkStatus,
    FinalizeRequest,
    FinishRunRequest,
    PlanRunRequest,
    RunEnd,
    RunRequest,
    RunWork,
    TablePlan,
    TableResult,
    TableWork,
)
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.units import call_unit
from avesa.settings import Settings


def run_unit(env: dict[str, str], name: str, payload: str) -> str:
    """One unit in a fresh context built from `env` (over this process's environment), JSON in and
    JSON out (what a Lambda handler does). The process's environment is left as it was."""
    before = dict(os.environ)
    os.environ.update(env)
    try:
        ctx = PipelineContext.from_settings(Settings())
    finally:
        os.environ.clear()
        os.environ.update(before)

    async def call() -> dict[str, Any] | None:
        try:
            return await call_unit(ctx, name, json.loads(payload))
        finally:
            await ctx.aclose()

    try:
        return json.dumps(asyncio.run(call()))
    finally:
        ctx.state.close()


def run_unit_in_worker(env: dict[str, str], name: str, payload: str) -> tuple[int, str]:
    """`run_unit` in a pool process, saying which process it was."""
    return os.getpid(), run_unit(env, name, payload)


class JsonUnitExecutor:
    def __init__(self, env: dict[str, str], workers: int = 3, deadline_seconds: float = 30.0) -> None:
        self.env = env
        self.deadline_seconds = deadline_seconds
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self.chunk_processes: set[int] = set()  # the OS processes that ran an attempt of a chunk
        self.most_chunks_at_once = 0

    def __enter__(self) -> JsonUnitExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _here(self, name: str, payload: BaseModel) -> Any:
        return json.loads(run_unit(self.env, name, payload.model_dump_json()))

    def _submit(self, name: str, payload: BaseModel) -> Future[tuple[int, str]]:
        return self.pool.submit(run_unit_in_worker, self.env, name, payload.model_dump_json())

    def _remote(self, name: str, payload: BaseModel) -> Any:
        return json.loads(self._submit(name, payload).result()[1])

    def run(self, request: RunRequest) -> tuple[RunEnd, list[TableResult]]:
        work = RunWork.model_validate(self._here("plan_run", PlanRunRequest(sync=request)))
        with ThreadPoolExecutor(max(1, len(work.tables))) as tables:
            results = list(tables.map(self._table, work.tables))
        end = RunEnd.model_validate(self._here("finish_run", FinishRunRequest(run_id=work.run_id)))
        return end, results

    def _deadline(self) -> datetime:
        return utc_now() + timedelta(seconds=self.deadline_seconds)

    def _table(self, item: TableWork) -> TableResult:
        chunks = item.chunks
        if chunks is None:
            chunks = TablePlan.model_validate(self._remote("plan_table", item.table)).chunks
        running: dict[Future[tuple[int, str]], ChunkAttempt] = {}
        queue = deque(ChunkAttempt(chunk=chunk, deadline=self._deadline()) for chunk in chunks)
        outcomes: list[ChunkOutcome] = []
        while queue or running:
            while queue:
                attempt = queue.popleft()
                running[self._submit("run_chunk", attempt)] = attempt
            self.most_chunks_at_once = max(self.most_chunks_at_once, len(running))
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                attempt = running.pop(future)
                pid, text = future.result()
                self.chunk_processes.add(pid)
                result = ChunkAttemptResult.model_validate_json(text)
                queue.extend(ChunkAttempt(chunk=child, deadline=self._deadline()) for child in result.split_off)
                if result.finished:
                    outcomes.append(result.outcome)
                else:
                    queue.append(result.next_attempt(attempt, self._deadline()))
        failed = [o for o in outcomes if o.status is not ChunkStatus.COMPLETE]
        return TableResult.model_validate(
            self._remote("finalize_table", FinalizeRequest(table=item.table, failed_chunks=failed)))
