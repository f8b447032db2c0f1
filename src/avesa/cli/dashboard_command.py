"""`avesa dashboard`: the read-only web dashboard alone (`avesa serve` serves it at `/` too)."""

from __future__ import annotations

import ipaddress

import typer
from rich.text import Text

from avesa.cli.common import console, friendly_errors, require_home
from avesa.cli.optional_packages import require_web
from avesa.domain.errors import UsageError
from avesa.settings import load_settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@friendly_errors
def dashboard(
    port: int = typer.Option(8765, "--port", help="TCP port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to listen on; loopback unless told (e.g. --host 0.0.0.0)"),
) -> None:
    """Serve the read-only dashboard (tenants, runs, tables, freshness) until Ctrl-C.

    Example: `avesa dashboard --port 8765`, then open http://127.0.0.1:8765/."""
    require_web("dashboard")
    import uvicorn

    from avesa.dashboard.app import create_app

    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a TCP port: use 1-65535")
    settings = load_settings()
    require_home(settings)
    shown = f"[{host}]" if ":" in host else host
    console.print(Text(f"AVESA dashboard (read-only) on http://{shown}:{port}/ — Ctrl-C stops it"), soft_wrap=True)
    console.print(Text(f"home: {settings.home.resolve()}"), soft_wrap=True)
    if not _is_loopback(host):
        console.print(Text(f"listening on {host}: anyone who reaches this address sees every tenant's status "
                           "(no login); put it behind your own authentication", style="yellow"), soft_wrap=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
