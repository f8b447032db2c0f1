"""The HTTP side of `avesa serve`: `/metrics` (Prometheus text, or OpenMetrics when the scraper asks
for it), `/healthz`, and the web dashboard mounted at `/` when it is installed — one Starlette app,
served by uvicorn on one port.

The dashboard is its own ASGI app (`avesa.dashboard.app.create_app(settings)`); this module only
mounts it. Without it, `/` answers with where the metrics are.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import socket
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from avesa.domain.errors import ConfigError
from avesa.settings import Settings

DASHBOARD_FACTORY = "avesa.dashboard.app"
"""The module whose `create_app(settings)` builds the dashboard, mounted at `/` when importable."""


def build_server_app(registry: CollectorRegistry, *, dashboard_app: ASGIApp | None = None,
                     health: Callable[[], dict[str, Any]] | None = None) -> Starlette:
    """`/metrics` over `registry`, `/healthz` with `health()`'s figures, `dashboard_app` at `/`."""

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        body = await run_in_threadpool(encoder, registry)  # collectors read the ledger: off the loop
        return Response(body, headers={"Content-Type": content_type})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", **(health() if health else {})})

    async def index(request: Request) -> Response:
        return PlainTextResponse("AVESA: metrics at /metrics, health at /healthz (the dashboard is not installed)\n")

    routes: list[BaseRoute] = [Route("/metrics", metrics), Route("/healthz", healthz)]
    routes.append(Mount("/", app=dashboard_app) if dashboard_app is not None else Route("/", index))
    return Starlette(routes=routes)


def load_dashboard(settings: Settings, next_runs: Callable[[], Mapping[tuple[str, str], datetime]] | None = None,
                   ) -> ASGIApp | None:
    """The dashboard app, or None when this installation has none (the module is absent). `next_runs`
    — (tenant, service) → the scheduler's next run — goes to a factory that takes it."""
    try:
        module = importlib.import_module(DASHBOARD_FACTORY)
    except ModuleNotFoundError as exc:
        if exc.name and DASHBOARD_FACTORY.startswith(exc.name):
            return None
        raise
    factory = module.create_app
    if next_runs is not None and "next_runs" in inspect.signature(factory).parameters:
        return factory(settings, next_runs=next_runs)
    return factory(settings)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything runs so a taken port is a clear error at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): pick another with --port, "
                          "or stop what holds it") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: `avesa serve` stops it after the runs have landed
    their files (uvicorn's would re-raise SIGTERM at exit and kill the process mid-drain)."""

    def capture_signals(self) -> Any:
        return contextlib.nullcontext()


def http_server(app: ASGIApp, log_level: str) -> QuietServer:
    """uvicorn for `app`; its own lines (start, stop) only at debug: avesa's events say as much."""
    quiet = "debug" if log_level.lower() == "debug" else "warning"
    config = uvicorn.Config(app, log_level=quiet, access_log=False, lifespan="off")
    return QuietServer(config)
