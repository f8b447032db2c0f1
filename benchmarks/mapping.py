"""The mapping stage alone: `CompiledMapping.to_versions` over realistic ConnectWise tickets.

Tickets come from the sandbox's generator (the records the sandbox serves, as the API's JSON
text); the catalog's `connectwise/service_tickets` mapping turns them into a versions table. The
same records also go through the per-record mapping the fast path replaced
(tests/transform/mapping_reference.py), so the two figures are measured side by side on the same
machine and load. Each is timed `repeats` times in CPU time of this thread (`time.thread_time`,
so other processes on a shared machine count less) and the best run is reported, in µs per record.
The script also checks that both produce the same table and the same null counts.

Run: ``PYTHONPATH=src python benchmarks/mapping.py [records] [repeats]``.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "packages" / "avesa-sandbox" / "src")]  # run as a script

from tests.transform.mapping_reference import ReferenceMapping  # noqa: E402

from avesa.catalog.loader import load_catalog  # noqa: E402
from avesa.transform.mapping import CompiledMapping  # noqa: E402
from avesa_sandbox.connectwise.generate import generate  # noqa: E402
from avesa_sandbox.connectwise.references import References  # noqa: E402
from avesa_sandbox.connectwise.tables import table_counts  # noqa: E402
from benchmarks.timing import best_thread_seconds  # noqa: E402

STAMP = datetime(2025, 6, 1, tzinfo=UTC)


def ticket_rows(count: int) -> list[tuple[str, datetime, str]]:
    """(source id, updated-at, record JSON) as the canonical build reads them from raw files."""
    counts = table_counts("small", {"service/tickets": count, "time/entries": 0})
    tickets = generate(7, "bench", counts, References("http://127.0.0.1:1/connectwise/bench/v4_6_release/apis/3.0"))
    return [(str(t["id"]), STAMP, orjson.dumps(t).decode()) for t in tickets["service/tickets"]]


def best_us_per_record(run: Callable[[], object], records: int, repeats: int) -> float:
    return best_thread_seconds(run, repeats) / records * 1e6


def main(count: int = 20_000, repeats: int = 3) -> dict[str, float]:
    catalog = load_catalog()
    mapping = catalog.mapping("connectwise", "service_tickets")
    if mapping is None:
        raise SystemExit("the catalog has no connectwise/service_tickets mapping")
    canonical = catalog.canonical_table(mapping.canonical_table)
    rows = ticket_rows(count)
    stamps = [STAMP] * len(rows)
    fast, reference = CompiledMapping(mapping, canonical), ReferenceMapping(mapping, canonical)

    def with_(mapper: CompiledMapping | ReferenceMapping, nulled: Counter) -> Callable[[], pa.Table]:
        return lambda: mapper.to_versions(rows, tenant_id="bench", run_id="r", loaded_at=STAMP, nulled=nulled,
                                          extracted_at=stamps)

    fast_nulled: Counter = Counter()
    reference_nulled: Counter = Counter()
    if not with_(fast, fast_nulled)().equals(with_(reference, reference_nulled)()) or fast_nulled != reference_nulled:
        raise SystemExit("the fast path and the reference disagree on these records")
    figures = {
        "records": float(len(rows)),
        "reference_us_per_record": best_us_per_record(with_(reference, Counter()), len(rows), repeats),
        "fast_us_per_record": best_us_per_record(with_(fast, Counter()), len(rows), repeats),
    }
    figures["speed_up"] = figures["reference_us_per_record"] / figures["fast_us_per_record"]
    return figures


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    for name, value in main(*args).items():
        print(f"{name}: {value:,.2f}")
