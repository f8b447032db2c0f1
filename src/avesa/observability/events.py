"""Run events as JSON lines in `$AVESA_HOME/logs/avesa.jsonl` — one line per run, table and failed
chunk, with the metrics peers emit (records, requests, retries, 429s, seconds) so a run can be
audited after the fact. Messages come from typed errors, which never carry request headers and
whose quotes of bodies and records were masked by the connector's redactor when they were built
(domain/redaction.py); a filter drops any field whose name looks like a credential as a second
guard."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOGGER_NAME = "avesa.events"
_SECRET_NAME = re.compile(r"(pass|secret|token|private|authorization|api_?key)", re.IGNORECASE)


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        payload = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(), "event": record.getMessage(),
                   **{k: ("[redacted]" if _SECRET_NAME.search(k) else v) for k, v in fields.items()}}
        return json.dumps(payload, default=str)


def configure(home: Path) -> logging.Logger:
    """Send events to `home`'s log, and only there: a process that switches AVESA_HOME (tests,
    benchmarks) must not keep writing into the previous one."""
    logger = logging.getLogger(LOGGER_NAME)
    path = (home / "logs" / "avesa.jsonl").resolve()
    current = [h for h in logger.handlers if getattr(h, "baseFilename", None) == str(path)]
    for handler in [h for h in logger.handlers if h not in current]:
        logger.removeHandler(handler)
        handler.close()
    if not current:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(_JsonLines())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def emit(event: str, **fields: Any) -> None:
    logging.getLogger(LOGGER_NAME).info(event, extra={"fields": fields})
