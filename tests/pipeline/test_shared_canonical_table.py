"""Two services of one tenant feed one canonical table. Their merges are serialised by the Delta
commit protocol — no lock held in any one process — so they may commit at the same moment, from
any workers, and both land whole."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from avesa.pipeline import canonical_build
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_servicenow import sn_credentials, sn_instance  # noqa: F401 (fixture)
from tests.pipeline.helpers import canonical, sync


def test_two_services_merging_into_one_canonical_table_at_the_same_moment_both_land(
        sandbox_admin: SandboxAdmin, new_instance, sn_instance: Callable[..., str],  # noqa: F811
        make_ctx: Callable[..., PipelineContext], monkeypatch: pytest.MonkeyPatch) -> None:
    tenant, servicenow = new_instance("both"), sn_instance()
    ctx = make_ctx()
    register_service(ctx, tenant_id=tenant, company_name="Both", service="connectwise",
                     credentials=sandbox_admin.connection(tenant), tables=["service_tickets"])
    register_service(ctx, tenant_id=tenant, company_name="Both", service="servicenow",
                     credentials=sn_credentials(sandbox_admin, servicenow), tables=["incident"])

    both_ready = threading.Barrier(2, timeout=30)
    raced: list[str] = []
    real = canonical_build.merge_scd2

    def merge_committing_beside_the_other(uri, versions, business_columns, **kwargs):
        """Each table's first commit waits until the other table's merge is about to commit too."""
        first = not any(source in raced for source in versions.column("source_service").unique().to_pylist())
        raced.extend(versions.column("source_service").unique().to_pylist())
        attempts = 0

        def before_commit() -> None:
            nonlocal attempts
            attempts += 1
            if first and attempts == 1:
                both_ready.wait()

        return real(uri, versions, business_columns, before_commit=before_commit, **kwargs)

    monkeypatch.setattr(canonical_build, "merge_scd2", merge_committing_beside_the_other)
    summary = sync(make_ctx(build_processes=0))  # the patch holds in this process: build in its threads
    assert summary.status == "complete", [r.error for r in summary.results]

    tickets = canonical(make_ctx(), tenant, "tickets").to_pylist()
    current = Counter(row["source_service"] for row in tickets if row["is_current"])
    assert current == {"connectwise": len(sandbox_admin.record_ids(tenant, "service/tickets")),
                       "servicenow": len(sandbox_admin.record_ids(servicenow, "incident"))}
