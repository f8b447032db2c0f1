"""Cutting a table's id space into contiguous ranges, so that its id listing can read them side by
side: ``(-inf, b1], (b1, b2], …, (bK-1, +inf)``.

The listing of a large table is the tail of a run (it starts once every chunk was read), and read
as one keyset walk it costs one round trip per page, one after another. Ranges read at once cost
about as many requests, but the round trips overlap.

The ranges cover the id space however the boundaries were chosen: an id not in the first range is
above b1, one not in the second either is above b2, and so on to the last range, which is
unbounded. So the boundaries can come from anything the pipeline already knows of the table (this
run's raw files, the canonical table's keys): they only decide how evenly the work is shared, never
which ids are listed. Taken in the source's id order (``id_after``: numbers as numbers, other ids as
text) they never overlap either, and each id is in exactly one range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from avesa.connectors.rest import id_after

SEQUENTIAL_BELOW_PAGES = 4
"""A table of fewer pages of ids than this is listed in one walk: ranges would save a round trip
or two at most."""
PAGES_PER_RANGE = 2
"""Pages of ids a range holds, about: each range then costs two or three requests."""
MAX_RANGES = 8
"""At most this many ranges of one table at once: the HTTP client's cap on requests in flight and
the tenant's rate budget are shared with every other table and tenant of the run."""


@dataclass(frozen=True)
class IdRange:
    """The ids above ``after`` and at most ``through`` (None: unbounded on that side)."""

    after: str | None = None
    through: str | None = None

    def holds(self, record_id: str) -> bool:
        """Whether ``record_id`` is in the range, in the source's id order."""
        return ((self.after is None or id_after(record_id, self.after))
                and (self.through is None or not id_after(record_id, self.through)))


WHOLE = IdRange()


def range_count(ids: int, page_size: int, cap: int = MAX_RANGES) -> int:
    """How many ranges a listing of a table holding about ``ids`` ids, ``page_size`` a page, is cut
    into: 1 below SEQUENTIAL_BELOW_PAGES pages, else one per PAGES_PER_RANGE pages, at most ``cap``."""
    pages = math.ceil(ids / max(page_size, 1))
    if pages < SEQUENTIAL_BELOW_PAGES:
        return 1
    return max(1, min(cap, pages // PAGES_PER_RANGE))


def in_id_order(ids: Iterable[str]) -> list[str]:
    """Distinct ``ids`` in the source's order: as numbers when every one is a number (ConnectWise),
    else as text (sys_ids, Salesforce ids), the order ``id_after`` compares them in. A table's ids
    are all of one kind; text order is the fallback for any other mix."""
    distinct = set(ids)
    if all(rid.isascii() and rid.isdigit() for rid in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def split(ordered_ids: Sequence[str], count: int) -> list[IdRange]:
    """``count`` contiguous ranges covering every id, their boundaries taken from ``ordered_ids``
    (distinct known ids in id order, see in_id_order) so that each range holds about as many of
    them. Fewer ranges when fewer ids are known; one, unbounded, when none is."""
    known = len(ordered_ids)
    count = min(count, known)
    if count <= 1:
        return [WHOLE]
    picks = [ordered_ids[math.ceil(j * known / count) - 1] for j in range(1, count)]
    edges: list[str | None] = [None, *picks, None]
    return [IdRange(after, through) for after, through in pairwise(edges)]
