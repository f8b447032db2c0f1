"""SCD2 merge benchmark: 1% of keys changed, merged into a 1,000,000-row canonical Delta table.

The table models a ConnectWise companies table: one current row per key, 18 business columns
(unique names, phones and websites; low-cardinality statuses, types, cities; ints, floats, bools,
timestamps) plus identity, metadata and SCD columns — 30 columns in all.

Figures (seconds unless named otherwise):

- ``scd2_merge_1pct_of_1m_s`` — the headline: ``rows * changed_fraction`` keys drawn uniformly at
  random each get a new version. Uniform keys are the worst case for copy-on-write: every current
  file holds one of them, so every current file is rewritten (``rows_copied`` says how many
  unchanged rows that took). The merge runs ``repeats`` times, each on a fresh copy of the same
  table; the figure is the median (``..._min_s`` the best), since the machine is shared.
- ``scd2_merge_1pct_hot_keys_s`` — the same keys change again (the SaaS norm: what changed
  recently changes again); only the file written by the previous merge is touched.
- ``scd2_merge_replay_s`` — the previous batch applied again (look-back overlap, a retried run):
  all duplicates, nothing committed.
- ``scd2_merge_late_1pct_s`` — 1% of keys receive a version older than their current row: the
  history path (their history is read and re-cut).
- ``initial_load_s`` — the first merge of all ``rows`` versions into an empty table.
- ``merge_peak_arrow_mb`` — peak Arrow memory allocated during the headline merge, above what
  was allocated before it (``merge_peak_rss_mb``: the same for resident memory, which the
  allocator's caching makes a lower bound). It follows the size of one data file per worker
  plus the batch, not the table.

Run: ``.venv/bin/python benchmarks/scd2_merge.py [rows] [changed_fraction] [repeats]``.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from avesa.lake.delta_tables import merge_scd2, read_canonical

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: find benchmarks/
from benchmarks.memory import PeakMemory

TS = pa.timestamp("us", tz="UTC")
BASE = datetime(2023, 1, 1, tzinfo=UTC)
BUSINESS = [
    "id", "company_name", "company_identifier", "company_type", "status", "address_line1", "city",
    "state", "zip", "country", "phone_number", "website", "territory_id", "annual_revenue",
    "number_of_employees", "lead_flag", "date_acquired", "currency_code",
]


def _pick(rnd: random.Random, values: list[str], n: int) -> pa.Array:
    indices = pa.array(rnd.choices(range(len(values)), k=n), pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(values)).cast(pa.string())


def _prefixed(prefix: str, ids: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(ids, pa.string()), "")


def _seconds_after(base: datetime, seconds: list[int]) -> pa.Array:
    micros = pc.multiply(pa.array(seconds, pa.int64()), pa.scalar(1_000_000, pa.int64()))
    start = pa.scalar(int(base.timestamp() * 1_000_000), pa.int64())
    return pc.add(micros, start).cast(TS)


def make_versions(ids: list[int], *, seed: int, updated_from: datetime, run_id: str) -> pa.Table:
    """One version per id, last updated at a random second within 300 days after `updated_from`."""
    rnd = random.Random(seed)
    n = len(ids)
    id_arr = pa.array(ids, pa.int64())
    sid = pc.cast(id_arr, pa.string())
    return pa.table({
        "tenant_id": pa.array(["acme-msp"] * n),
        "source_service": pa.array(["connectwise"] * n),
        "source_table": pa.array(["company_companies"] * n),
        "source_id": sid,
        "id": sid,
        "company_name": _prefixed(f"Company {seed}-", id_arr),
        "company_identifier": _prefixed("C", id_arr),
        "company_type": _pick(rnd, ["Customer", "Prospect", "Vendor", "Partner"], n),
        "status": _pick(rnd, ["Active", "Inactive", "Not Approved", "Credit Hold"], n),
        "address_line1": _prefixed(f"{seed} Main Street ", id_arr),
        "city": _pick(rnd, [f"City {i}" for i in range(500)], n),
        "state": _pick(rnd, [f"S{i}" for i in range(50)], n),
        "zip": _pick(rnd, [f"{i:05d}" for i in range(5000)], n),
        "country": _pick(rnd, ["United States", "Canada", "United Kingdom"], n),
        "phone_number": _prefixed(f"555-{seed}-", id_arr),
        "website": _prefixed("https://www.example.com/company/", id_arr),
        "territory_id": pa.array(rnd.choices(range(40), k=n), pa.int64()),
        "annual_revenue": pa.array([rnd.random() * 1e7 for _ in range(n)], pa.float64()),
        "number_of_employees": pa.array(rnd.choices(range(5000), k=n), pa.int64()),
        "lead_flag": pa.array([rnd.random() < 0.1 for _ in range(n)]),
        "date_acquired": _seconds_after(BASE - timedelta(days=3650), rnd.choices(range(10**8), k=n)),
        "currency_code": _pick(rnd, ["USD", "CAD", "GBP"], n),
        "last_updated": _seconds_after(updated_from, rnd.choices(range(300 * 86400), k=n)),
        "last_updated_by": _pick(rnd, [f"member{i}" for i in range(30)], n),
        "is_deleted": pa.array([False] * n),
        "run_id": pa.array([run_id] * n),
        "loaded_at": pa.array([updated_from + timedelta(days=301)] * n, TS),
    })


def measure_scd2_merge(rows: int = 1_000_000, changed_fraction: float = 0.01,
                       workdir: Path | None = None, repeats: int = 3) -> dict[str, float | int]:
    """Build a `rows`-row canonical table under `workdir`, then time the merges described above."""
    if workdir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return measure_scd2_merge(rows, changed_fraction, Path(tmp), repeats)
    uri = str(Path(workdir) / "acme-msp" / "canonical" / "companies")
    pristine = str(Path(workdir) / "pristine")
    changed = max(1, int(rows * changed_fraction))
    rnd = random.Random(42)

    initial = make_versions(list(range(rows)), seed=0, updated_from=BASE, run_id="run-0")
    t = time.perf_counter()
    merge_scd2(uri, initial, BUSINESS)
    initial_load = time.perf_counter() - t
    del initial

    keys = sorted(rnd.sample(range(rows), changed))
    batch = make_versions(keys, seed=1, updated_from=BASE + timedelta(days=400), run_id="run-1")
    shutil.copytree(uri, pristine)
    timings = []
    for attempt in range(max(1, repeats)):
        if attempt:
            shutil.rmtree(uri)
            shutil.copytree(pristine, uri)
        os.sync()  # don't bill this merge for flushing the previous writes
        with PeakMemory(interval=0.002) as memory:
            headline = merge_scd2(uri, batch, BUSINESS)
        timings.append(headline.seconds)
    shutil.rmtree(pristine)

    replay = merge_scd2(uri, batch, BUSINESS)

    hot = make_versions(keys, seed=2, updated_from=BASE + timedelta(days=800), run_id="run-2")
    hot_result = merge_scd2(uri, hot, BUSINESS)

    late_keys = sorted(rnd.sample(range(rows), changed))
    late = make_versions(late_keys, seed=3, updated_from=BASE + timedelta(days=350), run_id="run-3")
    late_result = merge_scd2(uri, late, BUSINESS)

    table = read_canonical(uri, columns=["source_id"])
    stats = headline.stats
    return {
        "scd2_merge_1pct_of_1m_s": round(statistics.median(timings), 3),
        "scd2_merge_1pct_of_1m_min_s": round(min(timings), 3),
        "scd2_merge_1pct_hot_keys_s": round(hot_result.seconds, 3),
        "scd2_merge_replay_s": round(replay.seconds, 3),
        "scd2_merge_late_1pct_s": round(late_result.seconds, 3),
        "initial_load_s": round(initial_load, 3),
        "merge_peak_arrow_mb": round(memory.arrow_mb, 1),
        "merge_peak_rss_mb": round(memory.growth_mb, 1),
        "table_rows_before": rows,
        "table_rows_after": table.num_rows if table is not None else 0,
        "versions_merged": stats.versions_received,
        "rows_inserted": stats.rows_inserted,
        "rows_closed": stats.rows_closed,
        "rows_copied": headline.rows_copied,
        "files_added": headline.files_added,
        "files_removed": headline.files_removed,
        "hot_rows_copied": hot_result.rows_copied,
        "replay_duplicates": replay.stats.duplicates,
        "late_rows_inserted": late_result.stats.rows_inserted,
    }


def main(argv: list[str]) -> None:
    rows = int(argv[1]) if len(argv) > 1 else 1_000_000
    fraction = float(argv[2]) if len(argv) > 2 else 0.01
    repeats = int(argv[3]) if len(argv) > 3 else 3
    figures = measure_scd2_merge(rows, fraction, repeats=repeats)
    width = max(len(k) for k in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main(sys.argv)
