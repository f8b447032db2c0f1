"""A ServiceNow keyset page must be cheap: the benchmarks share two cores between the sandbox and the pipeline."""

from __future__ import annotations

import statistics
import time

from avesa_sandbox.instances import Instance
from avesa_sandbox.selection import Query, select
from avesa_sandbox.servicenow.display import View
from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.servicenow.predicates import compile_query
from avesa_sandbox.servicenow.serialize import list_body
from avesa_sandbox.servicenow.simulator import ServiceNowSimulator
from avesa_sandbox.spec import InstanceSpec


def test_a_1000_record_keyset_page_in_a_time_window_costs_a_few_ms() -> None:
    spec = InstanceSpec("sn-perf", service="servicenow", scale="tiny", counts={"time_card": 20000})
    instance = Instance(spec, "http://127.0.0.1:1")
    simulator = instance.simulator
    assert isinstance(simulator, ServiceNowSimulator)
    store = instance.tables["time_card"]
    window = "sys_updated_on>=2024-03-01 00:00:00^sys_updated_on<2025-09-01 00:00:00"
    costs, served, last = [], [], ""
    while True:
        started = time.process_time()
        keyset = f"^sys_id>{last}" if last else ""
        compiled = compile_query("time_card", f"{window}{keyset}^ORDERBYsys_id", 0)
        lookup = Lookup(instance.tables)
        b = compiled.bounds
        query = Query(
            b.id_low, b.id_high, b.updated_low, b.updated_high, compiled.predicate(lookup),
            compiled.ordering(lookup), 0, 1000, True,
        )  # fmt: skip
        selection = select(store, query)
        body = list_body(store, selection.ids, View(), lookup, simulator.linkless)
        costs.append(time.process_time() - started)
        if not selection.ids:
            break
        assert body.startswith(b'{"result":[{')
        served += selection.ids
        last = simulator.public_id("time_card", selection.ids[-1])
    assert len(served) == len(set(served)) > 10000
    median_ms = statistics.median(costs) * 1000
    print(f"\nServiceNow keyset page (1000 of 20,000 time cards, window + sys_id>X): {median_ms:.2f} ms CPU median")
    assert median_ms < 25
