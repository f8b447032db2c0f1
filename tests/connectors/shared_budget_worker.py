"""One worker process of the shared-budget test: builds its context from the environment (as a
Lambda or a proof-executor process does), waits for the common start moment, then asks the
tenant's ConnectWise instance for a count N times through its connector, and prints the wall-clock
time each answer came as a JSON list.

    python -m tests.connectors.shared_budget_worker TENANT START_AT N
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext
from avesa.settings import load_settings


async def _ask(tenant: str, start_at: float, times: int) -> list[float]:
    ctx = PipelineContext.from_settings(load_settings())
    connector = ctx.connector(tenant, "connectwise")
    await asyncio.sleep(max(0.0, start_at - time.time()))
    answered = []
    try:
        for _ in range(times):
            await connector.count("service_tickets", None, utc_now())
            answered.append(time.time())
    finally:
        await ctx.aclose()
        ctx.state.close()
    return answered


if __name__ == "__main__":
    tenant, start_at, times = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(_ask(tenant, start_at, times))))
