"""benchmarks/mapping.py must keep working: a small run, both paths timed, their tables checked equal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.mapping import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_mapping_benchmark_times_both_paths_on_the_same_tickets() -> None:
    figures = main(300, 1)  # exits if the two paths disagree on these tickets
    assert figures["records"] == 300
    assert figures["reference_us_per_record"] > 0 and figures["fast_us_per_record"] > 0


def test_the_mapping_benchmark_runs_as_a_script() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mapping.py"), "200", "1"], capture_output=True,
                          text=True, check=False, env={"PYTHONPATH": str(ROOT / "src")}, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "fast_us_per_record" in done.stdout and "reference_us_per_record" in done.stdout
