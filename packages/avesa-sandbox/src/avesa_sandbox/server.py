"""The sandbox HTTP server: one Starlette app mounting the admin API and every simulated service.

- ``build_app(registry)``: the ASGI app (``/_admin`` + ``/connectwise``; later services mount beside).
- ``SandboxServer``: uvicorn in a background thread on a loopback port (0 = any free port, known
  right after ``start()``), for tests and the demo; a context manager that stops cleanly.
- ``serve(port, instances)``: run in the foreground until interrupted (``python -m avesa_sandbox``
  and ``avesa sandbox serve``), for benchmarks that want the sandbox in its own process.

The listening socket is bound before instances are created so that the record links they contain
(``_info`` hrefs) carry the real port. uvicorn's access log is off by default: it costs CPU the
benchmarks would rather give to the pipeline.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from avesa_sandbox.admin_api import build_admin_app
from avesa_sandbox.client import SandboxAdmin
from avesa_sandbox.connectwise.routes import build_connectwise_app
from avesa_sandbox.helpdesk.routes import build_helpdesk_app
from avesa_sandbox.instances import Registry
from avesa_sandbox.latency import LatencyMiddleware
from avesa_sandbox.microsoft365.routes import build_microsoft365_app
from avesa_sandbox.salesforce.routes import build_salesforce_app
from avesa_sandbox.servicenow.routes import build_servicenow_app
from avesa_sandbox.spec import InstanceSpec

DEFAULT_HOST = "127.0.0.1"


def build_app(registry: Registry) -> Starlette:
    """The whole sandbox as one ASGI app over ``registry``."""
    return Starlette(
        routes=[
            Mount("/_admin", app=build_admin_app(registry)),
            Mount("/connectwise", app=build_connectwise_app(registry)),
            Mount("/helpdesk", app=build_helpdesk_app(registry)),
            Mount("/microsoft365", app=build_microsoft365_app(registry)),
            Mount("/salesforce", app=build_salesforce_app(registry)),
            Mount("/servicenow", app=build_servicenow_app(registry)),
        ],
        middleware=[Middleware(LatencyMiddleware)],  # a request's latency counts from its arrival
    )


def _bind(host: str, port: int) -> socket.socket:
    # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it Nagle + delayed ACK add ~40 ms to every response
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _config(app: Starlette, host: str, port: int, access_log: bool, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_level=log_level,
        lifespan="off",
        timeout_keep_alive=30,
    )


class SandboxServer:
    """The sandbox on a background thread. ``with SandboxServer([...]) as server: server.base_url``."""

    def __init__(
        self,
        instances: Iterable[InstanceSpec] = (),
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        access_log: bool = False,
        log_level: str = "warning",
    ) -> None:
        self.host = host
        self._requested_port = port
        self._specs = list(instances)
        self._access_log = access_log
        self._log_level = log_level
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.registry: Registry | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox server is not started")
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> SandboxServer:
        """Bind, generate the instances, serve; returns once requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        self._socket = _bind(self.host, self._requested_port)
        self.port = self._socket.getsockname()[1]
        self.registry = Registry(self.base_url)
        self.registry.create_all(self._specs)
        config = _config(build_app(self.registry), self.host, self.port, self._access_log, self._log_level)
        self._server = uvicorn.Server(config)
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name="avesa-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the sandbox server did not start in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def cpu_seconds(self) -> float | None:
        """CPU time the server thread has used (event loop: HTTP, routing, every API request).

        Linux and other POSIX systems only (None elsewhere). Admin work done in the thread pool
        (instance creation, mutate) is not included.
        """
        if self._thread is None or self._thread.ident is None or not hasattr(time, "pthread_getcpuclockid"):
            return None
        return time.clock_gettime(time.pthread_getcpuclockid(self._thread.ident))

    def admin(self) -> SandboxAdmin:
        """An admin client for this server."""
        return SandboxAdmin(self.base_url)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    port: int,
    instances: list[InstanceSpec],
    *,
    host: str = DEFAULT_HOST,
    access_log: bool = False,
    log_level: str = "warning",
    announce: Callable[[str], None] = print,
) -> None:
    """Run the sandbox in the foreground until interrupted (Ctrl-C / SIGTERM).

    ``announce`` receives the base URL line first (``AVESA sandbox listening on http://...``),
    then one line per instance with its site URL, so a parent process can read the port.
    """
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    base_url = f"http://{host}:{actual_port}"
    registry = Registry(base_url)
    registry.create_all(instances)
    # this process only serves: move the generated data out of the garbage collector's way, so
    # full collections do not walk millions of record objects in the middle of serving a page
    gc.collect()
    gc.freeze()
    announce(f"AVESA sandbox listening on {base_url}")
    for instance in registry.all():
        counts = ", ".join(f"{table}={n}" for table, n in instance.summary()["counts"].items())
        announce(f"  {instance.name}: {instance.site_url}  ({counts})")
    server = uvicorn.Server(_config(build_app(registry), host, actual_port, access_log, log_level))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
