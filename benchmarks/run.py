"""`make bench`: extraction throughput against latency, memory, and the SCD2 merge.

Scenarios (one run each, so the ratios compare figures taken on the same machine state):
- parallel: every tenant of the workload (8 x `large`, 650,000 records, about 50 s) with the
  engine's default concurrency: long enough that the first and last seconds of a run (requests
  starting and the last chunks ending) weigh what they weigh in a real first sync;
- shorter run: the same with 8 x `medium` (260,000 records, about 20 s), where they weigh more;
- sequential: one `medium` tenant with one request in flight, one table and one chunk at a time —
  the sequential baseline the brief claims a 10x gain over (records/s is a rate, so a slice of
  the workload measures it without waiting minutes);
- bound: requests in flight (the global cap) x page size / latency — what concurrency allows;
- zero latency: the shorter run with no latency, which shows the CPU cost per record;
- memory: peak RSS of the pipeline for both runs: tables 2.5x larger should not need more;
- many tenants: 200 tiny tenants (800 tables) — records/s, the time to plan the run, peak RSS;
- SCD2: merging 1% changed rows into a 1,000,000-row canonical table.

Writes benchmarks/results.json and prints a table. Options: --quick (small, for a smoke run),
--skip-scd2.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avesa.settings import Settings
from benchmarks.extraction import Workload, run_workload
from benchmarks.scd2_merge import measure_scd2_merge

RESULTS = Path(__file__).resolve().parent / "results.json"
SEQUENTIAL = {"max_requests_in_flight": 1, "max_tables_per_tenant": 1, "max_chunks_per_table": 1}


def measure(quick: bool, skip_scd2: bool, workdir: Path) -> dict[str, object]:
    defaults = Settings()
    latency_ms = 200.0 if quick else 1000.0
    workload = Workload(tenants=2 if quick else 8, scale="small" if quick else "large", latency_ms=latency_ms)
    shorter = Workload(tenants=workload.tenants, scale="tiny" if quick else "medium", latency_ms=latency_ms,
                       name="short")
    first = shorter.tenant_ids()[0]
    started = time.perf_counter()
    parallel = run_workload(workdir, workload, [("parallel", {})])["parallel"]
    short = run_workload(workdir, shorter, [("shorter", {}), ("sequential", {"tenant": first, **SEQUENTIAL})])
    no_latency = run_workload(workdir, Workload(shorter.tenants, shorter.scale, 0.0, name="zero"),
                              [("zero_latency", {})])
    many = Workload(tenants=20 if quick else 200, scale="tiny", latency_ms=200.0, name="many")
    many_tenants = run_workload(workdir, many, [("many_tenants", {})])["many_tenants"]
    sequential, shorter_run = short["sequential"], short["shorter"]
    bound = defaults.max_requests_in_flight * defaults.page_size / (latency_ms / 1000.0)
    results: dict[str, object] = {
        "workload": {"tenants": workload.tenants, "scale": workload.scale, "latency_ms": latency_ms,
                     "records": parallel["records"], "page_size": defaults.page_size,
                     "max_requests_in_flight": defaults.max_requests_in_flight},
        "parallel_records_per_s": round(parallel["records_per_s"]),
        "sequential_records_per_s": round(sequential["records_per_s"]),
        "bound_records_per_s": round(bound),
        "parallel_vs_sequential": round(parallel["records_per_s"] / sequential["records_per_s"], 2),
        "parallel_vs_bound": round(parallel["records_per_s"] / bound, 3),
        "records_per_request": round(parallel["records"] / max(1, parallel["requests"]), 1),
        "peak_rss_mb": round(parallel["peak_rss_mb"], 1),
        "shorter_run": {"tenants": shorter.tenants, "scale": shorter.scale, "records": shorter_run["records"]},
        "shorter_run_records_per_s": round(shorter_run["records_per_s"]),
        "shorter_run_vs_bound": round(shorter_run["records_per_s"] / bound, 3),
        "shorter_run_records_per_request": round(shorter_run["records"] / max(1, shorter_run["requests"]), 1),
        "peak_rss_mb_smaller_tables": round(shorter_run["peak_rss_mb"], 1),
        "zero_latency_records_per_s": round(no_latency["zero_latency"]["records_per_s"]),
        "pipeline_cpu_us_per_record": round(no_latency["zero_latency"]["pipeline_cpu_us_per_record"], 1),
        "many_tenants": {"tenants": many.tenants, "scale": many.scale, "latency_ms": many.latency_ms,
                         "tables": many_tenants["tables"], "records": many_tenants["records"]},
        "many_tenants_records_per_s": round(many_tenants["records_per_s"]),
        "many_tenants_planning_s": round(many_tenants["planning_seconds"], 3),
        "many_tenants_peak_rss_mb": round(many_tenants["peak_rss_mb"], 1),
        "extraction_seconds": round(time.perf_counter() - started, 1),
    }
    if not skip_scd2:
        scd2 = measure_scd2_merge(rows=100_000 if quick else 1_000_000, workdir=workdir / "scd2")
        results.update({k: v for k, v in scd2.items() if isinstance(v, int | float)})
    return results


def render(results: dict[str, object]) -> Table:
    table = Table("figure", "value", title="AVESA benchmarks", title_justify="left")
    for key, value in results.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(key, f"{value:,}" if isinstance(value, int | float) else str(value))
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small workload (smoke run)")
    parser.add_argument("--skip-scd2", action="store_true", help="leave out the 1M-row merge")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="avesa-bench-") as tmp:
        results = measure(args.quick, args.skip_scd2, Path(tmp))
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    Console(width=120).print(render(results))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
