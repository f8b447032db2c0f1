"""Error bodies of the Acme Helpdesk API: always ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import orjson


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def unauthorized() -> bytes:
    return error_body("unauthorized", "invalid or missing API key")


def invalid_parameter(message: str) -> bytes:
    return error_body("invalid_parameter", message)


def not_found(message: str) -> bytes:
    return error_body("not_found", message)


def method_not_allowed(method: str) -> bytes:
    return error_body("method_not_allowed", f"{method} is not allowed: the API is read-only (GET)")


def rate_limited(retry_after: str | None) -> bytes:
    wait = f"; retry after {retry_after} seconds" if retry_after else ""
    return error_body("rate_limited", f"rate limit exceeded{wait}")


_SERVER_ERRORS = {
    500: ("internal_error", "an unexpected error occurred; please retry"),
    502: ("bad_gateway", "the upstream server did not answer; please retry"),
    503: ("service_unavailable", "the service is temporarily unavailable; please retry"),
}


def server_error(status: int) -> bytes:
    code, message = _SERVER_ERRORS.get(status, _SERVER_ERRORS[500])
    return error_body(code, message)
