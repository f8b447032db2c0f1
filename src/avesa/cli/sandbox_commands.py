"""`avesa sandbox serve`: the simulated service APIs in the foreground."""

from __future__ import annotations

import typer

from avesa.cli.common import friendly_errors
from avesa.cli.optional_packages import require_sandbox

sandbox_app = typer.Typer(help="The built-in sandbox of simulated service APIs.", no_args_is_help=True)


@sandbox_app.command("serve")
@friendly_errors
def serve(
    port: int = typer.Option(8765, "--port", help="0 picks a free port"),
    tenants: int = typer.Option(0, "--tenants", help="create tenant-1..N"),
    scale: str = typer.Option("small", "--scale", help="tiny | small | medium | large"),
    instance: list[str] = typer.Option([], "--instance",
                                       help="[SERVICE/]NAME[:SCALE[:SEED]], repeatable (e.g. salesforce/acme:tiny)"),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="fixed latency per request"),
    rate_limit: float = typer.Option(1200.0, "--rate-limit", help="requests per minute per instance"),
) -> None:
    """Serve the sandbox until Ctrl-C; prints each instance's site URL. Credentials: GET /_admin/instances."""
    require_sandbox("sandbox serve")
    from avesa_sandbox.__main__ import main as sandbox_main

    args = ["--port", str(port), "--tenants", str(tenants), "--scale", scale, "--latency-ms", str(latency_ms),
            "--rate-limit", str(rate_limit)]
    for spec in instance:
        args += ["--instance", spec]
    raise typer.Exit(sandbox_main(args))
