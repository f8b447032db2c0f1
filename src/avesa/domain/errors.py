"""Typed errors. The type decides what the engine does:

- AuthenticationError: fail the tenant's service at once, never retry.
- RateLimitedError: wait as the service told, then retry.
- TransientError: retry with backoff and jitter.
- BadDataError: fail the chunk naming the page and the reason; nothing half-written stays.
- UsageError / NotFoundError: bad input from a user; the message says what to do.

Messages never contain credentials.
"""

from __future__ import annotations


class AvesaError(Exception):
    """Base of every error AVESA raises on purpose; `str()` is what a user reads.

    Every one survives pickling whatever its constructor takes, so a unit run in another process
    (a worker pool, a test executor) hands its caller the same error, not a broken pool."""

    def __reduce__(self) -> tuple:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


def _rebuilt(cls: type[AvesaError], args: tuple, state: dict) -> AvesaError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(AvesaError):
    """The user asked for something malformed; nothing has been written."""


class BusyError(UsageError):
    """Another live run holds what was asked for (a tenant's lock); nothing was done — `avesa` exits 3,
    which a scheduler can tell from a failure."""


class NotFoundError(UsageError):
    """An unknown tenant, service or table; the message lists the known ones."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...], hint: str = "") -> None:
        listed = ", ".join(sorted(known)) if known else "(none)"
        message = f"unknown {kind} {name!r}; known {kind}s: {listed}"
        if hint:
            message += f". {hint}"
        super().__init__(message)
        self.kind, self.name, self.known = kind, name, list(known)


class ConfigError(AvesaError):
    """Settings or catalog files are wrong; the message names the file and the field."""


class SourceError(AvesaError):
    """An error talking to a source API, tagged with where it happened."""

    retryable = False

    def __init__(self, message: str, *, tenant_id: str = "", service: str = "", table: str = "") -> None:
        super().__init__(message)
        self.tenant_id, self.service, self.table = tenant_id, service, table

    def where(self) -> str:
        parts = [p for p in (self.tenant_id, self.service, self.table) if p]
        return "/".join(parts)

    def __str__(self) -> str:
        base = super().__str__()
        where = self.where()
        return f"{where}: {base}" if where and not base.startswith(where) else base


class AuthenticationError(SourceError):
    """Credentials were refused. Retrying cannot help; the operator must fix the credentials."""


class RateLimitedError(SourceError):
    """The source said to slow down; `retry_after` seconds if it said how long."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **where: str) -> None:
        super().__init__(message, **where)
        self.retry_after = retry_after


class TransientError(SourceError):
    """A 5xx, a timeout or a dropped connection: worth retrying with backoff."""

    retryable = True


class BadDataError(SourceError):
    """The source returned a page that cannot be parsed or violates the contract."""


class DeadlineReached(AvesaError):
    """A chunk stopped cleanly before its deadline; it resumes from its cursor."""
