"""dlt on the benchmark's sandbox tenants, run the way a dlt user runs many tenants.

Runs inside .venv-dlt (benchmarks/dlt/setup.sh), never the project's environment, so it imports
nothing from AVESA. One dlt pipeline per tenant, the tenants in a thread pool, the ConnectWise
tables as `rest_api` resources with `parallelized=True`, following the API's `Link` header,
written as Parquet to the local filesystem (dlt's defaults otherwise: nested lists become child
tables). Prints one JSON line: records (top-level rows loaded), seconds, peak RSS.

    python benchmarks/dlt/pipeline.py TENANTS.json OUTPUT_DIR --threads 8
TENANTS.json: [{"name": ..., "api_url": ..., "company_id": ..., "public_key": ..., "private_key": ...,
"client_id": ...}, ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TABLES = {"service_tickets": "service/tickets", "time_entries": "time/entries",
          "company_companies": "company/companies", "company_contacts": "company/contacts"}


def run_tenant(tenant: dict[str, str], output: Path, page_size: int) -> int:
    import dlt
    from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
    from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {
            "base_url": f"{tenant['api_url']}/v4_6_release/apis/3.0/",
            "auth": HttpBasicAuth(f"{tenant['company_id']}+{tenant['public_key']}", tenant["private_key"]),
            "headers": {"clientId": tenant["client_id"]},
            "paginator": HeaderLinkPaginator(),
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "append",
            "parallelized": True,
            "endpoint": {"params": {"pageSize": page_size, "orderBy": "id asc"}, "data_selector": "$"},
        },
        "resources": [{"name": name, "endpoint": {"path": path}} for name, path in TABLES.items()],
    })
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{tenant['name'].replace('-', '_')}",
        pipelines_dir=str(output / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(output / "lake").as_uri()),
        dataset_name=tenant["name"].replace("-", "_"),
    )
    info = pipeline.run(source, loader_file_format="parquet")
    info.raise_on_failed_jobs()
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(counts.get(name, 0) for name in TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tenants", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    tenants = json.loads(args.tenants.read_text())
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        records = sum(pool.map(lambda t: run_tenant(t, args.output, args.page_size), tenants))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"records": records, "seconds": seconds, "records_per_s": records / seconds,
                      "peak_rss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}))


if __name__ == "__main__":
    main()
