"""What the sandbox tests of every service share: instances made for a test, Link headers, one-shot faults.

The per-service ``*_support`` modules hold each API's own client; the instance bookkeeping around
them is the same for all services, and so is what a one-shot error fault must do to the next requests.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import httpx
import pytest

from avesa_sandbox import SandboxAdmin

NO_RATE_LIMIT = {"rate_limit_per_minute": None}
"""Test instances are not throttled unless a test asks for it, so no test waits for the rate limiter by accident."""

_counters: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
"""One counter per service, so each service's test instances keep their names (``sn-t1``, ``sn-t2``...):
a name seeds the instance's data, and some tests' data is only right for the names they have always had."""


class Client(Protocol):
    """A service's test client: built from the admin client and an instance name, closed after use."""

    def close(self) -> None: ...


C = TypeVar("C", bound=Client)


def new_instance(admin: SandboxAdmin, service: str, prefix: str, seed: int, scale: str = "tiny", **spec: Any) -> str:
    """Create an instance named ``prefix`` + a counter (tiny, not rate limited unless ``knobs`` say so)."""
    name = f"{prefix}{next(_counters[service])}"
    knobs = {**NO_RATE_LIMIT, **spec.pop("knobs", {})}
    admin.create_instance(name, service=service, scale=scale, seed=seed, knobs=knobs, **spec)
    return name


@contextmanager
def fresh_client(
    admin: SandboxAdmin,
    client: Callable[[SandboxAdmin, str], C],
    service: str,
    prefix: str,
    seed: int,
    **spec: Any,
) -> Iterator[C]:
    """A client of a new instance the test may change; the instance is deleted afterwards."""
    name = new_instance(admin, service, prefix, seed, **spec)
    opened = client(admin, name)
    try:
        yield opened
    finally:
        opened.close()
        admin.delete_instance(name)


@contextmanager
def shared_client(
    admin: SandboxAdmin, client: Callable[[SandboxAdmin, str], C], service: str, name: str
) -> Iterator[C]:
    """A client of the session's read-only instance of a service (tiny, seed 1), created by the first user."""
    if name not in admin.health()["instances"]:
        admin.create_instance(name, service=service, scale="tiny", seed=1, knobs=NO_RATE_LIMIT)
    opened = client(admin, name)
    try:
        yield opened
    finally:
        opened.close()


def links(response: httpx.Response) -> dict[str, str]:
    """rel -> URL from a ``Link`` header (``<url>; rel="next"``; ServiceNow leaves out the space)."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', response.headers.get("link", ""))}


ONE_SHOT_ERRORS = (
    ("429", 429, "7"),
    ("429-no-retry-after", 429, None),
    ("500", 500, None),
    ("502", 502, None),
    ("503", 503, None),
    ("503-retry-after", 503, "7"),
)
"""(fault kind, status, Retry-After) of the one-shot error faults, as added with ``retry_after=7``."""


def one_shot_errors(*left_out: str) -> list[tuple[str, int, str | None]]:
    """``ONE_SHOT_ERRORS`` but the kinds a service does not answer with an error (it serves those normally)."""
    return [case for case in ONE_SHOT_ERRORS if case[0] not in left_out]


def assert_one_shot_fault(
    admin: SandboxAdmin,
    instance: str,
    kind: str,
    status: int,
    retry_after: str | None,
    request: Callable[[], httpx.Response],
    check: Callable[[httpx.Response], None] | None = None,
) -> None:
    """A fault added with ``count=2``: the next two ``request``s fail as the kind says, then it is used up.

    ``check`` asserts what the service's error body looks like.
    """
    for _ in range(2):
        response = request()
        assert response.status_code == status
        if check is not None:
            check(response)
        assert response.headers.get("retry-after") == retry_after
    assert request().status_code == 200
    assert admin.faults(instance) == []
    assert admin.stats(instance)["faults"] == {kind: 2}


BROKEN_ANSWERS = (("reset", httpx.TransportError), ("truncated", httpx.RemoteProtocolError))
"""(fault kind, what httpx raises) of the faults that leave a client without a whole answer: a reset
closes the connection before any byte, a truncated body stops short of its ``Content-Length``."""


def assert_broken_once(
    admin: SandboxAdmin,
    instance: str,
    kind: str,
    table: str,
    error: type[Exception],
    request: Callable[[], httpx.Response],
) -> None:
    """A one-shot ``kind`` fault on ``table`` breaks the next ``request`` (raising ``error``), and only that one."""
    admin.add_fault(instance, kind, table=table)
    with pytest.raises(error):
        request()
    assert request().status_code == 200
