"""HTTP routes of the simulated identity platform and Graph API, mounted at ``/microsoft365``.

- ``POST /microsoft365/login/{tenant}/oauth2/v2.0/token``: the client-credentials grant
  (``login.microsoftonline.com``); ``{tenant}`` is the tenant id, a verified domain or the instance name.
- ``GET /microsoft365/graph/v1.0/...``: Graph (``graph.microsoft.com/v1.0``). The URL names no
  tenant: the access token does (its ``tid``), as in production.

A Graph request goes through the steps a real deployment applies, in order: bearer token read (a
missing or unreadable one is 401 before anything else, since it names the tenant), latency, rate
limit (429 with ``Retry-After`` and Graph's throttling headers), token validity (expired or revoked:
401), routing (an unknown segment is Graph's 400), injected faults (one-shot first, then random by
the knobs), and the answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.faults import FaultKind, random_fault
from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.latency import delay_response, hold_response
from avesa_sandbox.microsoft365 import auth, errors
from avesa_sandbox.microsoft365.answers import Call, answer
from avesa_sandbox.microsoft365.errors import GraphError
from avesa_sandbox.microsoft365.paths import resolve_path
from avesa_sandbox.microsoft365.replies import EXPIRED, PLAIN_JSON, STATUS_FAULTS, Reply
from avesa_sandbox.microsoft365.tenants import TenantDirectory, simulator_of
from avesa_sandbox.ratelimit import TokenBucket
from avesa_sandbox.responses import ResetResponse, TruncatedResponse, malformed


def _now(instance: Instance) -> float:
    """Wall-clock time as the tenant's clock sees it (tests shift it to age tokens without sleeping)."""
    return time.time() + instance.clock.offset_seconds


def _bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None



def _usage_headers(instance: Instance) -> dict[str, str]:
    """``x-ms-resource-unit`` on every answer; ``x-ms-throttle-limit-percentage`` past 80 % of the limit."""
    headers = {"x-ms-resource-unit": "1"}
    usage = instance.bucket.usage()
    if usage is not None and usage >= 0.8:
        headers["x-ms-throttle-limit-percentage"] = f"{min(usage, 1.8):.1f}"
    return headers


class Microsoft365Api:
    """The token endpoint and the Graph request handler, bound to a registry of instances."""

    def __init__(self, registry: Registry) -> None:
        self.tenants = TenantDirectory(registry)

    async def token(self, request: Request) -> Response:
        trace_id = str(uuid.uuid4())
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        tenant_label = request.path_params["tenant"]

        def refuse(status: int, error: str, code: int, description: str) -> Response:
            body = errors.aad_error(error, code, description, trace_id, correlation_id)
            return Response(body, status, media_type=PLAIN_JSON, headers={"x-ms-request-id": trace_id})

        if request.method != "POST":
            message = f"The endpoint only accepts POST requests. Received a {request.method} request."
            return refuse(400, "invalid_request", 900561, message)
        instance = self.tenants.find(tenant_label)
        if instance is None:
            message = (
                f"Tenant '{tenant_label}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud. Check with your subscription administrator, this may happen if "
                "there are no active subscriptions for the tenant."
            )
            return refuse(400, "invalid_request", 90002, message)
        hold_response(request, instance)
        sim = simulator_of(instance)
        credentials = sim.credentials_object(instance.name)
        refusal = auth.check_token_request(
            auth.parse_form(await request.body()),
            auth.basic_client(request.headers.get("authorization")),
            credentials,
            sim.factory.tenant.display_name,
        )
        if refusal is not None:
            instance.stats.record(refusal.status)
            return refuse(refusal.status, refusal.error, refusal.code, refusal.description)
        ttl = instance.knobs.token_ttl_seconds
        token, _ = auth.issue_token(credentials.tenant_id, credentials.client_id, ttl, _now(instance))
        lifetime = max(1, int(ttl))
        body = orjson.dumps(
            {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
        )
        instance.stats.record(200, body_bytes=len(body))
        headers = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": trace_id}
        return Response(body, 200, media_type=PLAIN_JSON, headers=headers)

    async def graph(self, request: Request) -> Response:
        reply = Reply(request.headers)
        version = request.path_params["version"]
        if version != "v1.0":
            return reply.error(errors.bad_request(f"Invalid version: {version}", "BadRequest"))
        token = _bearer(request.headers)
        if token is None:
            return reply.unauthenticated("Access token is empty.")
        claims = auth.decode_token(token)
        if claims is None:
            if token.count(".") != 2:
                return reply.unauthenticated("CompactToken parsing failed with error code: 80049217")
            return reply.unauthenticated("Access token validation failure. Invalid signature.")
        instance = self.tenants.find(str(claims.get("tid", "")))
        if instance is None:
            return reply.unauthenticated("Access token validation failure. Invalid tenant.")
        reply.instance, reply.claims = instance, claims
        sim = simulator_of(instance)
        hold_response(request, instance)

        wait = instance.bucket.try_acquire()
        if wait > 0:
            return reply.throttled(TokenBucket.retry_after_header(wait))
        if _now(instance) >= float(claims.get("exp", 0)) or claims.get("uti") in sim.revoked:
            return reply.unauthenticated(EXPIRED)
        try:
            target = resolve_path(request.path_params["path"])
        except GraphError as failure:
            return reply.error(failure)
        reply.table = target.resource.path
        if request.method != "GET":
            message = "Specified HTTP method is not allowed for the request target (the sandbox API is read-only)."
            return reply.error(GraphError(405, "Request_BadRequest", message))

        one_shot = instance.faults.take(reply.table, target.scope)
        fault = one_shot.kind if one_shot else random_fault(instance.knobs, instance.rng)
        if fault is FaultKind.RESET:
            instance.stats.record(0, reply.table, fault=fault.value)
            return ResetResponse()
        if fault is not None and fault in STATUS_FAULTS:
            return reply.status_fault(fault, one_shot)
        if fault is FaultKind.TOKEN_EXPIRED:
            sim.revoked.add(str(claims.get("uti")))
            return reply.unauthenticated(EXPIRED, fault)
        if fault is FaultKind.SLOW:
            await asyncio.sleep((one_shot.delay_ms if one_shot else 2000.0) / 1000)

        root = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}/graph/v1.0"
        try:
            result = answer(instance, sim, target, Call(request.query_params.multi_items(), request.headers, root))
        except GraphError as failure:
            return reply.error(failure)
        delay_response(request, instance.knobs.latency_per_record_ms * result.records / 1000)

        headers = {**reply.base, **result.headers, **_usage_headers(instance)}
        body = malformed(result.body) if fault is FaultKind.MALFORMED else result.body
        instance.stats.record(200, reply.table, len(body), result.records, fault.value if fault else None)
        if fault is FaultKind.TRUNCATED:
            return TruncatedResponse(body, {**headers, "content-type": result.media_type})
        return Response(body, 200, media_type=result.media_type, headers=headers)


def build_microsoft365_app(registry: Registry) -> Starlette:
    """The Microsoft 365 service app, to be mounted at ``/microsoft365``."""
    api = Microsoft365Api(registry)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/login/{tenant}/oauth2/v2.0/token", api.token, methods=methods),
            Route("/graph/{version}/{path:path}", api.graph, methods=methods),
        ]
    )
