"""A Salesforce batch must be cheap: the benchmarks share two cores between the sandbox and the pipeline."""

from __future__ import annotations

import statistics
import time

import orjson

from avesa_sandbox.instances import Instance
from avesa_sandbox.salesforce.answers import next_batch, run_query
from avesa_sandbox.salesforce.plan import bind
from avesa_sandbox.salesforce.schema import object_def
from avesa_sandbox.salesforce.simulator import SalesforceSimulator
from avesa_sandbox.salesforce.soql import parse
from avesa_sandbox.spec import InstanceSpec


def test_2000_record_batches_of_every_field_in_a_system_modstamp_window_cost_a_few_ms() -> None:
    spec = InstanceSpec("sf-perf", service="salesforce", scale="tiny", counts={"Task": 20000})
    instance = Instance(spec, "http://127.0.0.1:1")
    simulator = instance.simulator
    assert isinstance(simulator, SalesforceSimulator)
    fields = ", ".join(object_def("Task").field_names)
    soql = (
        f"SELECT {fields} FROM Task WHERE SystemModstamp >= 2024-03-01T00:00:00Z "
        "AND SystemModstamp < 2025-09-01T00:00:00Z ORDER BY Id"
    )
    started = time.process_time()
    plan = bind(parse(soql), instance.clock.now())
    first = run_query(instance, simulator, plan, "59.0", False, 2000, "query")
    costs = [time.process_time() - started]
    assert first.records == 2000 and b'"nextRecordsUrl":"/services/data/v59.0/query/01g' in first.body
    locator = orjson.loads(first.body)["nextRecordsUrl"].rsplit("/", 1)[1].split("-")[0]
    cursor = simulator.cursors.get(locator)
    assert cursor is not None
    offset, served = 2000, first.records
    while offset < len(cursor.keys):
        started = time.process_time()
        batch = next_batch(instance, simulator, cursor, offset, 2000, "59.0", "query")
        costs.append(time.process_time() - started)
        served += batch.records
        offset += 2000
    assert served == len(cursor.keys) > 10000
    median_ms = statistics.median(costs) * 1000
    print(f"\nSalesforce batch (2000 Tasks, every field, SystemModstamp window): {median_ms:.2f} ms CPU median")
    assert median_ms < 25
