"""Run the sandbox in a child process (the demo and benchmarks): on a 2-core machine the sandbox
and the pipeline must not share one interpreter's GIL, or the pipeline measures the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import TracebackType

from avesa_sandbox.client import SandboxAdmin

_READY = "AVESA sandbox listening on "


class SandboxProcess:
    """``with SandboxProcess(["--instance", "acme:small"]) as sandbox: sandbox.base_url``."""

    def __init__(self, args: list[str], *, start_timeout: float = 120.0) -> None:
        self.args = args
        self.start_timeout = start_timeout
        self.base_url = ""
        self.lines: list[str] = []
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> SandboxProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "avesa_sandbox", "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + self.start_timeout
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if line.startswith(_READY):
                self.base_url = line[len(_READY) :].strip()
                break
        if not self.base_url:
            self.stop()
            raise RuntimeError("the sandbox did not start:\n" + "\n".join(self.lines[-20:]))
        # Keep draining its output so a chatty child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        self._wait_until_ready(deadline)
        return self

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line.rstrip())

    def _wait_until_ready(self, deadline: float) -> None:
        with SandboxAdmin(self.base_url, timeout=5.0) as admin:
            while True:
                try:
                    admin.health()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.base_url)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
