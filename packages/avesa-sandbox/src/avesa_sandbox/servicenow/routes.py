"""HTTP routes of the simulated ServiceNow instance: ``/servicenow/{instance}/...``.

- ``GET  api/now/table/{table}`` (also ``api/now/v1/...``, ``api/now/v2/...``): a page of records;
- ``GET  api/now/table/{table}/{sys_id}``: one record (``task/{sys_id}`` finds the incident,
  problem or change behind a ``task`` reference link);
- ``GET  api/now/stats/{table}?sysparm_count=true``: the Aggregate API's count;
- ``POST oauth_token.do``: OAuth 2 tokens (see ``auth``).

Every API request goes through the steps a real instance applies, in order: latency,
authentication (401), the rate limit rule (429 + ``Retry-After``; ``X-RateLimit-*`` headers on
every answer while a rule applies), routing (400 unknown table or resource, 403 writes: the
integration user may only read), injected faults (one-shot first, then random by the knobs), and
the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.faults import ERROR_STATUS, FaultKind, OneShotFault, RequestScope, random_fault
from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.latency import delay_response, hold_response
from avesa_sandbox.ratelimit import TokenBucket
from avesa_sandbox.responses import ResetResponse, TruncatedResponse, malformed
from avesa_sandbox.selection import Query, select
from avesa_sandbox.servicenow import errors
from avesa_sandbox.servicenow.auth import Authorization, Credentials, authorize, credentials_for, token_response
from avesa_sandbox.servicenow.ids import key_or_none
from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.servicenow.params import ListParams, link_header, parse_params
from avesa_sandbox.servicenow.predicates import compile_query
from avesa_sandbox.servicenow.serialize import list_body, record_body
from avesa_sandbox.servicenow.simulator import ServiceNowSimulator
from avesa_sandbox.servicenow.tables import AUDIT_TABLE, TABLES

JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
HTML_MEDIA_TYPE = "text/html;charset=UTF-8"
SERVICE = "servicenow"

_WRITE_OPERATIONS = {"POST": "Insert", "PUT": "Update", "PATCH": "Update", "DELETE": "Delete"}


@dataclass(frozen=True)
class Target:
    """What an ``api/now/...`` path addresses."""

    table: str
    scope: RequestScope
    sys_id: str | None = None


def resolve_path(path: str) -> Target | str | None:
    """A target, the name of an unknown table (str), or None when the path is no API resource."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts and parts[0] in ("v1", "v2"):
        parts = parts[1:]
    if len(parts) < 2 or parts[0] not in ("table", "stats"):
        return None
    api, table, rest = parts[0], parts[1], parts[2:]
    if table not in TABLES and table != "task":
        return table
    if api == "stats":
        return Target(table, RequestScope.COUNT) if not rest else None
    if not rest:
        return Target(table, RequestScope.LIST)
    if len(rest) == 1:
        return Target(table, RequestScope.GET, rest[0])
    return None


def _response(body: bytes, status: int = 200, headers: dict[str, str] | None = None, html: bool = False) -> Response:
    media = HTML_MEDIA_TYPE if html else JSON_MEDIA_TYPE
    return Response(content=body, status_code=status, headers=headers, media_type=media)


def rule_id(instance: str) -> str:
    """sys_id of the instance's (simulated) rate limit rule."""
    return hashlib.blake2b(f"sys_rate_limit_rules/{instance}".encode(), digest_size=16).hexdigest()


def rate_limit_headers(instance: Instance, wait: float = 0.0) -> dict[str, str]:
    """``X-RateLimit-*`` while a rule applies (knob ``rate_limit_per_minute`` set), expressed per hour.

    The limit is the bucket's sustained rate times 60; the reset is when the bucket is full again
    (or, over the limit, when the next request is allowed)."""
    bucket = instance.bucket
    if bucket.per_minute is None:
        return {}
    if wait > 0:
        reset_in = wait
    else:
        usage = bucket.usage() or 0.0
        reset_in = usage * bucket.burst / (bucket.per_minute / 60.0)
    return {
        "X-RateLimit-Limit": str(int(bucket.per_minute * 60)),
        "X-RateLimit-Reset": str(int(time.time()) + max(1, math.ceil(reset_in))),
        "X-RateLimit-Rule": rule_id(instance.name),
    }


