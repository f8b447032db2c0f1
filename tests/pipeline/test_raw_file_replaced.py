"""A chunk's raw file replaced after its checkpoint by a smaller one — what a worker that lost its
chunk while writing can still do to its successor's file of the same name — fails its table at
finalize instead of merging what is left; the watermark stays, so the next run reads it all again."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pytest

from avesa.lake.delta_tables import read_canonical
from avesa.lake.raw_files import iter_raw_batches, list_raw_files, write_raw_file
from avesa.pipeline import finalize
from avesa.pipeline.context import PipelineContext
from tests.pipeline.helpers import canonical, sync

SMALL = {"page_size": 20, "records_per_file": 40, "target_chunk_records": 1000}


def test_a_chunk_whose_file_lost_records_fails_its_table_and_the_next_run_reads_them_again(
        new_instance: Callable[..., str], register: Callable[..., str], make_ctx: Callable[..., PipelineContext],
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("short", counts={"service/tickets": 60}), tables=["service_tickets"])
    remove_temporary_files = finalize.remove_temporary_files

    def replace_the_first_file(directory: str, prefixes: list[str]) -> None:
        first = list_raw_files(directory, prefixes)[0]
        rows = pa.Table.from_batches(list(iter_raw_batches([first], directory)))
        write_raw_file(directory, first.rsplit("/", 1)[-1], rows.slice(0, rows.num_rows // 2))  # cut elsewhere
        remove_temporary_files(directory, prefixes)

    monkeypatch.setattr(finalize, "remove_temporary_files", replace_the_first_file)
    spoilt = sync(make_ctx(**SMALL))
    [tickets] = spoilt.results
    assert spoilt.status == "failed" and tickets.records == 60, tickets.error
    assert "the raw files of 1 chunk(s) hold fewer records than their checkpoints counted" in tickets.error
    ctx = make_ctx()
    assert ctx.state.get_watermark(tenant, "connectwise", "service_tickets") is None
    assert read_canonical(ctx.lake.canonical_uri(tenant, "tickets")) is None  # nothing merged

    monkeypatch.setattr(finalize, "remove_temporary_files", remove_temporary_files)
    again = sync(make_ctx(**SMALL))
    assert again.status == "complete"
    assert canonical(make_ctx(), tenant, "tickets").num_rows == 60
