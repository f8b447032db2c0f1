"""Graph responses of one request: ids in every header set, errors, throttling and injected faults.

Every Graph response carries ``request-id`` and ``client-request-id`` (the client's own, echoed, or
the request id); errors quote both in ``innerError``. A 401 carries ``WWW-Authenticate``; a 429 the
throttling headers of Graph's identity APIs (``Retry-After``, ``x-ms-throttle-scope``,
``x-ms-throttle-information``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from avesa_sandbox.faults import ERROR_STATUS_WITH_503_RETRY_AFTER, FaultKind, OneShotFault
from avesa_sandbox.instances import Instance
from avesa_sandbox.microsoft365 import auth, errors
from avesa_sandbox.microsoft365.errors import GraphError

PLAIN_JSON = "application/json; charset=utf-8"

STATUS_FAULTS = ERROR_STATUS_WITH_503_RETRY_AFTER
"""Faults answered with an error status right away."""

_ERROR_CODES = {
    429: ("TooManyRequests", "Too many requests. Please retry again later."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("BadGateway", "The server, while acting as a gateway, received an invalid response."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry after a delay."),
}
_WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'client_id="{auth.GRAPH_APP_ID}"'
)
EXPIRED = "Access token has expired or is not yet valid."


class Reply:
    """Builds the responses of one Graph request (and counts them in the instance's statistics)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.request_id = str(uuid.uuid4())
        self.client_request_id = headers.get("client-request-id") or self.request_id
        self.base = {"request-id": self.request_id, "client-request-id": self.client_request_id}
        self.instance: Instance | None = None
        self.table: str | None = None
        self.claims: dict[str, Any] = {}

    def _body(self, code: str, message: str) -> bytes:
        return errors.graph_error(code, message, self.request_id, self.client_request_id)

    def _count(self, status: int, body: bytes, fault: FaultKind | None = None) -> None:
        if self.instance is not None:
            self.instance.stats.record(status, self.table, len(body), fault=fault.value if fault else None)

    def error(self, failure: GraphError) -> Response:
        body = self._body(failure.code, failure.message)
        headers = {**self.base, **failure.headers}
        if failure.status == 401:
            headers["WWW-Authenticate"] = _WWW_AUTHENTICATE
        self._count(failure.status, body)
        return Response(body, failure.status, media_type=PLAIN_JSON, headers=headers)

    def unauthenticated(self, message: str, fault: FaultKind | None = None) -> Response:
        body = self._body("InvalidAuthenticationToken", message)
        self._count(401, body, fault)
        headers = {**self.base, "WWW-Authenticate": _WWW_AUTHENTICATE}
        return Response(body, 401, media_type=PLAIN_JSON, headers=headers)

    def throttled(self, retry_after: str | None, fault: FaultKind | None = None) -> Response:
        code, message = _ERROR_CODES[429]
        body = self._body(code, message)
        claims = self.claims
        headers = {
            **self.base,
            "x-ms-throttle-scope": f"Tenant_Application/ReadWrite/{claims.get('appid')}/{claims.get('tid')}",
            "x-ms-throttle-information": "ResourceUnitLimitExceeded",
            "x-ms-throttle-limit-percentage": "1.0",
        }
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        self._count(429, body, fault)
        return Response(body, 429, media_type=PLAIN_JSON, headers=headers)

    def status_fault(self, fault: FaultKind, one_shot: OneShotFault | None) -> Response:
        """An injected 429/5xx; ``Retry-After`` for ``429`` and ``503-retry-after`` (the fault's seconds)."""
        status = STATUS_FAULTS[fault]
        retry_after = str(one_shot.retry_after if one_shot else 1)
        if status == 429:
            return self.throttled(retry_after if fault is FaultKind.RATE_LIMITED else None, fault)
        code, message = _ERROR_CODES[status]
        body = self._body(code, message)
        headers = dict(self.base)
        if fault is FaultKind.UNAVAILABLE_RETRY_AFTER:
            headers["Retry-After"] = retry_after
        self._count(status, body, fault)
        return Response(body, status, media_type=PLAIN_JSON, headers=headers)
