"""Error bodies as Microsoft returns them: Graph's ``{"error": {code, message, innerError}}`` and the
identity platform's OAuth ``{error, error_description, error_codes, ...}`` from the token endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson


class GraphError(Exception):
    """A request Graph refuses; routes turn it into the Graph error body with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error(code: str, message: str, request_id: str, client_request_id: str) -> bytes:
    """Graph's error object; ``innerError`` carries the ids a support case would quote."""
    return orjson.dumps(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {"date": _now(), "request-id": request_id, "client-request-id": client_request_id},
            }
        }
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def unsupported_query(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def segment_not_found(segment: str) -> GraphError:
    """What Graph answers for a path segment it has no resource for (400, not 404)."""
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def resource_not_found(record_id: str, intune: bool = False) -> GraphError:
    if intune:
        return GraphError(404, "ResourceNotFound", f"Resource not found: managedDevice with key '{record_id}'.")
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{record_id}' does not exist or one of its queried reference-property objects are not present.",
    )


def aad_error(error: str, code: int, description: str, trace_id: str, correlation_id: str) -> bytes:
    """The token endpoint's OAuth 2.0 error body, AADSTS code first in the description as Entra ID writes it."""
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return orjson.dumps(
        {
            "error": error,
            "error_description": (
                f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                f"Timestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        }
    )
