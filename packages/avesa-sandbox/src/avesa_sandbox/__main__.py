"""``python -m avesa_sandbox``: run the sandbox in its own process (benchmarks, manual testing).

Examples::

    python -m avesa_sandbox --port 8765 --tenants 3 --scale small
    python -m avesa_sandbox --port 0 --instance acme:small --instance globex:medium:7

The first line printed is ``AVESA sandbox listening on http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from avesa_sandbox.knobs import Knobs
from avesa_sandbox.server import DEFAULT_HOST, serve
from avesa_sandbox.spec import InstanceSpec, tenant_specs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m avesa_sandbox", description="Simulated SaaS APIs for AVESA.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default: 8765)")
    parser.add_argument("--tenants", type=int, default=0, help="create tenant-1..N")
    parser.add_argument("--scale", default="small", help="scale of --tenants: tiny, small, medium, large")
    parser.add_argument("--seed", type=int, default=0, help="data seed of --tenants instances")
    parser.add_argument(
        "--instance", action="append", default=[], metavar="[SERVICE/]NAME[:SCALE[:SEED]]",
        help="a named instance, e.g. servicenow/acme:small (repeatable; service defaults to connectwise)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed latency per request")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="extra random latency per request")
    parser.add_argument("--rate-limit", type=float, default=1200.0, help="requests per minute per instance")
    parser.add_argument("--burst", type=int, default=200, help="token bucket burst per instance")
    parser.add_argument("--access-log", action="store_true", help="log every request (costs CPU)")
    return parser.parse_args(argv)


def specs_from_args(args: argparse.Namespace) -> list[InstanceSpec]:
    """Instance specs from --tenants/--scale/--seed and --instance."""
    specs = tenant_specs(args.tenants, args.scale, seed=args.seed)
    specs += [InstanceSpec.parse(text, default_scale=args.scale) for text in args.instance]
    knobs = {
        "latency_ms": args.latency_ms,
        "jitter_ms": args.jitter_ms,
        "rate_limit_per_minute": args.rate_limit,
        "rate_limit_burst": args.burst,
    }
    for spec in specs:
        spec.knobs = Knobs.from_dict(knobs)
    if not specs:
        specs = tenant_specs(1, args.scale, seed=args.seed)
    return specs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        specs = specs_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def announce(line: str) -> None:
        print(line, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        serve(args.port, specs, host=args.host, access_log=args.access_log, announce=announce)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
