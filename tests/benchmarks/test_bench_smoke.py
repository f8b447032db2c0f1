"""`make bench` must keep working: a quick run of the harness, checked for the figures it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.run import main


@pytest.mark.slow
def test_quick_benchmark_writes_every_promised_figure(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    assert main(["--quick", "--skip-scd2", "--skip-dlt", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    for key in ("parallel_records_per_s", "sequential_records_per_s", "bound_records_per_s", "peak_rss_mb",
                "shorter_run_records_per_s", "peak_rss_mb_smaller_tables", "end_to_end_records_per_s",
                "end_to_end_vs_bound", "end_to_end_cpu_us_per_record", "end_to_end_peak_rss_mb"):
        assert results[key] > 0, key
    assert results["parallel_records_per_s"] > results["sequential_records_per_s"]
    assert results["parallel_records_per_s"] < results["bound_records_per_s"]
    stages = results["end_to_end_stage_cpu_us_per_record"]
    assert stages["mapping"] > 0 and stages["merge"] > 0 and stages["raw_write"] > 0 and stages["decode"] > 0
    assert results["end_to_end_records_per_s"] < results["end_to_end_bound_records_per_s"]
