"""Cut a table's range into chunks that each hold about one chunk's worth of work.

Two inputs decide "one chunk's worth": the configured record target, and what earlier runs
measured — a chunk should finish well inside its deadline, so a slow API (few records a second)
gets smaller chunks. Change timestamps are rarely uniform (a migration touches 50,000 records in
one minute; years pass with a few edits), so an even split by time is only the first guess: each
piece is counted and a dense one bisected again, down to one second or one page of records.
Adjacent sparse pieces are then joined, so a quiet year is one chunk, not twelve nearly empty ones.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avesa.domain.work import TableRef
    from avesa.pipeline.context import PipelineContext

Span = tuple[datetime, datetime, int]
"""[start, end) and how many records it holds."""
Counter = Callable[[datetime, datetime], Awaitable[int | None]]

DENSE_FACTOR = 1.5
"""A piece holding more than this many targets is bisected again."""
MAX_ROUNDS = 8
"""Cutting rounds at most: each round costs one concurrent batch of count requests. With
`SPLIT_WAYS` pieces a round, 8 rounds narrow a year to about a second."""
SPLIT_WAYS = 16
"""A dense piece is cut into at most this many (fewer when its count needs fewer)."""
DEADLINE_SHARE = 0.5
"""A chunk should need at most this share of its deadline at the throughput earlier runs measured."""


def target_records(configured: int, page_size: int, records_per_second: float | None,
                   deadline_seconds: float) -> int:
    """Records per chunk: the configured target, lowered so a chunk fits its deadline at the
    measured speed; never below one page (a smaller chunk costs a request and saves nothing)."""
    target = configured
    if records_per_second is not None and records_per_second > 0:
        target = min(target, int(records_per_second * deadline_seconds * DEADLINE_SHARE))
    return max(page_size, target)


def even_split(start: datetime, end: datetime, pieces: int) -> list[tuple[datetime, datetime]]:
    """`[start, end)` in `pieces` contiguous second-aligned half-open ranges covering it."""
    total = int((end - start).total_seconds())
    pieces = max(1, min(pieces, total)) if total > 0 else 1
    bounds = [start + timedelta(seconds=(total * i) // pieces) for i in range(pieces)] + [end]
    return [(bounds[i], bounds[i + 1]) for i in range(pieces) if bounds[i] < bounds[i + 1]] or [(start, end)]


def _dense(span: Span, target: int) -> bool:
    start, end, count = span
    return count > DENSE_FACTOR * target and (end - start) >= timedelta(seconds=2)


async def refine(spans: list[Span], target: int, count: Counter, *, max_rounds: int = MAX_ROUNDS) -> list[Span]:
    """Bisect dense spans (counting the halves concurrently) until each holds about `target`
    records or cannot be cut further (one second wide), or `max_rounds` rounds were spent."""
    for _ in range(max_rounds):
        dense = [span for span in spans if _dense(span, target)]
        if not dense:
            break
        pieces = {span: even_split(span[0], span[1], max(2, min(SPLIT_WAYS, math.ceil(span[2] / target))))
                  for span in dense}
        todo = [piece for parts in pieces.values() for piece in parts]
        counts = await asyncio.gather(*(count(lo, hi) for lo, hi in todo))
        if any(n is None for n in counts):
            break  # the API stopped counting; keep the estimate we have
        found = dict(zip(todo, counts, strict=True))
        refined: list[Span] = []
        for span in spans:
            if span in pieces:
                refined.extend((lo, hi, found[(lo, hi)] or 0) for lo, hi in pieces[span])
            else:
                refined.append(span)
        spans = refined
    return spans


def join_sparse(spans: list[Span], target: int) -> list[Span]:
    """Join neighbouring spans while together they stay within the target; an empty span always
    joins a neighbour. The result still tiles the whole range: a gap would be a place where a record
    whose change the source stamped late (clock skew) could fall between chunks and be missed."""
    joined: list[Span] = []
    for start, end, n in spans:
        if joined and (n == 0 or joined[-1][2] + n <= target):
            previous = joined.pop()
            joined.append((previous[0], end, previous[2] + n))
        else:
            joined.append((start, end, n))
    if len(joined) > 1 and joined[0][2] == 0:
        first, second = joined[0], joined[1]
        joined[:2] = [(first[0], second[1], second[2])]
    return joined


def first_guess(start: datetime, end: datetime, count: int, target: int) -> list[Span]:
    """An even split by time, each piece's count estimated as an even share."""
    parts = even_split(start, end, max(1, math.ceil(count / target)))
    share = math.ceil(count / len(parts)) if count else 0
    return [(lo, hi, share) for lo, hi in parts]


async def plan_spans(start: datetime, end: datetime, count: int, target: int, counter: Counter | None) -> list[Span]:
    """The chunks' spans for `[start, end)` holding `count` records."""
    if count <= 0 or start >= end:
        return []
    spans = first_guess(start, end, count, target)
    if len(spans) == 1 or counter is None:
        return spans
    counts = await asyncio.gather(*(counter(lo, hi) for lo, hi, _ in spans))
    if any(n is None for n in counts):
        return spans
    measured = [(lo, hi, n or 0) for (lo, hi, _), n in zip(spans, counts, strict=True)]
    return join_sparse(await refine(measured, target, counter), target)


SPLIT_FACTOR = 2.0
"""A running chunk splits itself when what is left exceeds this many chunks' worth."""


def should_halve(remaining_after_page: int, target: int, page_size: int, spare: Callable[[], int] | None) -> bool:
    """Whether a running chunk should hand half the rest of its range to a new chunk: when more than
    SPLIT_FACTOR chunks' worth is left; or, when `spare()` says more chunks could read right now with
    nobody waiting (the end of a run, where the last chunks would read their pages one after
    another while other slots idle), when more than a page is left.

    Halving rather than one piece per chunk's worth at once, because it measured better
    (docs/benchmarks.md): a half that is still dense halves again when its own first page says so,
    so the cuts follow the records, while an n-way even cut hands whole pieces to stretches with
    nothing in them (a request each that reads nothing) and gives every piece a partial last page.
    The per-table cap on chunks (4) bounds what a wider cut could start at once anyway."""
    if remaining_after_page > SPLIT_FACTOR * target:
        return True
    return remaining_after_page > page_size and spare is not None and spare() > 0


def split_points(start: datetime, end: datetime, pieces: int) -> list[datetime]:
    """Boundaries cutting `[start, end)` into `pieces` ranges of equal time, whole seconds, strictly
    inside the range. Even by time on purpose: the only sample a running chunk has (its first page)
    holds the lowest ids, whose change stamps lean old, and cuts following them were measured to
    make lopsided chunks (docs/benchmarks.md); a piece that is still dense splits again."""
    return [piece_start for piece_start, _ in even_split(start, end, pieces)[1:] if start < piece_start < end]


def chunk_target(ctx: PipelineContext, ref: TableRef) -> int:
    """Records per chunk for this table: the setting, lowered when earlier runs show the API is too
    slow to read that many within a chunk's deadline."""
    measured = ctx.state.recent_throughput(*ref.key)
    speed = measured[0] / measured[1] if measured else None
    return target_records(ctx.settings.target_chunk_records, ctx.settings.page_size, speed,
                          ctx.settings.chunk_deadline_seconds)
