"""An id listing cut into id ranges read at once (pipeline/id_listing.py) against the sandbox over
real HTTP: it lists exactly what one keyset walk lists — records deleted at the source left out —
for ConnectWise (numeric ids), ServiceNow (sys_ids) and Salesforce (Ids), and a range whose page
breaks the id order fails the whole listing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.connectwise import ConnectWiseConnector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.id_ranges import in_id_order, split
from avesa.connectors.queries import QueryParams
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rest import RestConnector
from avesa.connectors.salesforce import SalesforceConnector
from avesa.connectors.servicenow import ServiceNowConnector
from avesa.domain.errors import BadDataError
from avesa.pipeline.id_listing import list_ranges
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials
from tests.connectors.support import instances
from tests.connectors.test_salesforce import ROOMY, sf_credentials
from tests.connectors.test_servicenow import UNTHROTTLED, sn_credentials

PAGE = 7
"""Ids a listing page: every range of these small tables then takes a few pages."""

KINDS = {"connectwise": ConnectWiseConnector, "servicenow": ServiceNowConnector, "salesforce": SalesforceConnector}


def connector(admin: SandboxAdmin, service: str, instance: str) -> RestConnector:
    credentials = {"connectwise": sandbox_credentials, "servicenow": sn_credentials,
                   "salesforce": sf_credentials}[service](admin, instance)
    return KINDS[service](spec=load_catalog().service(service).model_copy(update={"page_size_max": PAGE}),
                          credentials=credentials, tenant_id=instance,
                          budget=RateBudget(requests_per_minute=60_000, burst=1000),
                          options=HttpOptions(max_attempts=2, backoff_initial=0.01, backoff_max=0.05))


def listed(conn: RestConnector, table: str, count: int, known: list[str]) -> tuple[list[str], set[str]]:
    """(one walk's ids in order, the union of `count` ranges cut at `known`)."""
    async def run() -> tuple[list[str], set[str]]:
        try:
            walk = [rid async for batch in conn.list_ids(table) for rid in batch]
            return walk, await list_ranges(conn, table, split(in_id_order(known), count))
        finally:
            await conn.aclose()
    return asyncio.run(run())


@pytest.fixture
def instance(sandbox_admin: SandboxAdmin) -> Iterator[Callable[[str], str]]:
    """An instance of a service: ConnectWise, ServiceNow or Salesforce (deleted after the test)."""
    made = {service: instances(sandbox_admin, service, f"rl-{service[:2]}", knobs)
            for service, knobs in (("connectwise", {"rate_limit_per_minute": None}),
                                   ("servicenow", UNTHROTTLED), ("salesforce", ROOMY))}
    creators = {service: next(generator) for service, generator in made.items()}
    yield lambda service: creators[service]()
    for generator in made.values():
        next(generator, None)


@pytest.mark.parametrize(("service", "table", "path"), [
    ("connectwise", "service_tickets", "service/tickets"),
    ("servicenow", "incident", "incident"),
    ("salesforce", "Case", "Case"),
])
def test_a_listing_by_ranges_lists_what_one_walk_lists(sandbox_admin: SandboxAdmin, instance: Callable[[str], str],
                                                       service: str, table: str, path: str) -> None:
    name = instance(service)
    known = [str(rid) for rid in sandbox_admin.record_ids(name, path)]  # what an earlier run landed
    victims = in_id_order(known)[::9]  # among them the first id: the first range's lowest
    for victim in victims:
        sandbox_admin.delete_record(name, path, int(victim) if service == "connectwise" else victim)
    truth = {str(rid) for rid in sandbox_admin.record_ids(name, path)}
    assert len(truth) == len(known) - len(victims) and len(truth) > 4 * PAGE

    for count in (2, 5, 8):
        walk, by_ranges = listed(connector(sandbox_admin, service, name), table, count, known)
        assert set(walk) == by_ranges == truth, count
        assert not by_ranges & set(victims)
    # boundaries the source never held (ids of another table) still cover every id
    _, by_ranges = listed(connector(sandbox_admin, service, name), table, 3, [*victims, *known[:2]])
    assert by_ranges == truth


def test_a_range_whose_page_breaks_the_id_order_fails_the_whole_listing(sandbox_admin: SandboxAdmin,
                                                                        new_instance: Callable[..., str]) -> None:
    name = new_instance("rl-order")
    known = [str(rid) for rid in sandbox_admin.record_ids(name, "service/tickets")]
    sandbox_admin.add_fault(name, "ids-descending", table="service/tickets", count=1)
    with pytest.raises(BadDataError, match=r"listing ids, page 1: id \d+ is not above \d+: the API ignored the id "
                                           r"order or the keyset condition; no record is marked deleted"):
        listed(connector(sandbox_admin, "connectwise", name), "service_tickets", 4, known)
    sandbox_admin.clear_faults(name)
    walk, by_ranges = listed(connector(sandbox_admin, "connectwise", name), "service_tickets", 4, known)
    assert set(walk) == by_ranges == set(known)


def test_an_id_above_the_range_fails_the_listing(sandbox_admin: SandboxAdmin,
                                                 new_instance: Callable[..., str]) -> None:
    """An API that ignored the range's upper bound would still list ids in order: the bound is checked too."""
    conn = connector(sandbox_admin, "connectwise", new_instance("rl-bound"))
    conn.check_listing("service_tickets", [5, 6, 10], "4", 1, "10")  # at most the bound: fine
    with pytest.raises(BadDataError, match="listing ids, page 1: id 12 is above 10, the end of the id range listed"):
        conn.check_listing("service_tickets", [5, 6, 12], "4", 1, "10")
    asyncio.run(conn.aclose())


def test_plain_rest_parameters_cannot_list_a_range() -> None:
    """Plain REST parameters (the Acme Helpdesk guide's catalog) have no upper id bound: one walk."""
    spec = load_catalog().service("connectwise")
    query = QueryParams(spec.incremental, spec.paginator)
    assert not query.lists_ranges
    with pytest.raises(ValueError, match="cannot bound the id from above"):
        query.params(spec.table("service_tickets"), None, None, "5", 10, through="9")
