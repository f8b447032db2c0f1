"""The canonical SCD2 history against the sandbox's ground-truth change log, with the source
changing while the pipeline extracts: no version lost, none duplicated, none invented."""

from __future__ import annotations

from collections import defaultdict

import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox import SandboxAdmin
from tests.pipeline.change_log import Mutator, timed_sync
from tests.pipeline.helpers import CONNECTWISE_SYNCED, canonical, let_source_clock_pass
from tests.pipeline.test_end_to_end import _assert_matches_source


@pytest.mark.slow
def test_history_equals_the_change_log_when_the_source_changes_during_extraction(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx) -> None:
    instance = new_instance("hist", knobs={"latency_ms": 15})
    tenant = register(make_ctx(), instance)
    runs = [timed_sync(make_ctx, full=True)[0]]
    sandbox_admin.mutate(tenant, updates=30, inserts=10, deletes=5, seed=11, tables=CONNECTWISE_SYNCED)
    let_source_clock_pass(sandbox_admin, [tenant])

    with Mutator(sandbox_admin, tenant, tables=CONNECTWISE_SYNCED, seed=0) as mutator:
        runs.append(timed_sync(make_ctx)[0])
    assert mutator.rounds >= 3, "the source must change while the incremental sync extracts"
    let_source_clock_pass(sandbox_admin, [tenant])
    runs.append(timed_sync(make_ctx)[0])
    let_source_clock_pass(sandbox_admin, [tenant])
    runs.append(timed_sync(make_ctx, full=True)[0])

    catalog = load_catalog()
    spec = catalog.service("connectwise")
    log: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in sandbox_admin.changes(tenant):
        log[(entry["table"], str(entry["id"]))].append(entry)
    changed_during_extraction = sum(
        1 for versions in log.values() for v in versions
        if runs[1].wall_start <= parse_utc(v["changed_at"]).timestamp() <= runs[1].wall_end
    )
    assert changed_during_extraction > 0

    for source_table in spec.default_tables:
        mapping = catalog.mapping("connectwise", source_table)
        compiled = CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))
        business = compiled.business_columns
        path = spec.table(source_table).path
        rows = [r for r in canonical(make_ctx(), tenant, mapping.canonical_table).to_pylist()
                if r["source_table"] == source_table]

        def mapped(entry: dict, compiled: CompiledMapping = compiled) -> dict:
            return compiled.to_versions(
                [(str(entry["id"]), parse_utc(entry["last_updated"]), orjson.dumps(entry["record"]).decode())],
                tenant_id=tenant, run_id="truth", loaded_at=utc_now(),
            ).to_pylist()[0]

        # 1. none duplicated
        starts = [(r["source_id"], r["effective_start_date"]) for r in rows]
        assert len(starts) == len(set(starts)), f"{source_table}: duplicate versions"

        by_key: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            by_key[r["source_id"]].append(r)
        for key_rows in by_key.values():
            key_rows.sort(key=lambda r: r["effective_start_date"])

        # 2. none invented: each version is a logged version of that record, with its values
        for r in rows:
            versions = log[(path, r["source_id"])]
            if r["is_deleted"]:
                deletes = [v for v in versions if v["op"] == "delete"]
                assert deletes and parse_utc(deletes[-1]["changed_at"]) <= r["effective_start_date"]
                continue
            same_stamp = [v for v in versions if v["op"] != "delete"
                          and parse_utc(v["last_updated"]) == r["effective_start_date"]]
            assert len(same_stamp) == 1, f"{source_table}/{r['source_id']}: no logged version at its start"
            expected = mapped(same_stamp[0])
            assert {c: r[c] for c in business} == {c: expected[c] for c in business}

        # 3. none lost: a version current throughout a run, and stamped inside its range, is in history
        checked = 0
        for (table, record_id), versions in log.items():
            if table != path:
                continue
            for v, nxt in zip(versions, [*versions[1:], None], strict=True):
                if v["op"] == "delete":
                    continue
                born = parse_utc(v["changed_at"]).timestamp()
                died = parse_utc(nxt["changed_at"]).timestamp() if nxt else float("inf")
                stamp = parse_utc(v["last_updated"])
                if not any(born <= w.wall_start and died > w.wall_end and stamp < w.end_bound for w in runs):
                    continue
                checked += 1
                covering = [r for r in by_key.get(record_id, []) if r["effective_start_date"] <= stamp
                            and (r["effective_end_date"] is None or stamp < r["effective_end_date"])]
                assert len(covering) == 1, f"{source_table}/{record_id}: version at {stamp} lost"
                expected = mapped(v)
                assert {c: covering[0][c] for c in business} == {c: expected[c] for c in business}, (
                    f"{source_table}/{record_id}: history at {stamp} differs from the source")
        assert checked > 0

    # 4. and the current rows are exactly the source now
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
