"""HTTP routes of the simulated ConnectWise API: ``/connectwise/{instance}/v4_6_release/apis/3.0/...``.

Every request goes through the same steps, in the order a real deployment applies them:
latency, rate limit (429 + ``Retry-After``), authentication (401), routing (404), injected faults
(one-shot first, then random by the knobs), and finally the list / count / single-record answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.connectwise import auth, errors
from avesa_sandbox.connectwise.query import (
    BadRequest,
    build_query,
    count_query,
    link_header,
    parse_fields,
    parse_list_params,
    project,
)
from avesa_sandbox.connectwise.simulator import API_PATH
from avesa_sandbox.connectwise.tables import TABLES, TableDef
from avesa_sandbox.faults import ERROR_STATUS, FaultKind, OneShotFault, RequestScope, random_fault
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
from avesa_sandbox.selection import select

_IMMEDIATE_STATUS = ERROR_STATUS


@dataclass(frozen=True)
class Target:
    """What a request path addresses."""

    table: TableDef
    scope: RequestScope
    record_id: int | None = None


def resolve_path(path: str) -> Target | None:
    """``company/companies`` -> list, ``.../count`` -> count, ``.../250`` -> one record; else None."""
    path = path.strip("/")
    table = TABLES.get(path)
    if table is not None:
        return Target(table, RequestScope.LIST)
    head, _, tail = path.rpartition("/")
    table = TABLES.get(head)
    if table is None:
        return None
    if tail.lower() == "count":
        return Target(table, RequestScope.COUNT)
    if tail.isdigit():
        return Target(table, RequestScope.GET, int(tail))
    return None


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


@functools.lru_cache(maxsize=1024)
def _credentials(instance: str) -> auth.Credentials:
    return auth.credentials_for(instance)


class ConnectWiseApi:
    """The request handler, bound to a registry of instances."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def handle(self, request: Request) -> Response:
        instance = self.registry.get(request.path_params["instance"])
        if instance is None or instance.spec.service != "connectwise":
            return _json(errors.not_found("No ConnectWise site at this address"), 404)
        knobs = instance.knobs
        hold_response(request, instance)

        wait = instance.bucket.try_acquire()
        if wait > 0:
            instance.stats.record(429)
            headers = {"Retry-After": TokenBucket.retry_after_header(wait)}
            return _json(errors.too_many_requests(), 429, headers)

        reason = auth.check(
            _credentials(instance.name), request.headers.get("authorization"), request.headers.get("clientid")
        )
        if reason is not None:
            instance.stats.record(401)
            return _json(errors.unauthorized(reason), 401)

        target = resolve_path(request.path_params["path"])
        if target is None:
            instance.stats.record(404)
            return _json(errors.not_found(f"No API endpoint at /{request.path_params['path']}"), 404)
        if request.method != "GET":
            instance.stats.record(405, target.table.endpoint)
            return _json(errors.error_body("MethodNotAllowed", "The sandbox API is read-only; use /_admin"), 405)

        one_shot = instance.faults.take(target.table.endpoint, target.scope)
        fault = one_shot.kind if one_shot else random_fault(knobs, instance.rng)
        if fault in _IMMEDIATE_STATUS or fault is FaultKind.RESET:
            return self._immediate_fault(instance, target, fault, one_shot)
        if fault is FaultKind.SLOW:
            await asyncio.sleep((one_shot.delay_ms if one_shot else 2000.0) / 1000)
        if fault is FaultKind.ECHO_REQUEST:
            instance.stats.record(400, target.table.endpoint, fault=fault.value)
            return _json(echoed_request(request), 400)

        try:
            status, body, headers, records = self._answer(instance, target, request,
                                                          descending=fault is FaultKind.IDS_DESCENDING)
            if status == 200 and fault is FaultKind.COUNT_PLUS_ONE and target.scope is RequestScope.COUNT:
                body = orjson.dumps({"count": orjson.loads(body)["count"] + 1})
        except BadRequest as error:
            body = errors.invalid_parameter(error.parameter, error.detail, target.table.noun)
            instance.stats.record(400, target.table.endpoint, len(body))
            return _json(body, 400)
        delay_response(request, knobs.latency_per_record_ms * records / 1000)

        fault_name = fault.value if fault is not None else None
        if status == 200 and fault is FaultKind.MALFORMED:
            body = malformed(body)
        if status == 200 and fault is FaultKind.RECORD_WITHOUT_ID and target.scope is RequestScope.LIST:
            body = without_first_id(body, "id")
        instance.stats.record(status, target.table.endpoint, len(body), records, fault_name)
        if status == 200 and fault is FaultKind.TRUNCATED:
            return TruncatedResponse(body, headers)
        return _json(body, status, headers)

    def _immediate_fault(
        self, instance: Instance, target: Target, fault: FaultKind | None, one_shot: OneShotFault | None
    ) -> Response:
        assert fault is not None
        instance.stats.record(_IMMEDIATE_STATUS.get(fault, 0), target.table.endpoint, fault=fault.value)
        if fault is FaultKind.RESET:
            return ResetResponse()
        status = _IMMEDIATE_STATUS[fault]
        if status == 429:
            headers = {}
            if fault is FaultKind.RATE_LIMITED:
                headers["Retry-After"] = str(one_shot.retry_after if one_shot else 1)
            return _json(errors.too_many_requests(), 429, headers)
        return _json(errors.server_error(status), status)

    def _answer(self, instance: Instance, target: Target, request: Request, *,
                descending: bool = False) -> tuple[int, bytes, dict[str, str], int]:
        """(status, body, headers, records) of a well-behaved answer — with `descending`, as if the
        request said ``orderBy=id desc`` (the ``ids-descending`` fault)."""
        schema = target.table.schema
        params = parse_list_params(request.query_params, request.headers)
        if descending:
            params = dataclasses.replace(params, order_by="id desc")
        tree = parse_fields(schema, params.fields)
        with instance.lock:
            store = instance.tables[target.table.endpoint]
            if target.scope is RequestScope.GET:
                record = store.get(target.record_id or 0)
                if record is None:
                    message = f"{target.table.noun} with id {target.record_id} was not found."
                    return 404, errors.not_found(message), {}, 0
                body = store.json_bytes(record["id"]) if tree is None else orjson.dumps(project(record, tree))
                return 200, body, {}, 1
            if target.scope is RequestScope.COUNT:
                selection = select(store, count_query(schema, params))
                return 200, orjson.dumps({"count": selection.total}), {}, 0
            selection = select(store, build_query(schema, params, want_total=not params.forward_only))
            if tree is None:
                body = store.json_array(selection.ids)
            else:
                records = store.records
                body = orjson.dumps([project(records[rid], tree) for rid in selection.ids])
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        link = link_header(
            url,
            request.query_params.multi_items(),
            params,
            selection.total,
            selection.has_more,
            selection.ids[-1] if selection.ids else None,
        )
        return 200, body, ({"Link": link} if link else {}), len(selection.ids)


def build_connectwise_app(registry: Registry) -> Starlette:
    """The ConnectWise service app, to be mounted at ``/connectwise``."""
    api = ConnectWiseApi(registry)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(routes=[Route(f"/{{instance}}/{API_PATH}/{{path:path}}", api.handle, methods=methods)])
