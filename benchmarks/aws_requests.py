"""The per-chunk figures docs/aws.md's cost model is built on, measured here: one `avesa run` of
sandbox tenants with the ledger in DynamoDB (moto's server over real HTTP), counting every
DynamoDB request by operation, the chunks and pages the run made, and the lake files it wrote.

    PYTHONPATH=src python benchmarks/aws_requests.py [--tenants 2] [--scale medium]

Prints one JSON object. The lake is local (its files are what S3 PUTs would be); Step Functions
transitions per chunk are counted from the ASL files in docs/aws.md, not here.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import botocore.client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--scale", default="medium")
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

    from avesa_sandbox import SandboxServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    home = Path(tempfile.mkdtemp(prefix="avesa-aws-requests-"))
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AVESA_HOME": str(home),
                       "AVESA_STATE_URL": "dynamodb://measure?create=true", "AVESA_SECRETS_URL": "secretsmanager://measure"})

    calls: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            with lock:
                calls[operation] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting

    from typer.testing import CliRunner

    from avesa.cli.app import app

    runner = CliRunner()
    with SandboxServer([]) as server, server.admin() as admin:
        for i in range(args.tenants):
            name = f"m{i}"
            admin.create_instance(name, scale=args.scale, seed=i + 1, service="connectwise",
                                  knobs={"rate_limit_per_minute": None})
            env = {f"CONNECTWISE_{k.upper()}": v for k, v in admin.connection(name).items()}
            added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", name.title(),
                                        "--service", "connectwise"], env=env)
            assert added.exit_code == 0, added.output
        registration = dict(calls)
        calls.clear()
        started = time.monotonic()
        ran = runner.invoke(app, ["run"])
        seconds = time.monotonic() - started
        assert ran.exit_code == 0, ran.output

    import boto3

    botocore.client.BaseClient._make_api_call = original
    items = boto3.client("dynamodb").scan(TableName="measure-state")["Items"]
    chunks = [i for i in items if i["sk"]["S"].startswith("CHUNK#")]
    tables = [i for i in items if i["sk"]["S"].startswith("TABLE#")]
    records = sum(int(i.get("records", {}).get("N", 0)) for i in tables)
    pages = sum(int(i.get("pages", {}).get("N", 0)) for i in chunks)
    lake = home / "lake"
    raw_files = [p for p in lake.rglob("*.parquet") if "/raw/" in str(p)]
    all_files = [p for p in lake.rglob("*") if p.is_file()]
    writes = sum(n for op, n in calls.items() if op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                                                          "TransactWriteItems"))
    reads = sum(n for op, n in calls.items() if op in ("GetItem", "Query", "BatchGetItem", "Scan"))
    print(json.dumps({
        "tenants": args.tenants, "scale": args.scale, "tables": len(tables), "chunks": len(chunks),
        "records": records, "pages_read": pages, "run_seconds": round(seconds, 1),
        "dynamodb_requests_by_operation": dict(calls), "dynamodb_write_requests": writes,
        "dynamodb_read_requests": reads, "registration_requests": registration,
        "per_chunk": {"records": round(records / max(len(chunks), 1)), "pages": round(pages / max(len(chunks), 1), 2),
                      "dynamodb_writes": round(writes / max(len(chunks), 1), 2),
                      "dynamodb_reads": round(reads / max(len(chunks), 1), 2)},
        "lake_files_written": len(all_files), "raw_parquet_files": len(raw_files),
    }, indent=2))
    moto.stop()


if __name__ == "__main__":
    main()
