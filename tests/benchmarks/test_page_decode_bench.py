"""benchmarks/page_decode.py must keep working: a full ConnectWise page read and checked, as a script too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.page_decode import main

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_benchmark_reads_a_whole_page_through_the_generic_reader() -> None:
    figures = main("time/entries", 1)
    assert figures["records"] == 1000 and figures["best_ms"] > 0


def test_the_page_benchmark_runs_as_a_script() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "page_decode.py"), "time/entries", "1"],
                          capture_output=True, text=True, check=False, env={"PYTHONPATH": str(ROOT / "src")},
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "records_per_s" in done.stdout