class ServiceNowApi:
    """The request handlers, bound to a registry of instances."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._credentials: dict[str, Credentials] = {}

    def _instance(self, request: Request) -> Instance | None:
        instance = self.registry.get(request.path_params["instance"])
        return instance if instance is not None and instance.spec.service == SERVICE else None

    def credentials(self, instance: Instance) -> Credentials:
        cached = self._credentials.get(instance.name)
        if cached is None or cached.instance_url != instance.site_url:
            cached = self._credentials[instance.name] = credentials_for(instance.name, instance.site_url)
        return cached

    # -- OAuth --------------------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        instance = self._instance(request)
        if instance is None:
            return _response(errors.error_body("Instance not found", None), 404)
        hold_response(request, instance)
        if request.method != "POST":
            instance.stats.record(405)
            return _response(errors.method_not_allowed(), 405)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        simulator = cast(ServiceNowSimulator, instance.simulator)
        status, body = token_response(
            self.credentials(instance), simulator.tokens, form, instance.knobs.token_ttl_seconds
        )
        instance.stats.record(status)
        return _response(orjson.dumps(body), status)

    # -- Table API ----------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        instance = self._instance(request)
        if instance is None:
            return _response(errors.error_body("Instance not found", "No ServiceNow instance at this address"), 404)
        hold_response(request, instance)
        simulator = cast(ServiceNowSimulator, instance.simulator)

        how, token = authorize(self.credentials(instance), simulator.tokens, request.headers.get("authorization"))
        if how is Authorization.DENIED:
            instance.stats.record(401)
            return _response(errors.unauthenticated(), 401, {"WWW-Authenticate": 'BASIC realm="Service-now"'})

        wait = instance.bucket.try_acquire()
        if wait > 0:
            instance.stats.record(429)
            headers = rate_limit_headers(instance, wait) | {"Retry-After": TokenBucket.retry_after_header(wait)}
            per_hour = int((instance.bucket.per_minute or 0) * 60)
            return _response(errors.rate_limited(rule_id(instance.name), per_hour), 429, headers)
        limit_headers = rate_limit_headers(instance)

        target = resolve_path(request.path_params["path"])
        if target is None:
            instance.stats.record(400)
            return _response(errors.no_resource(), 400, limit_headers)
        if isinstance(target, str):
            instance.stats.record(400, target)
            return _response(errors.invalid_table(target), 400, limit_headers)
        if request.method != "GET":
            operation = _WRITE_OPERATIONS.get(request.method)
            status = 403 if operation else 405
            instance.stats.record(status, target.table)
            body = errors.acl_denied(operation) if operation else errors.method_not_allowed()
            return _response(body, status, limit_headers)

        one_shot = instance.faults.take(target.table, target.scope)
        fault = one_shot.kind if one_shot else random_fault(instance.knobs, instance.rng)
        if fault is FaultKind.TOKEN_EXPIRED and how is Authorization.BEARER and token is not None:
            simulator.tokens.revoke(token)
            instance.stats.record(401, target.table, fault=fault.value)
            return _response(errors.unauthenticated(), 401)
        if fault in _IMMEDIATE:
            return self._immediate_fault(instance, target, fault, one_shot)
        if fault is FaultKind.SLOW:
            await asyncio.sleep((one_shot.delay_ms if one_shot else 2000.0) / 1000)

        status, body, headers, records = self._answer(instance, simulator, target, request)
        headers = limit_headers | headers
        delay_response(request, instance.knobs.latency_per_record_ms * records / 1000)
        applied = fault if fault in (FaultKind.MALFORMED, FaultKind.TRUNCATED, FaultKind.SLOW) else None
        if status == 200 and applied is FaultKind.MALFORMED:
            body = malformed(body)
        instance.stats.record(status, target.table, len(body), records, applied.value if applied else None)
        if status == 200 and applied is FaultKind.TRUNCATED:
            return TruncatedResponse(body, headers)
        return _response(body, status, headers)

    def _immediate_fault(
        self, instance: Instance, target: Target, fault: FaultKind, one_shot: OneShotFault | None
    ) -> Response:
        status = _IMMEDIATE[fault]
        instance.stats.record(status, target.table, fault=fault.value)
        if fault is FaultKind.RESET:
            return ResetResponse()
        if status == 429:
            headers = {}
            if fault is FaultKind.RATE_LIMITED:
                headers["Retry-After"] = str(one_shot.retry_after if one_shot else 1)
            per_hour = int((instance.bucket.per_minute or 0) * 60)
            return _response(errors.rate_limited(rule_id(instance.name), per_hour), 429, headers)
        if status in (502, 503):
            return _response(errors.gateway_page(status), status, html=True)
        return _response(errors.server_error(), status)

    def _answer(
        self, instance: Instance, simulator: ServiceNowSimulator, target: Target, request: Request
    ) -> tuple[int, bytes, dict[str, str], int]:
        """(status, body, headers, records) of a well-behaved answer."""
        params = parse_params(request.query_params)
        with instance.lock:
            if target.table == AUDIT_TABLE:
                simulator.sync_audit(instance)
            lookup = Lookup(instance.tables)
            if target.scope is RequestScope.GET:
                return self._one(instance, simulator, target, params, lookup)
            if target.table == "task":
                return 403, errors.acl_denied("Read"), {}, 0
            store = instance.tables[target.table]
            compiled = compile_query(target.table, params.query, instance.clock.now())
            b = compiled.bounds
            counting = target.scope is RequestScope.COUNT
            query = Query(
                id_low=b.id_low,
                id_high=b.id_high,
                updated_low=b.updated_low,
                updated_high=b.updated_high,
                residual=compiled.predicate(lookup),
                ordering=compiled.ordering(lookup),
                offset=0 if counting else params.offset,
                limit=0 if counting else params.limit,
                want_total=counting or not params.no_count,
            )
            selection = select(store, query)
            if counting:
                return 200, _stats_body(request, selection.total or 0), {}, 0
            body = list_body(store, selection.ids, params.view, lookup, simulator.linkless)
        headers: dict[str, str] = {}
        if selection.total is not None:
            headers["X-Total-Count"] = str(selection.total)
        url = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
        link = link_header(url, request.query_params.multi_items(), params, selection.total, selection.has_more)
        if link:
            headers["Link"] = link
        return 200, body, headers, len(selection.ids)

    def _one(
        self, instance: Instance, simulator: ServiceNowSimulator, target: Target, params: ListParams, lookup: Lookup
    ) -> tuple[int, bytes, dict[str, str], int]:
        found = lookup.find(target.table, target.sys_id or "")
        if found is None:
            return 404, errors.record_not_found(), {}, 0
        table, record = found
        key = key_or_none(table, record["sys_id"])
        assert key is not None
        return 200, record_body(instance.tables[table], key, params.view, lookup, simulator.linkless), {}, 1


_IMMEDIATE = {**ERROR_STATUS, FaultKind.RESET: 0}


def _stats_body(request: Request, count: int) -> bytes:
    """The Aggregate API's answer: the count only when ``sysparm_count=true`` was asked for."""
    if (request.query_params.get("sysparm_count") or "").lower() != "true":
        return orjson.dumps({"result": {}})
    return orjson.dumps({"result": {"stats": {"count": str(count)}}})


def build_servicenow_app(registry: Registry) -> Starlette:
    """The ServiceNow service app, to be mounted at ``/servicenow``."""
    api = ServiceNowApi(registry)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/{instance}/oauth_token.do", api.token, methods=methods),
            Route("/{instance}/api/now/{path:path}", api.handle, methods=methods),
        ]
    )
