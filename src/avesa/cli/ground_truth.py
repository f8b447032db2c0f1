"""Compare canonical tables with the sandbox's ground truth (the demo's closing check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from avesa.domain.timeutil import parse_utc, utc_now
from avesa.lake.canonical_reader import read_current
from avesa.pipeline.context import PipelineContext
from avesa.transform.mapping import CompiledMapping

if TYPE_CHECKING:
    from avesa_sandbox.client import SandboxAdmin


@dataclass
class TableCheck:
    tenant_id: str
    service: str
    canonical_table: str
    source_rows: int
    canonical_rows: int
    missing: int  # live at the source, absent or deleted in canonical
    stale: int  # present in both, but canonical's business columns differ from the source record's
    ghosts: int  # gone at the source, still live in canonical

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.ghosts)


def check_tenant(ctx: PipelineContext, admin: SandboxAdmin, tenant_id: str, instance: str,
                 service: str = "connectwise") -> list[TableCheck]:
    """For each mapped source table of the tenant's service: the current canonical rows against the
    sandbox instance's records now.

    Business columns are compared, not timestamps: a source update that changed nothing is, by the
    SCD2 rules, not a new version, so the canonical row keeps its earlier start.
    """
    spec = ctx.catalog.service(service)
    config = ctx.state.get_service(tenant_id, service)
    latest: dict[str, dict[str, dict]] = {}
    for entry in admin.changes(instance):
        latest.setdefault(entry["table"], {})[str(entry["id"])] = entry
    checks = []
    for table in config.tables if config else []:
        mapping = ctx.catalog.mapping(service, table)
        if mapping is None:
            continue
        truth = {rid: e for rid, e in latest.get(spec.table(table).path, {}).items() if e["op"] != "delete"}
        current = read_current(ctx.lake.canonical_uri(tenant_id, mapping.canonical_table),
                               source_service=service, source_table=table)
        rows = current.to_pylist() if current is not None else []
        live = {r["source_id"]: r for r in rows if not r["is_deleted"]}
        compiled = CompiledMapping(mapping, ctx.catalog.canonical_table(mapping.canonical_table))
        expected = compiled.to_versions(
            ((rid, parse_utc(e["last_updated"]), orjson.dumps(e["record"]).decode()) for rid, e in truth.items()),
            tenant_id=tenant_id, run_id="check", loaded_at=utc_now(),
        ).to_pylist()
        business = compiled.business_columns
        stale = sum(
            1 for row in expected
            if row["source_id"] in live and any(row[c] != live[row["source_id"]][c] for c in business)
        )
        checks.append(TableCheck(
            tenant_id=tenant_id, service=service, canonical_table=mapping.canonical_table, source_rows=len(truth),
            canonical_rows=len(live), missing=len(truth.keys() - live.keys()), stale=stale,
            ghosts=len(live.keys() - truth.keys()),
        ))
    return checks
