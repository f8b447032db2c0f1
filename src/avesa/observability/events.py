"""Run events as JSON lines in `$AVESA_HOME/logs/avesa.jsonl` — one line per run, table and failed
chunk (and, at DEBUG, per chunk attempt), with the metrics peers emit (records, requests, retries,
429s, seconds) so a run can be audited after the fact. Messages come from typed errors, which never
carry request headers and whose quotes of bodies and records were masked by the connector's redactor
when they were built (domain/redaction.py); a filter drops any field whose name looks like a
credential as a second guard.

Every event has a level (`emit(..., level=logging.WARNING)`): the file keeps the events at or above
`AVESA_LOG_LEVEL` (`set_level`) and rotates past `AVESA_LOG_MAX_BYTES`. Subscribers (`subscribe`)
see every event whatever the level — the metrics of `avesa serve` and `avesa run --metrics-file`
are fed from them, never from the file. `to_console` adds plain `key=value` lines on a stream, for
a process whose output goes to a journal or `docker logs`.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

LOGGER_NAME = "avesa.events"
_SECRET_NAME = re.compile(r"(pass|secret|token|private|authorization|api_?key)", re.IGNORECASE)

Subscriber = Callable[[str, dict[str, Any]], None]
"""Called with (event name, fields) for every event emitted, in the emitting thread."""

_subscribers: list[Subscriber] = []
_subscribers_lock = threading.Lock()


class _Defaults:
    """What `configure` applies to a log it opens; set once per process by the CLI."""

    level: int = logging.INFO
    max_bytes: int = 50_000_000
    backups: int = 5


def _masked(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _SECRET_NAME.search(k) else v) for k, v in fields.items()}


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        payload = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(), "event": record.getMessage(),
                   "level": record.levelname.lower(), **_masked(fields)}
        return json.dumps(payload, default=str)


class _PlainLines(logging.Formatter):
    """`2025-01-01 12:00:00Z info table_finished tenant_id=acme records=1,200 …` for a console."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _masked(getattr(record, "fields", {}))
        parts = [f"{k}={_plain(v)}" for k, v in fields.items() if v is not None and k != "traceback"]
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{stamp} {record.levelname.lower()} {record.getMessage()} {' '.join(parts)}".rstrip()


def _plain(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)
    return text if " " not in text else json.dumps(text)


def parse_level(name: str | int) -> int:
    """A level from its name (`debug`, `INFO`, `warning`, `error`), or ValueError saying which exist."""
    if isinstance(name, int):
        return name
    value = logging.getLevelName(name.strip().upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {name!r}: use debug, info, warning or error")
    return value


def set_level(level: str | int, *, max_bytes: int | None = None, backups: int | None = None) -> None:
    """The threshold (and rotation) of the event log for this process: applied at once to an open
    log, and to any `configure` opens later."""
    _Defaults.level = parse_level(level)
    if max_bytes is not None:
        _Defaults.max_bytes = max_bytes
    if backups is not None:
        _Defaults.backups = backups
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(_Defaults.level)
    for handler in logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            handler.maxBytes, handler.backupCount = _Defaults.max_bytes, _Defaults.backups


def configure(home: Path) -> logging.Logger:
    """Send events to `home`'s log, and only there: a process that switches AVESA_HOME (tests,
    benchmarks) must not keep writing into the previous one. A console added by `to_console` stays."""
    logger = logging.getLogger(LOGGER_NAME)
    path = (home / "logs" / "avesa.jsonl").resolve()
    current = [h for h in logger.handlers if getattr(h, "baseFilename", None) == str(path)]
    files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    for handler in [h for h in files if h not in current]:
        logger.removeHandler(handler)
        handler.close()
    if not current:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=_Defaults.max_bytes,
                                                       backupCount=_Defaults.backups, encoding="utf-8")
        handler.setFormatter(_JsonLines())
        logger.addHandler(handler)
    logger.setLevel(_Defaults.level)
    logger.propagate = False
    return logger


def to_console(stream: TextIO) -> Callable[[], None]:
    """Also print events (at the log's level) as plain lines on `stream`; returns how to stop."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_PlainLines())
    logger.addHandler(handler)
    logger.setLevel(_Defaults.level)
    logger.propagate = False

    def remove() -> None:
        logger.removeHandler(handler)

    return remove


def subscribe(subscriber: Subscriber) -> Callable[[], None]:
    """Call `subscriber(event, fields)` for every event from now on; returns how to unsubscribe.

    A subscriber that raises is dropped from that one call's delivery, never the emitter's problem."""
    with _subscribers_lock:
        _subscribers.append(subscriber)

    def unsubscribe() -> None:
        with _subscribers_lock:
            if subscriber in _subscribers:
                _subscribers.remove(subscriber)

    return unsubscribe


def emit(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    with _subscribers_lock:
        subscribers = list(_subscribers)
    for subscriber in subscribers:
        try:
            subscriber(event, fields)
        except Exception:  # metrics must never break a run
            logging.getLogger(__name__).exception("event subscriber failed on %s", event)
    logging.getLogger(LOGGER_NAME).log(level, event, extra={"fields": fields})
