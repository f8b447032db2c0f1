"""HTTP routes of the simulated Acme Helpdesk API: ``/helpdesk/{instance}/api/v2/...``.

- ``GET api/v2/{table}``: a page of records (``params`` validates the query, ``listing`` answers);
- ``GET api/v2/{table}/{id}``: one record.

Every request goes through the steps a real deployment applies, in order: latency, authentication
(401), the rate limit (429 + ``Retry-After``; ``X-RateLimit-*`` headers on every answer while a
limit applies), routing (404 unknown endpoint, table or record; 405 anything but GET), injected
faults (one-shot first, then random by the knobs), and the answer (400 for a bad parameter).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.faults import ERROR_STATUS_WITH_503_RETRY_AFTER, FaultKind, OneShotFault, RequestScope, random_fault
from avesa_sandbox.helpdesk import errors
from avesa_sandbox.helpdesk.auth import HEADER, authenticated
from avesa_sandbox.helpdesk.limits import rate_limit_headers
from avesa_sandbox.helpdesk.listing import list_page, record_body
from avesa_sandbox.helpdesk.params import BadParameter, parse_get, parse_list
from avesa_sandbox.helpdesk.simulator import SERVICE
from avesa_sandbox.helpdesk.tables import TABLES
from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.latency import delay_response, hold_response
from avesa_sandbox.ratelimit import TokenBucket
from avesa_sandbox.responses import (
    JSON_MEDIA_TYPE,
    ResetResponse,
    TruncatedResponse,
    echoed_request,
    malformed,
    without_first_id,
)

API_PREFIX = "api/v2"

_IMMEDIATE_STATUS = ERROR_STATUS_WITH_503_RETRY_AFTER


@dataclass(frozen=True)
class Target:
    """What a request path addresses: a table's list, or one of its records (``record_id`` as given)."""

    table: str
    scope: RequestScope
    record_id: str | None = None


class NotFound(Exception):
    """A path that addresses nothing; the message is the 404's."""


def resolve_path(path: str) -> Target:
    """``api/v2/tickets`` -> list, ``api/v2/tickets/100023`` -> one record; NotFound otherwise."""
    parts = [part for part in path.strip("/").split("/") if part]
    if len(parts) < 3 or "/".join(parts[:2]) != API_PREFIX or len(parts) > 4:
        raise NotFound(f"no such endpoint: /{path.strip('/')}; the API is /{API_PREFIX}/{{table}}[/{{id}}]")
    table = parts[2]
    if table not in TABLES:
        raise NotFound(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    if len(parts) == 3:
        return Target(table, RequestScope.LIST)
    return Target(table, RequestScope.GET, parts[3])


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


class HelpdeskApi:
    """The request handler, bound to a registry of instances."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def handle(self, request: Request) -> Response:
        instance = self.registry.get(request.path_params["instance"])
        if instance is None or instance.spec.service != SERVICE:
            return _json(errors.not_found("no Acme Helpdesk account at this address"), 404)
        knobs = instance.knobs
        hold_response(request, instance)

        if not authenticated(instance.name, request.headers.get(HEADER), request.headers.get("authorization")):
            instance.stats.record(401)
            return _json(errors.unauthorized(), 401, rate_limit_headers(instance.bucket))
        wait = instance.bucket.try_acquire()
        if wait > 0:
            instance.stats.record(429)
            retry_after = TokenBucket.retry_after_header(wait)
            headers = rate_limit_headers(instance.bucket, throttled=True) | {"Retry-After": retry_after}
            return _json(errors.rate_limited(retry_after), 429, headers)
        headers = rate_limit_headers(instance.bucket)

        try:
            target = resolve_path(request.path_params["path"])
        except NotFound as error:
            instance.stats.record(404)
            return _json(errors.not_found(str(error)), 404, headers)
        if request.method not in ("GET", "HEAD"):
            instance.stats.record(405, target.table)
            return _json(errors.method_not_allowed(request.method), 405, headers | {"Allow": "GET"})

        one_shot = instance.faults.take(target.table, target.scope)
        fault = one_shot.kind if one_shot else random_fault(knobs, instance.rng)
        if fault in _IMMEDIATE_STATUS or fault is FaultKind.RESET:
            return self._immediate_fault(instance, target, fault, one_shot, headers)
        if fault is FaultKind.SLOW:
            await asyncio.sleep((one_shot.delay_ms if one_shot else 2000.0) / 1000)
        # an API key does not expire: a ``token-expired`` fault is served normally
        if fault is FaultKind.ECHO_REQUEST:
            instance.stats.record(400, target.table, fault=fault.value)
            return _json(echoed_request(request), 400, headers)

        status, body, records = self._answer(instance, target, request, descending=fault is FaultKind.IDS_DESCENDING)
        delay_response(request, knobs.latency_per_record_ms * records / 1000)
        fault_name = fault.value if fault is not None else None
        if status == 200 and fault is FaultKind.MALFORMED:
            body = malformed(body)
        if status == 200 and fault is FaultKind.RECORD_WITHOUT_ID and target.scope is RequestScope.LIST:
            body = without_first_id(body, "id", "data")
        instance.stats.record(status, target.table, len(body), records, fault_name)
        if status == 200 and fault is FaultKind.TRUNCATED:
            return TruncatedResponse(body, headers)
        return _json(body, status, headers)

    def _immediate_fault(
        self,
        instance: Instance,
        target: Target,
        fault: FaultKind | None,
        one_shot: OneShotFault | None,
        headers: dict[str, str],
    ) -> Response:
        assert fault is not None
        instance.stats.record(_IMMEDIATE_STATUS.get(fault, 0), target.table, fault=fault.value)
        if fault is FaultKind.RESET:
            return ResetResponse()
        status = _IMMEDIATE_STATUS[fault]
        retry_after = str(one_shot.retry_after if one_shot else 1)
        if fault in (FaultKind.RATE_LIMITED, FaultKind.UNAVAILABLE_RETRY_AFTER):
            headers = headers | {"Retry-After": retry_after}
        if status == 429:
            with_retry = retry_after if fault is FaultKind.RATE_LIMITED else None
            return _json(errors.rate_limited(with_retry), 429, headers)
        return _json(errors.server_error(status), status, headers)

    def _answer(self, instance: Instance, target: Target, request: Request, *,
                descending: bool = False) -> tuple[int, bytes, int]:
        """(status, body, records) of a well-behaved answer — with `descending`, a list in descending
        id order whatever ``sort`` asked (the ``ids-descending`` fault)."""
        items = request.query_params.multi_items()
        noun = TABLES[target.table].noun
        try:
            if target.scope is RequestScope.GET:
                fields = parse_get(target.table, items)
                raw = target.record_id or ""
                key = int(raw) if raw.isascii() and raw.isdigit() else 0
                with instance.lock:
                    store = instance.tables[target.table]
                    if key not in store:
                        return 404, errors.not_found(f"{noun} {raw} not found"), 0
                    return 200, record_body(store, key, fields), 1
            params = parse_list(target.table, items)
            with instance.lock:
                page = list_page(instance.tables[target.table], params, descending=descending)
            return 200, page.body, page.records
        except BadParameter as error:
            return 400, errors.invalid_parameter(str(error)), 0


def build_helpdesk_app(registry: Registry) -> Starlette:
    """The Acme Helpdesk service app, to be mounted at ``/helpdesk``."""
    api = HelpdeskApi(registry)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route("/{instance}/{path:path}", api.handle, methods=methods)])
