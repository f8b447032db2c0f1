"""How much server CPU one page costs: ``python -m avesa_sandbox.pagecost``.

Builds an instance with a 50,000-record ``time/entries`` table, then requests 1000-record pages
the way the pipeline's connector does (a ``_info/lastUpdated`` window plus an ``id > N`` keyset,
``orderBy=id asc``) over real HTTP on loopback, and reports the server thread's CPU time per
request (HTTP parsing, routing, auth, query, body assembly, response) next to the client-side
wall time. The benchmarks share two cores between the sandbox and the pipeline, so this number is
what the sandbox takes away from the pipeline per page.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx

from avesa_sandbox.connectwise.auth import credentials_for
from avesa_sandbox.knobs import Knobs
from avesa_sandbox.server import SandboxServer
from avesa_sandbox.spec import InstanceSpec

TABLE = "time/entries"


def _walk(
    server: SandboxServer,
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    window: tuple[str, str],
    page_size: int,
    forward_only: bool,
) -> dict[str, Any]:
    """Keyset-walk every page of one lastUpdated window; CPU and wall time per request."""
    low, high = window
    cpu_ms, wall_ms, records = [], [], []
    last_id = 0
    extra = {"pagination-type": "forward-only"} if forward_only else {}
    while True:
        params: dict[str, str | int] = {
            "conditions": f"_info/lastUpdated>=[{low}] and _info/lastUpdated<[{high}] and id>{last_id}",
            "orderBy": "id asc",
            "pageSize": page_size,
        }
        cpu_before, wall_before = server.cpu_seconds() or 0.0, time.perf_counter()
        response = client.get(url, params=params, headers={**headers, **extra})
        wall_ms.append((time.perf_counter() - wall_before) * 1000)
        cpu_ms.append(((server.cpu_seconds() or 0.0) - cpu_before) * 1000)
        response.raise_for_status()
        page = response.json()
        records.append(len(page))
        if len(page) < page_size:
            break
        last_id = page[-1]["id"]
    full = [c for c, n in zip(cpu_ms, records, strict=True) if n == page_size] or cpu_ms
    return {
        "pages": len(records),
        "records": sum(records),
        "cpu_ms_per_full_page_median": statistics.median(full),
        "cpu_ms_per_full_page_max": max(full),
        "wall_ms_per_request_median": statistics.median(wall_ms),
    }


WINDOWS = {
    "90-day window": ("2025-01-01T00:00:00Z", "2025-04-01T00:00:00Z"),
    "whole history": ("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
}


def measure(
    rows: int = 50_000,
    page_size: int = 1000,
    repeats: int = 3,
    windows: tuple[str, ...] = tuple(WINDOWS),
    modes: tuple[bool, ...] = (False, True),
) -> dict[str, Any]:
    """Serve pages of a ``rows``-record table; returns medians of server CPU ms per full page.

    ``windows`` picks from ``WINDOWS``; ``modes`` are forward-only flags (False = navigable).
    """
    spec = InstanceSpec("pagecost", scale="tiny", counts={TABLE: rows}, knobs=Knobs(rate_limit_per_minute=None))
    with SandboxServer([spec]) as server, httpx.Client(timeout=60) as client:
        if server.cpu_seconds() is None:
            raise RuntimeError("per-thread CPU clocks are not available on this platform")
        url = f"{server.base_url}/connectwise/pagecost/v4_6_release/apis/3.0/{TABLE}"
        headers = credentials_for("pagecost").headers()
        results: dict[str, Any] = {"rows": rows, "page_size": page_size}
        for label in windows:
            window = WINDOWS[label]
            for forward_only in modes:
                runs = [_walk(server, client, url, headers, window, page_size, forward_only) for _ in range(repeats)]
                mode = "forward-only" if forward_only else "navigable"
                results[f"{label}, {mode}"] = min(runs, key=lambda r: r["cpu_ms_per_full_page_median"])
        return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avesa_sandbox.pagecost", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    results = measure(args.rows, args.page_size, args.repeats)
    print(f"{results.pop('rows')} rows, pageSize {results.pop('page_size')}: server CPU per full page")
    for label, result in results.items():
        print(
            f"  {label:32s} {result['cpu_ms_per_full_page_median']:6.2f} ms median, "
            f"{result['cpu_ms_per_full_page_max']:6.2f} ms max  ({result['pages']} pages, "
            f"{result['records']} records; client wall {result['wall_ms_per_request_median']:.1f} ms/request)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
