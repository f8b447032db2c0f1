"""Where a running chunk's pages go: buffered whole, landed as one raw Parquet file — only after a
renewal of the chunk's lease the ledger accepted — then the cursor checkpointed, in that order, so
a crash between the two rewrites the same deterministic file and loses nothing, and a worker that
lost its chunk never replaces the new holder's file (see pipeline/extract.py).

The sink owns the chunk's outcome while it runs (cursor, seq, files, records, pages, seconds):
every step that changes it is here, and the page loop in `run_chunk` only asks it to take a page,
to land what it holds, and whether it holds enough for a file.
"""

from __future__ import annotations

import time
from datetime import datetime

from avesa.domain.pages import Page
from avesa.domain.timeutil import compact_stamp, utc_now
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask
from avesa.lake.raw_files import build_raw_table, write_raw_file
from avesa.observability.stage_cpu import stage
from avesa.pipeline.context import PipelineContext
from avesa.state.ledger_records import ChunkRecord


class LeaseLost(Exception):
    """The ledger refused a checkpoint: the run was cancelled, or the chunk is another worker's now."""


class RawFileSink:
    """One attempt's pages of one chunk on their way to the raw lake and the ledger."""

    def __init__(self, ctx: PipelineContext, chunk: ChunkTask, record: ChunkRecord) -> None:
        self.ctx, self.chunk = ctx, chunk
        ref = chunk.table
        # Resume from the ledger's checkpoint, not from the caller's copy: it is the durable truth.
        self.outcome = ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.RUNNING, cursor=record.cursor,
                                    seq=record.seq, records=record.records, pages=record.pages,
                                    files=record.files, max_updated_at=record.max_updated_at,
                                    seconds=record.seconds)
        self._started, self._earlier_seconds = time.monotonic(), record.seconds
        self._deny = frozenset(ctx.catalog.service(ref.service).sensitive_fields)
        self._directory = ctx.lake.raw_dir(ref.tenant_id, ref.service, ref.table)
        self._stamp = compact_stamp(ref.run_started_at)
        self._pages: list[Page] = []
        self.buffered = 0
        """Records taken but not landed yet."""

    @property
    def seen(self) -> int:
        """Records of this chunk read so far: landed ones and those waiting for their file."""
        return self.outcome.records + self.buffered

    def take(self, page: Page) -> None:
        self._pages.append(page)
        self.buffered += len(page)

    def clock(self) -> None:
        """Bring the outcome's seconds up to now (every attempt's time, summed)."""
        self.outcome.seconds = self._earlier_seconds + (time.monotonic() - self._started)

    def land(self) -> None:
        """Write what the sink holds as one raw file and checkpoint the cursor after it; pages that
        only moved the cursor (Graph's empty pages with a next or delta link) just checkpoint.
        LeaseLost if the ledger refuses the checkpoint."""
        if not self._pages:
            return
        self.clock()
        pages, self._pages = self._pages, []
        outcome = self.outcome
        if self.buffered:
            self._hold_lease()
            self._write(pages)
            newest: datetime = max(max(page.updated_at) for page in pages if len(page))
            outcome.max_updated_at = newest if outcome.max_updated_at is None else max(outcome.max_updated_at, newest)
            outcome.seq += 1
            outcome.files += 1
            outcome.records += self.buffered
            self.buffered = 0
        outcome.cursor = pages[-1].last_id
        outcome.pages += len(pages)
        self._checkpoint()

    def _write(self, pages: list[Page]) -> None:
        ref, chunk = self.chunk.table, self.chunk
        with stage("raw_write"):
            table = build_raw_table(pages, tenant_id=ref.tenant_id, service=ref.service, table=ref.table,
                                    run_id=ref.run_id, chunk_id=chunk.chunk_id, extracted_at=utc_now(),
                                    deny=self._deny)
            write_raw_file(self._directory, self.ctx.lake.raw_file_name(self._stamp, chunk.chunk_id, self.outcome.seq),
                           table)

    def _hold_lease(self) -> None:
        """A file lands only while the lease is this worker's: a worker taken over after it read its
        pages (its run claimed by a newer execution, its lease expired) would otherwise replace the
        file of the same name the new holder wrote from the same cursor, its pages cut elsewhere —
        losing the records in between. LeaseLost if the ledger refuses the renewal."""
        ctx = self.ctx
        with stage("ledger"):
            if not ctx.state.renew_chunk_lease(self.chunk.chunk_id, ctx.owner, ctx.settings.lease_seconds, utc_now()):
                raise LeaseLost(self.chunk.chunk_id)

    def _checkpoint(self) -> None:
        ctx = self.ctx
        with stage("ledger"):
            kept = ctx.state.checkpoint_chunk(self.chunk.chunk_id, ctx.owner, self.outcome,
                                              ctx.settings.lease_seconds, utc_now())
        if not kept:
            raise LeaseLost(self.chunk.chunk_id)
