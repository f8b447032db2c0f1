"""Reading one page alone: `RestConnector.read` + `to_page` over 1,000 ConnectWise records.

What a chunk spends CPU on per page before anything is written: slicing the body into raw records,
decoding the envelope fields (id, change stamp, deny-listed fields), and checking the chunk contract
(ids present, stamps inside the range, keyset order). The records come from the sandbox's generator
as the API's JSON text; the connector is the catalog's ConnectWise one, built without a network.
Each run is timed in CPU time of this thread (`time.thread_time`, so other processes on a shared
machine count less); the best of `repeats` runs is reported.

Run: ``PYTHONPATH=src python benchmarks/page_decode.py [table] [repeats]`` (table: a sandbox
endpoint such as ``service/tickets`` or ``time/entries``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "packages" / "avesa-sandbox" / "src")]  # run as a script

from avesa.catalog.loader import load_catalog  # noqa: E402
from avesa.connectors.factory import build_connector  # noqa: E402
from avesa.connectors.http_client import HttpOptions  # noqa: E402
from avesa.connectors.rate_budget import RateBudget  # noqa: E402
from avesa.connectors.rest import RestConnector  # noqa: E402
from avesa_sandbox.connectwise.generate import generate  # noqa: E402
from avesa_sandbox.connectwise.references import References  # noqa: E402
from avesa_sandbox.connectwise.tables import table_counts  # noqa: E402
from benchmarks.timing import best_thread_seconds  # noqa: E402

RECORDS = 1000
EPOCH, FAR = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
CREDENTIALS = {"api_url": "http://127.0.0.1:1", "company_id": "bench", "public_key": "p", "private_key": "k",
               "client_id": "c"}


def page_body(endpoint: str) -> bytes:
    """A page of ``RECORDS`` records as the API sends it: a JSON array, ids ascending."""
    counts = table_counts("small", {endpoint: RECORDS})
    records = generate(7, "bench", counts, References("http://127.0.0.1:1/connectwise/bench/v4_6_release/apis/3.0"))
    rows = sorted(records[endpoint], key=lambda r: r["id"])[:RECORDS]
    return b"[" + b",".join(orjson.dumps(r) for r in rows) + b"]"


def main(endpoint: str = "service/tickets", repeats: int = 50) -> dict[str, float]:
    spec = load_catalog().service("connectwise")
    table = next(name for name, t in spec.tables.items() if t.path == endpoint)
    connector = build_connector(spec, CREDENTIALS, tenant_id="bench", budget=RateBudget(6000, 100),
                                options=HttpOptions(), page_size=RECORDS)
    if not isinstance(connector, RestConnector):
        raise SystemExit("the ConnectWise connector is expected to be a RestConnector")
    body = page_body(endpoint)

    def run() -> int:
        return len(connector.to_page(table, connector.read(table, body, 1), 1, EPOCH, FAR, None, None))

    records = run()
    best = best_thread_seconds(run, repeats)
    return {"records": float(records), "body_mb": len(body) / 1e6, "best_ms": best * 1000,
            "records_per_s": records / best}


if __name__ == "__main__":
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "service/tickets"
    figures = main(endpoint, int(sys.argv[2]) if len(sys.argv) > 2 else 50)
    for name, value in figures.items():
        print(f"{name}: {value:,.2f}")
