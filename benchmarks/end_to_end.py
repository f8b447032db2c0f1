"""The whole pipeline a user runs (`avesa run`): extraction, raw files, the canonical build (mapping,
record hashes, the SCD2 merge), the first sync's delete reconciliation and the watermarks —
through `run_sync`, the code the CLI runs — and dlt beside it on the same sandbox tenants.

The sandbox runs in its own process with a fixed latency per request; its CPU over the run is
reported (`sandbox_cpu_share`, of one core) so a scenario where it, not the pipeline, is the limit
shows. The pipeline's CPU is split by stage with the timers of `avesa.observability.stage_cpu`;
`other` is the rest (the event loop, HTTP, planning, thread hand-offs).

dlt runs from .venv-dlt (benchmarks/dlt/setup.sh, created on first use) in a subprocess, on the
same sandbox and tenants, after AVESA: one dlt pipeline per tenant, tenants in a thread pool,
resources parallelised, Parquet on the local filesystem (benchmarks/dlt/pipeline.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from avesa.domain.work import RunRequest
from avesa.observability import stage_cpu
from avesa.pipeline.context import PipelineContext
from avesa.runtime.local import run_sync
from avesa.settings import Settings
from avesa_sandbox.client import SandboxAdmin
from avesa_sandbox.process import SandboxProcess
from benchmarks.extraction import Workload, register_workload
from benchmarks.memory import PeakMemory, pipeline_processes

ROOT = Path(__file__).resolve().parent.parent
DLT_PYTHON = ROOT / ".venv-dlt" / "bin" / "python"


def _cpu_seconds(process: psutil.Process) -> float:
    """CPU of the process and its children (the sandbox may serve from worker processes)."""
    return _cpu_of([process, *process.children(recursive=True)])


def _cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _pipeline_cpu_seconds(sandbox_pid: int) -> float:
    """CPU of the pipeline: this process and its worker processes, alive or ended (and waited
    for); never the sandbox, which this process started too."""
    own = psutil.Process().cpu_times()
    return _cpu_of(pipeline_processes(frozenset({sandbox_pid}))) + own.children_user + own.children_system


def run_avesa(home: Path, base_url: str, workload: Workload, sandbox_pid: int, **settings: Any) -> dict[str, Any]:
    """One `avesa run` of every tenant of `workload` into a fresh AVESA_HOME."""
    shutil.rmtree(home, ignore_errors=True)
    ctx = PipelineContext.from_settings(Settings(home=home, **settings))
    with SandboxAdmin(base_url) as admin:
        register_workload(ctx, admin, workload)
    sandbox = psutil.Process(sandbox_pid)
    cpu_before, sandbox_before = _pipeline_cpu_seconds(sandbox_pid), _cpu_seconds(sandbox)
    stages_before = stage_cpu.snapshot()
    with PeakMemory(exclude=frozenset({sandbox_pid})) as rss:
        started = time.perf_counter()
        summary = run_sync(ctx, RunRequest())
        seconds = time.perf_counter() - started
    cpu = _pipeline_cpu_seconds(sandbox_pid) - cpu_before
    sandbox_cpu = _cpu_seconds(sandbox) - sandbox_before
    stages = stage_cpu.since(stages_before)
    if summary.failed:
        raise RuntimeError(f"benchmark run failed: {[r.error for r in summary.failed][:3]}")
    records = summary.records
    per_record = {name: round(value * 1e6 / max(1, records), 1) for name, value in stages.items()}
    per_record["other"] = round((cpu - sum(stages.values())) * 1e6 / max(1, records), 1)
    return {"records": records, "seconds": seconds, "records_per_s": records / seconds,
            "cpu_us_per_record": cpu * 1e6 / max(1, records), "cpu_share": cpu / seconds,
            "stage_cpu_us_per_record": per_record, "peak_rss_mb": rss.rss_mb,
            "sandbox_cpu_share": sandbox_cpu / seconds,
            "versions_created": sum(r.versions_created for r in summary.results)}


def ensure_dlt() -> Path:
    """.venv-dlt with dlt installed (benchmarks/dlt/setup.sh); its path to python."""
    if not (DLT_PYTHON.parent.parent / ".installed").exists():
        subprocess.run(["sh", str(ROOT / "benchmarks" / "dlt" / "setup.sh")], check=True)
    return DLT_PYTHON


def run_dlt(workdir: Path, base_url: str, workload: Workload, sandbox_pid: int, threads: int) -> dict[str, Any]:
    """dlt over the same tenants (benchmarks/dlt/pipeline.py in .venv-dlt)."""
    python = ensure_dlt()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    with SandboxAdmin(base_url) as admin:
        tenants = [{"name": name, **admin.connection(name)} for name in workload.tenant_ids()]
    spec = workdir / "tenants.json"
    spec.write_text(json.dumps(tenants))
    sandbox = psutil.Process(sandbox_pid)
    sandbox_before = _cpu_seconds(sandbox)
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(python), str(ROOT / "benchmarks" / "dlt" / "pipeline.py"), str(spec),
                           str(workdir / "out"), "--threads", str(threads)],
                          capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the dlt run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["sandbox_cpu_share"] = (_cpu_seconds(sandbox) - sandbox_before) / seconds
    result["process_seconds"] = seconds
    return result


def measure_end_to_end(workdir: Path, workload: Workload, *, with_dlt: bool = True,
                       dlt_threads: int | None = None) -> dict[str, Any]:
    """AVESA's whole pipeline, then dlt, against one sandbox serving `workload`."""
    with SandboxProcess(workload.instance_args()) as sandbox:
        pid = sandbox.pid
        if pid is None:
            raise RuntimeError("the sandbox process did not start")
        avesa = run_avesa(workdir / "avesa", sandbox.base_url, workload, pid)
        dlt = run_dlt(workdir / "dlt", sandbox.base_url, workload, pid,
                      dlt_threads or workload.tenants) if with_dlt else None
    return {"avesa": avesa, "dlt": dlt}


if __name__ == "__main__":  # a single scenario by hand: python benchmarks/end_to_end.py TENANTS SCALE LATENCY_MS
    sys.path.insert(0, str(ROOT))
    tenants, scale, latency = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    out = measure_end_to_end(Path(sys.argv[4]) if len(sys.argv) > 4 else Path("/tmp/avesa-e2e"),
                             Workload(tenants, scale, latency, name="e2e"), with_dlt="--no-dlt" not in sys.argv)
    print(json.dumps(out, indent=2))
