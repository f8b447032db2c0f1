"""What a Graph URL path addresses: a collection, its ``$count``, its ``delta`` function, or one object."""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.faults import RequestScope
from avesa_sandbox.microsoft365 import errors
from avesa_sandbox.microsoft365.tables import RESOURCES, ResourceDef

DELTA_SEGMENTS = ("delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()")
"""``/delta`` is a shortcut for the function's qualified name, which SDKs send."""


@dataclass(frozen=True)
class Target:
    """What a Graph path addresses; ``scope`` is what one-shot faults match (delta requests are lists)."""

    resource: ResourceDef
    scope: RequestScope
    delta: bool = False
    record_id: str | None = None


def resolve_path(path: str) -> Target:
    """``users`` -> list, ``users/$count``, ``users/delta``, ``users/{id}``; GraphError for anything else.

    Segments match case-insensitively (``/Users`` works, as in Graph); an unknown one is Graph's 400
    "Resource not found for the segment", not a 404."""
    segments = [s for s in path.strip("/").split("/") if s]
    if not segments:
        raise errors.bad_request("Invalid request: no resource segment.", "BadRequest")
    lowered = [s.lower() for s in segments]
    resource, length = None, 0
    for length in (2, 1):
        candidate = "/".join(lowered[:length])
        resource = next((r for r in RESOURCES.values() if r.path.lower() == candidate), None)
        if resource is not None and len(segments) >= length:
            break
    if resource is None:
        raise errors.segment_not_found(segments[0])
    rest = segments[length:]
    if not rest:
        return Target(resource, RequestScope.LIST)
    if len(rest) > 1:
        raise errors.segment_not_found(rest[1])
    segment = rest[0]
    if segment.lower() == "$count":
        return Target(resource, RequestScope.COUNT)
    if segment.lower() in DELTA_SEGMENTS:
        if not resource.delta:
            raise errors.segment_not_found(segment)
        return Target(resource, RequestScope.LIST, delta=True)
    return Target(resource, RequestScope.GET, record_id=segment)
