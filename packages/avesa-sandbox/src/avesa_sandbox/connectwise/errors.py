"""ConnectWise-style JSON error bodies (``{"code", "message", "errors"}``)."""

from __future__ import annotations

from typing import Any

import orjson


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> bytes:
    """Serialized error object as the real API returns it."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return orjson.dumps(body)


def invalid_parameter(parameter: str, detail: str, resource: str) -> bytes:
    """400 body for a bad query parameter (malformed conditions, unknown orderBy field...)."""
    return error_body(
        "InvalidObject",
        f"{parameter} is invalid: {detail}",
        [{"code": "InvalidField", "message": detail, "resource": resource, "field": parameter}],
    )


def unauthorized(reason: str) -> bytes:
    return error_body("Unauthorized", reason)


def not_found(message: str) -> bytes:
    return error_body("NotFound", message)


def too_many_requests() -> bytes:
    return error_body("TooManyRequests", "The request rate limit has been exceeded. Please retry later.")


def server_error(status: int) -> bytes:
    codes = {500: "UnexpectedServerError", 502: "BadGateway", 503: "ServiceUnavailable"}
    return error_body(codes.get(status, "UnexpectedServerError"), "An error occurred, please try again later.")
