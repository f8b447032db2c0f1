"""HTTP routes of the simulated Salesforce org: ``/salesforce/{instance}/services/...``.

The login URL and the ``instance_url`` are both ``{base}/salesforce/{instance}``: the token
endpoint is ``{login}/services/oauth2/token``, the REST API ``{instance_url}/services/data/vXX.X/``,
and every URL the API returns (``nextRecordsUrl``, ``attributes.url``) is a path starting with
``/services/data`` to be appended to ``instance_url``, as with a real org.

Every data request goes through the same steps, in the order the platform applies them: latency
(knobs), the per-minute throttle (token bucket: 429 with ``Retry-After``), authentication (401
``INVALID_AUTH_HEADER`` / ``INVALID_SESSION_ID``), the daily allocation (403
``REQUEST_LIMIT_EXCEEDED``), routing (404 ``NOT_FOUND``, 405), query parsing (400), injected faults
(one-shot first, then random by the knobs), and the answer (``answers``). Every data response
carries ``Sforce-Limit-Info: api-usage=used/limit``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.faults import ERROR_STATUS, FaultKind, OneShotFault, RequestScope, random_fault
from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.latency import delay_response, hold_response
from avesa_sandbox.ratelimit import TokenBucket
from avesa_sandbox.responses import JSON_MEDIA_TYPE, ResetResponse, TruncatedResponse, malformed
from avesa_sandbox.salesforce import answers, errors, ids, oauth, resources
from avesa_sandbox.salesforce.answers import Answer, json_answer
from avesa_sandbox.salesforce.auth import bearer_token
from avesa_sandbox.salesforce.errors import ApiError, SoqlError
from avesa_sandbox.salesforce.plan import bind
from avesa_sandbox.salesforce.simulator import SalesforceSimulator
from avesa_sandbox.salesforce.soql import parse
from avesa_sandbox.salesforce.tables import resolve_object
from avesa_sandbox.salesforce.usage import DEFAULT_DAILY_LIMIT, limit_header

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000

_VERSION = re.compile(r"^v(\d{2,3}\.\d)$")
_LOCATOR = re.compile(r"^(01g[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)-(\d+)$")
_BATCH_OPTION = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)

_IMMEDIATE_STATUS = ERROR_STATUS
_BODY_FAULTS = (FaultKind.MALFORMED, FaultKind.TRUNCATED, FaultKind.SLOW)


@dataclass
class Target:
    """A routed data request: which object it reads (for faults and statistics) and how to answer."""

    table: str | None
    scope: RequestScope
    answer: Callable[[], Answer]


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=body, status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE)


def batch_size(header: str | None, default: int = DEFAULT_BATCH_SIZE) -> int:
    """``Sforce-Query-Options: batchSize=N``, kept within 200..2000 as Salesforce does."""
    match = _BATCH_OPTION.search(header or "")
    if match is None:
        return default
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(match.group(1))))


def _daily_limit(instance: Instance) -> int:
    return instance.knobs.daily_request_limit or DEFAULT_DAILY_LIMIT


class SalesforceApi:
    """The request handlers, bound to a registry of instances."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _instance(self, request: Request) -> tuple[Instance, SalesforceSimulator] | None:
        instance = self.registry.get(request.path_params["instance"])
        if instance is None or instance.spec.service != "salesforce":
            return None
        return instance, cast(SalesforceSimulator, instance.simulator)

    async def token(self, request: Request) -> Response:
        """``POST /services/oauth2/token``: latency applies; nothing else of the data pipeline does."""
        found = self._instance(request)
        if found is None:
            return _json(errors.oauth_error("invalid_request", "unknown org"), 404)
        instance, simulator = found
        hold_response(request, instance)
        status, body = await oauth.token(instance, simulator, request)
        instance.stats.record(status, None, len(body))
        return _json(body, status, oauth.NO_STORE)

    async def versions(self, request: Request) -> Response:
        """``GET /services/data/``: no authentication needed."""
        if self._instance(request) is None:
            return _json(errors.not_found().body(), 404)
        return _json(json_answer(resources.versions()).body)

    async def data(self, request: Request) -> Response:
        """Every ``/services/data/...`` request."""
        found = self._instance(request)
        if found is None:
            return _json(errors.not_found().body(), 404)
        instance, simulator = found
        hold_response(request, instance)

        wait = instance.bucket.try_acquire()
        if wait > 0:
            instance.stats.record(429)
            return self._error(instance, errors.rate_limited(TokenBucket.retry_after_header(wait)))

        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            instance.stats.record(401)
            return _json(errors.error_body("INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE"), 401)
        if not simulator.tokens.valid(token):
            instance.stats.record(401)
            return _json(errors.invalid_session().body(), 401)

        if not simulator.usage.consume(instance.clock.now(), _daily_limit(instance)):
            instance.stats.record(403)
            return self._error(instance, ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))

        try:
            target = self._route(instance, simulator, request)
        except ApiError as error:
            if isinstance(error, SoqlError):
                error = error.located(request.query_params.get("q") or "")
            instance.stats.record(error.status, None, len(error.body()))
            return self._error(instance, error)

        one_shot = instance.faults.take(target.table, target.scope)
        fault = one_shot.kind if one_shot else random_fault(instance.knobs, instance.rng)
        if fault is FaultKind.TOKEN_EXPIRED:
            simulator.tokens.revoke(token)
            instance.stats.record(401, target.table, fault=fault.value)
            return _json(errors.invalid_session().body(), 401)
        if fault in _IMMEDIATE_STATUS or fault is FaultKind.RESET:
            return self._immediate_fault(instance, target, fault, one_shot)
        if fault is FaultKind.SLOW:
            await asyncio.sleep((one_shot.delay_ms if one_shot else 2000.0) / 1000)

        try:
            answer = target.answer()
        except ApiError as error:
            instance.stats.record(error.status, target.table, len(error.body()))
            return self._error(instance, error)
        delay_response(request, instance.knobs.latency_per_record_ms * answer.records / 1000)

        body = answer.body
        if answer.status == 200 and fault is FaultKind.MALFORMED:
            body = malformed(body)
        applied = fault.value if fault in _BODY_FAULTS else None
        instance.stats.record(answer.status, target.table, len(body), answer.records, applied)
        headers = self._limit_headers(instance)
        if answer.status == 200 and fault is FaultKind.TRUNCATED:
            return TruncatedResponse(body, headers)
        return _json(body, answer.status, headers)

    def _limit_headers(self, instance: Instance) -> dict[str, str]:
        simulator = cast(SalesforceSimulator, instance.simulator)
        used = simulator.usage.current(instance.clock.now())
        return {"Sforce-Limit-Info": limit_header(used, _daily_limit(instance))}

    def _error(self, instance: Instance, error: ApiError) -> Response:
        return _json(error.body(), error.status, {**self._limit_headers(instance), **error.headers})

    def _immediate_fault(
        self, instance: Instance, target: Target, fault: FaultKind | None, one_shot: OneShotFault | None
    ) -> Response:
        assert fault is not None
        instance.stats.record(_IMMEDIATE_STATUS.get(fault, 0), target.table, fault=fault.value)
        if fault is FaultKind.RESET:
            return ResetResponse()
        status = _IMMEDIATE_STATUS[fault]
        if status == 429:
            retry_after = str(one_shot.retry_after if one_shot else 1) if fault is FaultKind.RATE_LIMITED else None
            return self._error(instance, errors.rate_limited(retry_after))
        body, media_type = errors.server_error(status)
        return Response(body, status_code=status, headers=self._limit_headers(instance), media_type=media_type)

    # -- routing --------------------------------------------------------------------------------

    def _route(self, instance: Instance, simulator: SalesforceSimulator, request: Request) -> Target:
        segments = [s for s in request.path_params["path"].split("/") if s]
        match = _VERSION.match(segments[0]) if segments else None
        if match is None:
            raise errors.not_found()
        version = match.group(1)
        rest = segments[1:]
        if request.method not in ("GET", "HEAD"):
            message = f"HTTP Method '{request.method}' not allowed. Allowed are GET,HEAD"
            raise ApiError(405, "METHOD_NOT_ALLOWED", message)
        if not rest:
            return Target(None, RequestScope.GET, lambda: json_answer(resources.resource_list(version)))
        head = rest[0]
        if head == "limits" and len(rest) == 1:
            used, limit = simulator.usage.current(instance.clock.now()), _daily_limit(instance)
            return Target(None, RequestScope.GET, lambda: json_answer(resources.limits(used, limit)))
        if head in ("query", "queryAll") and len(rest) == 1:
            return self._query(instance, simulator, request, version, head)
        if head in ("query", "queryAll") and len(rest) == 2:
            return self._next_batch(instance, simulator, request, version, head, rest[1])
        if head == "sobjects":
            return self._sobjects(instance, simulator, request, version, rest[1:])
        raise errors.not_found()

    def _sobjects(
        self, instance: Instance, simulator: SalesforceSimulator, request: Request, version: str, rest: list[str]
    ) -> Target:
        if not rest:
            return Target(None, RequestScope.GET, lambda: json_answer(resources.describe_global(version)))
        try:
            obj = resolve_object(rest[0])
        except KeyError:
            raise errors.not_found() from None
        if len(rest) == 1:
            return Target(obj, RequestScope.GET, lambda: json_answer(resources.sobject_basic(version, obj)))
        if len(rest) > 2:
            raise errors.not_found()
        action, params = rest[1], request.query_params
        if action == "describe":
            return Target(obj, RequestScope.GET, lambda: json_answer(resources.describe(version, obj)))
        if action in ("deleted", "updated"):
            return Target(obj, RequestScope.LIST, lambda: answers.replicate(instance, simulator, params, obj, action))
        return Target(
            obj, RequestScope.GET, lambda: answers.retrieve(instance, simulator, params, version, obj, action)
        )

    def _query(
        self, instance: Instance, simulator: SalesforceSimulator, request: Request, version: str, endpoint: str
    ) -> Target:
        plan = bind(parse(request.query_params.get("q") or ""), instance.clock.now())
        size = batch_size(request.headers.get("sforce-query-options"))
        include_deleted = endpoint == "queryAll"
        scope = RequestScope.LIST if plan.count is None else RequestScope.COUNT
        return Target(
            plan.obj,
            scope,
            lambda: answers.run_query(instance, simulator, plan, version, include_deleted, size, endpoint),
        )

    def _next_batch(
        self,
        instance: Instance,
        simulator: SalesforceSimulator,
        request: Request,
        version: str,
        endpoint: str,
        locator: str,
    ) -> Target:
        match = _LOCATOR.match(locator)
        cursor = simulator.cursors.get(ids.to18(match.group(1))) if match and ids.is_valid(match.group(1)) else None
        if match is None or cursor is None or not 0 < int(match.group(2)) < len(cursor.keys):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(match.group(2))
        size = batch_size(request.headers.get("sforce-query-options"), cursor.batch_size)
        return Target(
            cursor.obj,
            RequestScope.LIST,
            lambda: answers.next_batch(instance, simulator, cursor, offset, size, version, endpoint),
        )


def build_salesforce_app(registry: Registry) -> Starlette:
    """The Salesforce service app, to be mounted at ``/salesforce``."""
    api = SalesforceApi(registry)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/{instance}/services/oauth2/token", api.token, methods=["POST"]),
            Route("/{instance}/services/data", api.versions, methods=["GET"]),
            Route("/{instance}/services/data/", api.versions, methods=["GET"]),
            Route("/{instance}/services/data/{path:path}", api.data, methods=methods),
        ]
    )
