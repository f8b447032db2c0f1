"""Salesforce REST error bodies: a JSON list of ``{"message", "errorCode"}`` (OAuth errors are an object).

SOQL errors carry the query with a caret under the offending position and ``ERROR at
Row:R:Column:C`` before the explanation, as the real API words them, so a connector's error
reporting can be tested against realistic text.
"""

from __future__ import annotations

from typing import Any

import orjson


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` with one error ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.code, self.message)


class SoqlError(ApiError):
    """A query the API rejects (400), pointing at ``position`` (0-based) in the query text."""

    def __init__(self, code: str, detail: str, position: int | None = None) -> None:
        super().__init__(400, code, detail)
        self.detail = detail
        self.position = position

    def located(self, query: str) -> SoqlError:
        """The same error with the real API's message layout (query, caret, row and column)."""
        if self.position is None:
            return self
        position = max(0, min(self.position, len(query)))
        row = query.count("\n", 0, position) + 1
        line_start = query.rfind("\n", 0, position) + 1
        column = position - line_start + 1
        line_end = query.find("\n", position)
        line = query[line_start : line_end if line_end >= 0 else len(query)]
        located = SoqlError(self.code, self.detail, None)
        located.message = f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{self.detail}"
        return located


def error_body(code: str, message: str) -> bytes:
    """``[{"message": ..., "errorCode": ...}]``."""
    return orjson.dumps([{"message": message, "errorCode": code}])


def oauth_error(error: str, description: str) -> bytes:
    """Token endpoint errors: ``{"error": ..., "error_description": ...}``."""
    return orjson.dumps({"error": error, "error_description": description})


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def rate_limited(retry_after: str | None) -> ApiError:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return ApiError(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests; slow down and retry later.", headers)


def server_error(status: int) -> tuple[bytes, str]:
    """(body, media type) of an injected 5xx: Salesforce's JSON for 500/503, the edge's HTML for 502."""
    if status == 502:
        html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
        return html, "text/html; charset=utf-8"
    if status == 503:
        return error_body("SERVER_UNAVAILABLE", "Server temporarily unavailable; please retry."), "application/json"
    message = "An unexpected error occurred. Please include this ErrorId if you contact support: 1928374650-12345"
    return error_body("UNKNOWN_EXCEPTION", message), "application/json"


def as_json(data: Any) -> bytes:
    return orjson.dumps(data)
