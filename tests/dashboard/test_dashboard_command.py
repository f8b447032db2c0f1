"""`avesa dashboard` as an operator starts it: a process serving the pages on loopback by default,
refusing a home that does not exist with a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.cli.dashboard_command import _is_loopback
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from tests.dashboard.browser import REPO, free_port


def test_avesa_dashboard_serves_the_pages_on_loopback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    PipelineContext.from_settings(Settings(home=home)).state.close()
    port = free_port()
    env = {**os.environ, "AVESA_HOME": str(home), "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen([sys.executable, "-m", "avesa", "dashboard", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "avesa dashboard did not answer within 30 s"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "no tenants yet" in page.text and "avesa service add" in page.text
        assert httpx.post(f"http://127.0.0.1:{port}/").status_code == 405
    finally:
        process.terminate()  # our own child, by its handle
        output, _ = process.communicate(timeout=15)
    assert f"on http://127.0.0.1:{port}/" in output
    assert "read-only" in output


def test_a_home_that_does_not_exist_is_refused_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dashboard", "--port", "8999"], env={"AVESA_HOME": str(tmp_path / "nope")})
    assert result.exit_code == 2
    assert "does not exist" in result.output and "AVESA_HOME" in result.output
    bad_port = CliRunner().invoke(app, ["dashboard", "--port", "70000"], env={"AVESA_HOME": str(tmp_path)})
    assert bad_port.exit_code == 2 and "is not a TCP port" in bad_port.output


def test_only_loopback_addresses_count_as_loopback() -> None:
    assert all(_is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(_is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "example.org", "::"))
