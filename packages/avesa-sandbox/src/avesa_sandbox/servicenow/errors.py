"""ServiceNow's error bodies: ``{"error": {"message", "detail"}, "status": "failure"}``.

The platform answers errors of the REST API with this JSON (``detail`` may be null). Gateway errors
(502/503 while an instance is being upgraded or is hibernating) come from the load balancer as an
HTML page, so a client cannot count on a JSON body there.
"""

from __future__ import annotations

import orjson


def error_body(message: str, detail: str | None) -> bytes:
    """Serialized error as the Table API returns it."""
    return orjson.dumps({"error": {"message": message, "detail": detail}, "status": "failure"})


def unauthenticated() -> bytes:
    """401: no, wrong or expired credentials (Basic or bearer token)."""
    return error_body("User Not Authenticated", "Required to provide Auth information")


def invalid_table(table: str) -> bytes:
    """400: the table does not exist."""
    return error_body(f"Invalid table {table}", None)


def no_resource() -> bytes:
    """400: a URI under /api/now that is no API."""
    return error_body("Requested URI does not represent any resource", None)


def record_not_found() -> bytes:
    """404: no record with that sys_id (or ACLs hide it)."""
    return error_body("No Record found", "Record doesn't exist or ACL restricts the record retrieval")


def acl_denied(operation: str) -> bytes:
    """403: the integration user may read but not write (``operation``: Insert, Update, Delete)."""
    return error_body("Operation Failed", f"ACL Exception {operation} Failed due to security constraints")


def method_not_allowed() -> bytes:
    return error_body("Method not Supported", "The HTTP method is not supported by this resource")


def rate_limited(rule: str, per_hour: int) -> bytes:
    """429 over the instance's rate limit rule."""
    return error_body(
        "Rate limit exceeded", f"The rate limit of {per_hour} requests per hour of rule {rule} was exceeded"
    )


def server_error() -> bytes:
    return error_body("Internal server error", "An unexpected error occurred while processing the request")


def gateway_page(status: int) -> bytes:
    """The HTML a load balancer serves for 502 / 503."""
    title = "502 Bad Gateway" if status == 502 else "503 Service Unavailable"
    return (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
        "<p>The instance is temporarily unavailable. Please try again later.</p></body></html>"
    ).encode()
