"""Data-quality counts after a full sync: the source's own count of a table (ConnectWise `/count`,
ServiceNow `X-Total-Count`, Salesforce `COUNT()`, Graph `$count`) beside the canonical table's live
rows of it.

A full sync has just read every record and closed the keys the source no longer lists, so the two
should agree. A difference beyond `AVESA_COUNT_TOLERANCE` (a fraction of the source count) means
records the pipeline did not land, or keys it kept that the source dropped: it is recorded on the
table run (`avesa status` shows it), emitted as a `count_mismatch` event and counted in the metrics.
The count is taken after the merge, over everything the source holds then, so records created
during the run (not yet landed) are the usual small, harmless difference the tolerance allows.

A count is advice, never a failure: an API that cannot count, or a count request that fails, leaves
the figures empty and the table complete.
"""

from __future__ import annotations

import asyncio
import logging

from avesa.domain.errors import AvesaError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import TableRef
from avesa.lake.canonical_reader import count_live
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.transform.mapping import CompiledMapping


def beyond_tolerance(source: int | None, canonical: int | None, tolerance: float) -> bool:
    """Whether the lake's live rows differ from the source's count by more than `tolerance` (a
    fraction of the source count; 0: any difference)."""
    if source is None or canonical is None:
        return False
    return abs(source - canonical) > tolerance * source


async def count_check(ctx: PipelineContext, ref: TableRef, mapping: CompiledMapping,
                      uri: str) -> tuple[int | None, int | None]:
    """(source count, live canonical rows) of `ref`'s table after its full sync's merge; (None,
    None) when the source cannot count. Emits `count_mismatch` beyond the tolerance."""
    connector = ctx.connector(ref.tenant_id, ref.service)
    try:
        source = await connector.count(ref.table, None, utc_now())
    except AvesaError as exc:
        events.emit("count_unavailable", level=logging.WARNING, run_id=ref.run_id, tenant_id=ref.tenant_id,
                    service=ref.service, table=ref.table, error=str(exc))
        return None, None
    if source is None:
        return None, None
    try:
        canonical = await asyncio.to_thread(count_live, uri, source_service=mapping.mapping.source_service,
                                            source_table=mapping.mapping.source_table)
    except Exception as exc:  # reading the lake for a count must never fail a table that merged
        events.emit("count_unavailable", level=logging.WARNING, run_id=ref.run_id, tenant_id=ref.tenant_id,
                    service=ref.service, table=ref.table, error=f"{type(exc).__name__}: {exc}")
        return source, None
    tolerance = ctx.settings.count_tolerance
    if beyond_tolerance(source, canonical, tolerance):
        events.emit("count_mismatch", level=logging.WARNING, run_id=ref.run_id, tenant_id=ref.tenant_id,
                    service=ref.service, table=ref.table, source_count=source, canonical_count=canonical,
                    difference=source - canonical, tolerance=tolerance)
    return source, canonical
