"""`make bench`: extraction throughput against latency, memory, and the SCD2 merge.

Scenarios (one run each, so the ratios compare figures taken on the same machine state):
- end to end (the headline): `avesa run`'s whole pipeline — extraction, raw files, mapping, the
  SCD2 merge, reconciliation, watermarks — on 8 x `medium` ConnectWise tenants, 500 ms per
  request, page 1,000, 16 requests in flight: records/s, share of the wire bound, CPU per record by
  stage, peak RSS, the sandbox's CPU share; and dlt's records/s on the same sandbox and tenants
  (benchmarks/end_to_end.py). A larger one (8 x `large`) without dlt shows memory flat in size;
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

Writes benchmarks/results.json and prints a table. Options: --quick (small, for a smoke run; or
AVESA_BENCH_QUICK=1), --skip-scd2, --skip-dlt, --only end-to-end|extraction|scd2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avesa.settings import Settings
from benchmarks.end_to_end import measure_end_to_end
from benchmarks.extraction import Workload, run_workload
from benchmarks.scd2_merge import measure_scd2_merge

RESULTS = Path(__file__).resolve().parent / "results.json"
SEQUENTIAL = {"max_requests_in_flight": 1, "max_tables_per_tenant": 1, "max_chunks_per_table": 1}


def measure_whole_pipeline(quick: bool, skip_dlt: bool, workdir: Path) -> dict[str, object]:
    """The headline: `avesa run` end to end against the wire bound, and dlt from the same sandbox."""
    defaults = Settings()
    latency_ms = 100.0 if quick else 500.0
    workload = Workload(tenants=2 if quick else 8, scale="tiny" if quick else "medium", latency_ms=latency_ms,
                        name="e2e")
    bound = defaults.max_requests_in_flight * defaults.page_size / (latency_ms / 1000.0)
    measured = measure_end_to_end(workdir / "e2e", workload, with_dlt=not skip_dlt)
    avesa, dlt = measured["avesa"], measured["dlt"]
    results: dict[str, object] = {
        "end_to_end": {"tenants": workload.tenants, "scale": workload.scale, "latency_ms": latency_ms,
                       "records": avesa["records"], "page_size": defaults.page_size,
                       "max_requests_in_flight": defaults.max_requests_in_flight},
        "end_to_end_records_per_s": round(avesa["records_per_s"]),
        "end_to_end_bound_records_per_s": round(bound),
        "end_to_end_vs_bound": round(avesa["records_per_s"] / bound, 3),
        "end_to_end_seconds": round(avesa["seconds"], 1),
        "end_to_end_cpu_us_per_record": round(avesa["cpu_us_per_record"], 1),
        "end_to_end_cpu_share": round(avesa["cpu_share"], 2),
        "end_to_end_stage_cpu_us_per_record": avesa["stage_cpu_us_per_record"],
        "end_to_end_peak_rss_mb": round(avesa["peak_rss_mb"], 1),
        "end_to_end_sandbox_cpu_share": round(avesa["sandbox_cpu_share"], 2),
    }
    if dlt is not None:
        results.update({
            "dlt_records_per_s": round(dlt["records_per_s"]),
            "dlt_records": dlt["records"],
            "dlt_peak_rss_mb": round(dlt["peak_rss_mb"], 1),
            "dlt_cpu_us_per_record": round(dlt["cpu_s"] * 1e6 / max(1, dlt["records"]), 1),
            "dlt_sandbox_cpu_share": round(dlt["sandbox_cpu_share"], 2),
            "avesa_vs_dlt": round(avesa["records_per_s"] / dlt["records_per_s"], 2),
        })
    if not quick:
        larger = Workload(tenants=8, scale="large", latency_ms=latency_ms, name="e2e-large")
        big = measure_end_to_end(workdir / "e2e-large", larger, with_dlt=False)["avesa"]
        results.update({
            "end_to_end_larger": {"tenants": larger.tenants, "scale": larger.scale, "records": big["records"]},
            "end_to_end_larger_records_per_s": round(big["records_per_s"]),
            "end_to_end_larger_vs_bound": round(big["records_per_s"] / bound, 3),
            "end_to_end_larger_cpu_us_per_record": round(big["cpu_us_per_record"], 1),
            "end_to_end_larger_peak_rss_mb": round(big["peak_rss_mb"], 1),
        })
    return results


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
        results.update(measure_scd2(quick, workdir))
    return results


def measure_scd2(quick: bool, workdir: Path) -> dict[str, object]:
    scd2 = measure_scd2_merge(rows=100_000 if quick else 1_000_000, workdir=workdir / "scd2")
    return {k: v for k, v in scd2.items() if isinstance(v, int | float)}


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
    parser.add_argument("--skip-dlt", action="store_true", help="leave out dlt (no .venv-dlt needed)")
    parser.add_argument("--only", choices=["end-to-end", "extraction", "scd2"],
                        help="one group of scenarios; the others keep their figures from --output")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("AVESA_BENCH_QUICK", "") not in ("", "0")
    results: dict[str, object] = {}
    if args.only and args.output.exists():
        results = json.loads(args.output.read_text())
    with tempfile.TemporaryDirectory(prefix="avesa-bench-") as tmp:
        if args.only in (None, "end-to-end"):
            results.update(measure_whole_pipeline(quick, args.skip_dlt, Path(tmp)))
        if args.only in (None, "extraction"):
            results.update(measure(quick, True, Path(tmp)))
        if args.only in (None, "scd2") and not args.skip_scd2:
            results.update(measure_scd2(quick, Path(tmp)))
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    Console(width=120).print(render(results))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
