"""A password inside a URL setting (``https://user:password@host``): kept out of the registry.

URL settings (a site URL, an instance URL) are plain settings: the registry stores them in clear
and `avesa service list` prints them. A password typed into one is a secret all the same, so
registration takes it out — the URL is stored without it, the password goes to the secret store
under `password_key(field)` — and the connector puts it back when it builds the URL it calls.
Printed, such a URL shows ``user:••••••@``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

DOTS = "••••••"
_SUFFIX = "#password"


def password_key(field: str) -> str:
    """The secret store's name for the password taken out of URL setting ``field``."""
    return field + _SUFFIX


def _userinfo(value: str) -> tuple[str, str, str] | None:
    """(user, password, host part) of a URL with ``user:password@``; None for anything else."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if not parts.scheme or "@" not in parts.netloc:
        return None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return (user, password, host) if colon and password else None


def _with_netloc(value: str, netloc: str) -> str:
    return urlunsplit(urlsplit(value)._replace(netloc=netloc))


def split_password(value: str) -> tuple[str, str | None]:
    """(the URL without its password, the password as written), or (value, None) if it holds none."""
    found = _userinfo(value)
    if found is None:
        return value, None
    user, password, host = found
    return _with_netloc(value, f"{user}@{host}" if user else host), password


def masked(value: str) -> str:
    """The URL as it may be printed: its password, if any, shown as dots."""
    found = _userinfo(value)
    if found is None:
        return value
    user, _, host = found
    return _with_netloc(value, f"{user}:{DOTS}@{host}")


def with_password(value: str, password: str) -> str:
    """Put a password taken out by `split_password` back into the URL."""
    parts = urlsplit(value)
    userinfo, at, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0] if at else ""
    return _with_netloc(value, f"{user}:{password}@{host}")


def restore_passwords(credentials: Mapping[str, str]) -> dict[str, str]:
    """Credentials as registered (settings + secrets) with every URL's password back in place."""
    restored = dict(credentials)
    for key, password in credentials.items():
        field = key[: -len(_SUFFIX)]
        if key.endswith(_SUFFIX) and restored.get(field):
            restored[field] = with_password(restored[field], password)
    return restored
