"""Support for the dashboard's browser tests: the app served by uvicorn on a free loopback port in a
thread, Debian's Chromium driven by Playwright, and screenshots kept as test artefacts.

Screenshots go to `test-artifacts/dashboard/` at the repository root (git-ignored), and also to
`$AVESA_TEST_ARTIFACTS/dashboard/` when that variable names a folder (for CI to collect)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("AVESA_CHROMIUM", "/usr/bin/chromium"))


def artefact_dirs() -> list[Path]:
    dirs = [REPO / "test-artifacts" / "dashboard"]
    if os.environ.get("AVESA_TEST_ARTIFACTS"):
        dirs.append(Path(os.environ["AVESA_TEST_ARTIFACTS"]) / "dashboard")
    return dirs


def save_screenshot(page: object, name: str) -> Path:
    """A full-page PNG of `page` as `<name>.png` in every artefact folder; returns the stable one."""
    first, *others = artefact_dirs()
    first.mkdir(parents=True, exist_ok=True)
    path = first / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    for folder in others:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
    return path


def require_chromium() -> None:
    """Fail — never skip — when the browser is missing: CI must run these tests."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: the dashboard's browser tests drive Debian's chromium "
                    "(`apt-get install -y --no-install-recommends chromium`; .ci/run installs it when absent, "
                    "AVESA_CHROMIUM names another binary)", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing: `pip install -e '.[dev]'` installs it", pytrace=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"dashboard-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the dashboard did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
