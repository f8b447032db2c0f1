"""The dashboard's ASGI app: read-only pages over the ledger, mountable at `/` of `avesa serve`.

Every page is a GET that reads; nothing on it changes anything (other methods answer 405). The
templates autoescape everything, whatever its source, and the Content-Security-Policy forbids
scripts outright: a ticket summary holding `<script>` that reaches a page through an error message
is shown as the text it is and could not run if it were not.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from avesa.dashboard import charts
from avesa.dashboard.freshness import short_duration
from avesa.dashboard.schedule import NextRuns, from_scheduler_module, safe_next_runs
from avesa.dashboard.views import Dashboard
from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings

SECURITY_HEADERS = [
    (b"content-security-policy",
     (b"default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; "
     b"form-action 'none'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the headers above to every HTTP response (pages, static files, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(n, v) for n, v in SECURITY_HEADERS if n not in names]]
            await send(message)

        await self.app(scope, receive, with_headers)


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("avesa.dashboard", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ts"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else "—"
    env.filters["age"] = short_duration
    env.filters["num"] = lambda v: "—" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.1f}"
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def create_app(settings: Settings, next_runs: NextRuns | None = None) -> Starlette:
    """The dashboard over `settings`' home. `next_runs` gives each (tenant, service)'s next scheduled
    run (what `avesa serve` knows); without it a scheduler module's view is used if one exists."""
    env = _templates()
    schedule = next_runs or from_scheduler_module(settings)
    lock = threading.Lock()
    holder: dict[str, PipelineContext] = {}

    def context() -> PipelineContext:
        with lock:  # one context (one state-store connection) for the app's life, made on first use
            if "ctx" not in holder:
                holder["ctx"] = PipelineContext.from_settings(settings)
            return holder["ctx"]

    def dashboard() -> Dashboard:
        return Dashboard(context(), utc_now(), safe_next_runs(schedule))

    def page(request: Request, template: str, status_code: int = 200, **values: object) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        html = env.get_template(template).render(root=root, now=utc_now(), **values)
        return HTMLResponse(html, status_code=status_code)

    def not_found(request: Request, what: str) -> HTMLResponse:
        return page(request, "not_found.html", status_code=404, what=what)

    def overview(request: Request) -> Response:
        data = dashboard()
        view = data.overview()
        return page(request, "overview.html", view=view, data=data, refresh=60, runs_chart=charts.runs_chart(view.runs),
                    throughput_chart=charts.throughput_chart(view.runs),
                    rate_limit_chart=charts.rate_limit_chart(view.runs))

    def detail(request: Request, template: str, what: str, find: Callable[[Dashboard], Any],
               **values: Any) -> Response:  # Any: the template's values, not page()'s status_code
        """A page about one thing (`what`), or the 404 page naming it when `find` finds nothing."""
        data = dashboard()
        view = find(data)
        if view is None:
            return not_found(request, what)
        return page(request, template, view=view, data=data, **values)

    def tenant(request: Request) -> Response:
        tenant_id = request.path_params["tenant_id"]
        return detail(request, "tenant.html", f"tenant {tenant_id}", lambda data: data.tenant(tenant_id))

    def run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return detail(request, "run.html", f"run {run_id}", lambda data: data.run(run_id))

    def table(request: Request) -> Response:
        p = request.path_params
        data = dashboard()
        view = data.table(p["tenant_id"], p["service"], p["table"])
        if view is None:
            return not_found(request, f"table {p['tenant_id']}/{p['service']}/{p['table']}")
        return page(request, "table.html", view=view, data=data,
                    chart=charts.table_chart(view.state.history[: len(view.history)]))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        ctx = holder.pop("ctx", None)  # served alone; mounted in `avesa serve`, it lives as long as the process
        if ctx is not None:
            ctx.state.close()

    routes = [
        Route("/", overview, name="overview"),
        Route("/tenants/{tenant_id}", tenant, name="tenant"),
        Route("/tenants/{tenant_id}/{service}/{table}", table, name="table"),
        Route("/runs/{run_id}", run, name="run"),
        Mount("/static", StaticFiles(packages=[("avesa.dashboard", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    return app
