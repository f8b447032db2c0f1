"""The Microsoft Graph connector against the Microsoft 365 sandbox over real HTTP: delta rounds,
empty pages, changes-only rounds with removals, lost sync state, snapshots, tokens, throttling."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.microsoft365 import GraphConnector
from avesa.connectors.paginators import END
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import AuthenticationError, ConfigError
from avesa.domain.pages import Page
from avesa_sandbox import SandboxAdmin, SandboxServer

SERVICE = "microsoft365"
OBSERVED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
"""The chunk end records are stamped with (the time the run observed them)."""
DELTA_PAGE = 200
"""Objects per delta page: Graph sizes delta pages itself (the sandbox serves 200)."""
EIGHT_DAYS = 8 * 86400
_names = itertools.count(1)


def graph_credentials(admin: SandboxAdmin, instance: str) -> dict[str, str]:
    """The credential fields the spec declares, from the sandbox instance (it also lists token_url, scope)."""
    declared = {field.name for field in load_catalog().service(SERVICE).credentials}
    return {k: v for k, v in admin.instance(instance)["credentials"].items() if k in declared}


class GraphInstances:
    """Creates Microsoft 365 sandbox tenants (tiny, unthrottled unless asked) and deletes them at the end."""

    def __init__(self, admin: SandboxAdmin) -> None:
        self.admin = admin
        self.created: list[str] = []

    def __call__(self, prefix: str = "graph", *, users: int | None = None, seed: int = 3,
                 knobs: dict | None = None) -> str:
        name = f"{prefix}-{next(_names)}"
        self.admin.create_instance(name, service=SERVICE, scale="tiny", seed=seed,
                                   counts={"users": users} if users else None,
                                   knobs={"rate_limit_per_minute": None, **(knobs or {})})
        self.created.append(name)
        return name

    def close(self) -> None:
        for name in self.created:
            self.admin.delete_instance(name)


@pytest.fixture
def graph_instance(sandbox_admin: SandboxAdmin) -> Iterator[GraphInstances]:
    instances = GraphInstances(sandbox_admin)
    yield instances
    instances.close()


def _connector(admin: SandboxAdmin, instance: str, *, credentials: dict[str, str] | None = None,
               page_size: int = 1000, attempts: int = 6) -> GraphConnector:
    return GraphConnector(
        spec=load_catalog().service(SERVICE), credentials=credentials or graph_credentials(admin, instance),
        tenant_id=instance, budget=RateBudget(requests_per_minute=60_000, burst=1000),
        options=HttpOptions(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.05), page_size=page_size)


async def _pages(connector: GraphConnector, table: str, after: str | None = None,
                 on_page: Callable[[Page], None] | None = None) -> list[Page]:
    pages = []
    async for page in connector.pages(table, OBSERVED, OBSERVED, after):
        pages.append(page)
        if on_page is not None:
            on_page(page)
    return pages


def _read(connector: GraphConnector, table: str, after: str | None = None,
          on_page: Callable[[Page], None] | None = None) -> list[Page]:
    async def run() -> list[Page]:
        try:
            return await _pages(connector, table, after, on_page)
        finally:
            await connector.aclose()

    return asyncio.run(run())


def _ids(pages: list[Page]) -> list[str]:
    return [rid for page in pages for rid in page.record_ids]


def _removed(pages: list[Page]) -> set[str]:
    return {page.record_ids[position] for page in pages for position in page.deleted}


# -- delta rounds ---------------------------------------------------------------------------------


def test_a_delta_round_reads_every_user_once_and_ends_on_the_delta_link(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=2 * DELTA_PAGE + 50)
    connector = _connector(sandbox_admin, name)
    pages = _read(connector, "users")
    ids = _ids(pages)
    assert len(ids) == len(set(ids)) and set(ids) == set(sandbox_admin.record_ids(name, "users"))
    assert [len(p) for p in pages] == [DELTA_PAGE, DELTA_PAGE, 50]
    assert all("/users/delta?$skiptoken=" in p.last_id for p in pages[:-1])
    assert "/users/delta?$deltatoken=" in pages[-1].last_id  # the cursor the engine keeps for the next run
    assert all(stamp == OBSERVED for p in pages for stamp in p.updated_at)
    assert not _removed(pages) and not any(p.sensitive for p in pages)
    first = orjson.loads(pages[0].raws[0])
    # $select brings the properties the contacts mapping reads, beyond Graph's default eleven
    assert {"department", "streetAddress", "postalCode", "accountEnabled", "businessPhones"} <= set(first)
    assert "passwordProfile" not in first and "signInActivity" not in first


def test_empty_pages_with_a_next_link_only_move_the_cursor(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=3 * DELTA_PAGE, knobs={"empty_page_rate": 0.6}, seed=7)
    pages = _read(_connector(sandbox_admin, name), "users")
    empty = [p for p in pages if not len(p)]
    assert empty, "the knob should have produced empty pages"
    assert all(p.last_id and "$skiptoken=" in p.last_id for p in empty)  # each moves the cursor on
    ids = _ids(pages)
    assert len(ids) == len(set(ids)) == 3 * DELTA_PAGE
    assert "$deltatoken=" in pages[-1].last_id


def test_a_round_resumes_from_a_checkpointed_next_link(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=2 * DELTA_PAGE + 50)
    whole = _read(_connector(sandbox_admin, name), "users")
    rest = _read(_connector(sandbox_admin, name), "users", after=whole[0].last_id)
    assert _ids(rest) == _ids(whole)[DELTA_PAGE:]
    assert rest[-1].last_id.split("$deltatoken=")[0] == whole[-1].last_id.split("$deltatoken=")[0]
    assert _read(_connector(sandbox_admin, name), "users", after=END) == []


def test_the_kept_delta_link_returns_only_changes_and_removals(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=120)
    link = _read(_connector(sandbox_admin, name), "users")[-1].last_id
    seq = len(sandbox_admin.changes(name))
    sandbox_admin.mutate(name, updates=15, inserts=4, deletes=3, tables=["users"], seed=5)
    log = sandbox_admin.changes(name, table="users", after_seq=seq)
    deleted = {e["id"] for e in log if e["op"] == "delete"}
    touched = {e["id"] for e in log} - deleted

    changes = _read(_connector(sandbox_admin, name), "users", after=link)
    ids = _ids(changes)
    assert len(ids) == len(set(ids))
    assert _removed(changes) == deleted
    for page in changes:
        for position in page.deleted:
            assert orjson.loads(page.raws[position]) == {"id": page.record_ids[position],
                                                          "@removed": {"reason": "changed"}}
    # every changed user comes back whole (a change to a property outside $select would not)
    assert set(ids) - deleted <= touched and len(set(ids) - deleted) >= 4
    assert "$deltatoken=" in changes[-1].last_id and changes[-1].last_id != link
    # and a round from the new link finds nothing more
    again = _read(_connector(sandbox_admin, name), "users", after=changes[-1].last_id)
    assert _ids(again) == [] and "$deltatoken=" in again[-1].last_id


def test_an_expired_delta_link_restarts_a_full_round_and_says_so(
        engine_sandbox: SandboxServer, sandbox_admin: SandboxAdmin, graph_instance: GraphInstances,
        caplog: pytest.LogCaptureFixture) -> None:
    name = graph_instance(users=60)
    link = _read(_connector(sandbox_admin, name), "devices")[-1].last_id
    assert engine_sandbox.registry is not None
    clock = engine_sandbox.registry.clock
    clock.offset_seconds += EIGHT_DAYS  # delta tokens of directory objects live seven days
    try:
        with caplog.at_level(logging.WARNING, logger="avesa.connectors.microsoft365"):
            pages = _read(_connector(sandbox_admin, name), "devices", after=link)
    finally:
        clock.offset_seconds -= EIGHT_DAYS
    assert set(_ids(pages)) == set(sandbox_admin.record_ids(name, "devices"))  # a whole new round
    assert "$deltatoken=" in pages[-1].last_id
    assert any("HTTP 410" in r.message and "new delta round" in r.message and name in r.message
               for r in caplog.records)


def test_a_link_graph_never_issued_or_for_another_host_starts_over(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance()
    link = _read(_connector(sandbox_admin, name), "groups")[-1].last_id
    forged = link.split("$deltatoken=")[0] + "$deltatoken=bm90LWlzc3VlZC1oZXJl"
    everything = set(sandbox_admin.record_ids(name, "groups"))
    assert set(_ids(_read(_connector(sandbox_admin, name), "groups", after=forged))) == everything
    elsewhere = "https://graph.example.invalid/v1.0/groups/delta?$deltatoken=abc"  # never asked: it would get the token
    assert set(_ids(_read(_connector(sandbox_admin, name), "groups", after=elsewhere))) == everything


# -- snapshot tables and id listings ----------------------------------------------------------------


def test_snapshot_tables_are_listed_whole_and_sensitive_fields_are_flagged(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance()
    devices = _read(_connector(sandbox_admin, name, page_size=10), "managed_devices")
    assert [len(p) for p in devices][:3] == [10, 10, 10] and devices[-1].last_id == END
    assert set(_ids(devices)) == set(sandbox_admin.record_ids(name, "deviceManagement/managedDevices"))
    # Intune serves activationLockBypassCode (null or not): every record is marked for stripping
    assert all(p.sensitive == list(range(len(p))) for p in devices)
    # a checkpointed next link Graph no longer accepts (400 ExpiredPageToken) starts the listing over
    forgotten = devices[0].last_id[:-8] + "AAAAAAAA"
    again = _read(_connector(sandbox_admin, name, page_size=10), "managed_devices", after=forgotten)
    assert _ids(again) == _ids(devices)
    organization = _read(_connector(sandbox_admin, name), "organization")
    assert [len(p) for p in organization] == [1] and organization[0].last_id == END
    skus = _read(_connector(sandbox_admin, name), "subscribed_skus")
    assert set(_ids(skus)) == set(sandbox_admin.record_ids(name, "subscribedSkus"))


def test_list_ids_lists_every_live_id_and_span_says_nothing(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=1100)
    sandbox_admin.mutate(name, deletes=5, tables=["users"], seed=2)

    async def run() -> tuple[list[str], tuple, int | None]:
        connector = _connector(sandbox_admin, name)
        try:
            ids = [i async for batch in connector.list_ids("users") for i in batch]
            return ids, await connector.span("users", None, OBSERVED), await connector.count("users", None, OBSERVED)
        finally:
            await connector.aclose()

    ids, span, count = asyncio.run(run())
    assert sorted(ids) == sorted(sandbox_admin.record_ids(name, "users")) and len(ids) == 1095
    assert span == (None, None) and count is None


# -- credentials and tokens -------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", [{"client_secret": "not-the-secret"}, {"tenant_id": "nosuch.onmicrosoft.com"}])
def test_wrong_credentials_fail_with_an_authentication_error_naming_the_tenant(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances, wrong: dict[str, str]) -> None:
    name = graph_instance()
    credentials = {**graph_credentials(sandbox_admin, name), **wrong}
    with pytest.raises(AuthenticationError) as info:
        _read(_connector(sandbox_admin, name, credentials=credentials), "users")
    message = str(info.value)
    assert f"{name}/microsoft365" in message and "credentials" in message and "AADSTS" in message
    assert credentials["client_secret"] not in message


def test_check_proves_the_credentials(sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance()

    async def check(credentials: dict[str, str]) -> None:
        connector = _connector(sandbox_admin, name, credentials=credentials)
        try:
            await connector.check()
        finally:
            await connector.aclose()

    good = graph_credentials(sandbox_admin, name)
    asyncio.run(check(good))
    with pytest.raises(AuthenticationError):
        asyncio.run(check({**good, "client_secret": "wrong"}))


def test_a_revoked_token_is_replaced_mid_round(sandbox_admin: SandboxAdmin,
                                               graph_instance: GraphInstances) -> None:
    name = graph_instance(users=2 * DELTA_PAGE + 50)
    connector = _connector(sandbox_admin, name)

    def revoke_after_first(page: Page) -> None:
        if page.number == 1:
            sandbox_admin.add_fault(name, "token-expired", table="users")

    pages = _read(connector, "users", on_page=revoke_after_first)
    assert len(_ids(pages)) == 2 * DELTA_PAGE + 50
    assert connector.auth is not None and connector.auth.tokens_issued == 2  # type: ignore[attr-defined]
    assert sandbox_admin.stats(name)["faults"].get("token-expired") == 1


def test_a_token_past_its_lifetime_is_renewed_mid_round(
        engine_sandbox: SandboxServer, sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=2 * DELTA_PAGE + 50, knobs={"token_ttl_seconds": 120})
    connector = _connector(sandbox_admin, name)
    assert engine_sandbox.registry is not None
    clock = engine_sandbox.registry.clock
    shifted = []

    def age_the_token(page: Page) -> None:
        if page.number == 1:  # Graph's clock moves past the token's expiry; ours has not noticed
            clock.offset_seconds += 121
            shifted.append(121)

    try:
        pages = _read(connector, "users", on_page=age_the_token)
    finally:
        clock.offset_seconds -= sum(shifted)
    assert len(_ids(pages)) == 2 * DELTA_PAGE + 50
    assert connector.auth.tokens_issued == 2  # type: ignore[union-attr]


# -- throttling -------------------------------------------------------------------------------------


def test_throttling_with_and_without_retry_after_is_waited_out(
        sandbox_admin: SandboxAdmin, graph_instance: GraphInstances) -> None:
    name = graph_instance(users=2 * DELTA_PAGE + 50)
    for kind in ("429", "429-no-retry-after", "503", "503-retry-after"):
        sandbox_admin.add_fault(name, kind, table="users", retry_after=1)
    connector = _connector(sandbox_admin, name)
    pages = _read(connector, "users")
    assert set(_ids(pages)) == set(sandbox_admin.record_ids(name, "users"))
    stats = connector.http.options.stats
    assert stats.rate_limited == 3  # both 429s and the 503 that said Retry-After
    assert stats.retries == 4
    assert connector.http.budget.pauses >= 1  # Retry-After paused the tenant's whole budget


# -- configuration ----------------------------------------------------------------------------------


def test_login_and_graph_urls_default_to_the_public_cloud() -> None:
    spec = load_catalog().service(SERVICE)
    connector = GraphConnector(spec=spec, credentials={"tenant_id": "contoso.onmicrosoft.com", "client_id": "c",
                                                       "client_secret": "s", "login_url": "", "graph_url": ""},
                               tenant_id="contoso", budget=RateBudget(600, 10), options=HttpOptions())
    assert connector.base_url == "https://graph.microsoft.com/v1.0/"
    assert connector.auth._token_url == (  # type: ignore[union-attr]
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
    assert connector.auth._form["scope"] == "https://graph.microsoft.com/.default"  # type: ignore[union-attr]
    asyncio.run(connector.aclose())

    us = GraphConnector(spec=spec, credentials={"tenant_id": "contoso.onmicrosoft.us", "client_id": "c",
                                                "client_secret": "s", "login_url": "https://login.microsoftonline.us/",
                                                "graph_url": "https://graph.microsoft.us/v1.0/"},
                        tenant_id="contoso", budget=RateBudget(600, 10), options=HttpOptions())
    assert us.auth._form["scope"] == "https://graph.microsoft.us/.default"  # type: ignore[union-attr]
    assert us.auth._token_url == (  # type: ignore[union-attr]
        "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token")
    asyncio.run(us.aclose())


def test_a_tenant_id_that_is_not_a_guid_or_domain_is_refused() -> None:
    with pytest.raises(ConfigError, match="tenant_id must be"):
        GraphConnector(spec=load_catalog().service(SERVICE),
                       credentials={"tenant_id": "x/../common", "client_id": "c", "client_secret": "s"},
                       tenant_id="contoso", budget=RateBudget(600, 10), options=HttpOptions())
