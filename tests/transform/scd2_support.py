"""Builders, an independent oracle and a hypothesis strategy shared by the SCD2 tests
(tests/transform for the pure functions, tests/lake for the Delta table)."""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from hypothesis import strategies as st

from avesa.transform.record_hash import record_hashes
from avesa.transform.scd2 import sort_rows

TS = pa.timestamp("us", tz="UTC")
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BUSINESS = ["name", "amount", "score", "flag", "due"]
SCHEMA = pa.schema([
    ("tenant_id", pa.string()),
    ("source_service", pa.string()),
    ("source_table", pa.string()),
    ("source_id", pa.string()),
    ("last_updated", TS),
    ("is_deleted", pa.bool_()),
    ("name", pa.string()),
    ("amount", pa.int64()),
    ("score", pa.float64()),
    ("flag", pa.bool_()),
    ("due", TS),
    ("last_updated_by", pa.string()),
    ("run_id", pa.string()),
    ("loaded_at", TS),
])
# the same with the extraction stamp the pipeline's versions carry
STAMPED = pa.schema([*SCHEMA, pa.field("extracted_at", TS)])
# instants at the ends of the calendar: "unset" sentinels and far-future stamps are real data
EDGE_INSTANTS = [datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                 datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), T0, T0 + timedelta(minutes=1),
                 T0 + timedelta(minutes=2), datetime(9999, 12, 31, 23, 59, 59, 998_999, tzinfo=UTC),
                 datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
                 datetime(9999, 12, 31, 23, 59, 59, 999_998, tzinfo=UTC),
                 datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
# ids outside the Basic Multilingual Plane (emoji, CJK Extension B, a ZWJ sequence) beside plain ones
ASTRAL_KEYS = ["\U0001F600", "id-\U00020000", "1", "\U0001F468\u200d\U0001F4BB", "\U00010000"]


def at(t: int | datetime) -> datetime:
    """Minute `t` of the test epoch (a datetime is taken as it is)."""
    return t if isinstance(t, datetime) else T0 + timedelta(minutes=t)


def v(sid: str, t: int | datetime, name: str | None = "a", *, deleted: bool = False, amount: int | None = 1,
      score: float | None = 0.5, flag: bool | None = True, due: int | None = None, by: str = "alice",
      run: int = 1, service: str = "connectwise", extracted: int | datetime | None = None) -> dict[str, Any]:
    """One version row. `run` sets run_id and loaded_at (a later run loads later); `extracted`,
    when given, the extraction stamp (minute `extracted` after the runs' loads)."""
    row = {
        "tenant_id": "acme", "source_service": service, "source_table": "company_companies",
        "source_id": sid, "last_updated": at(t), "is_deleted": deleted, "name": name, "amount": amount,
        "score": score, "flag": flag, "due": None if due is None else at(due), "last_updated_by": by,
        "run_id": f"run-{run:03d}", "loaded_at": at(10_000 + run),
    }
    if extracted is not None:
        row["extracted_at"] = at(extracted if isinstance(extracted, datetime) else 20_000 + extracted)
    return row


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """Versions as Arrow; with the extraction stamp column as soon as one row has it."""
    schema = STAMPED if any("extracted_at" in r for r in rows) else SCHEMA
    return pa.Table.from_pylist(rows, schema=schema)


def _exact(value: Any) -> Any:
    """A float as a comparable token that tells -0.0 from 0.0 and NaN payloads apart."""
    if isinstance(value, float):
        if math.isnan(value):
            return f"nan:{struct.pack('<d', value).hex()}"
        return repr(value)
    return value


def _stored_float(value: Any) -> Any:
    """What the merge stores for a value: one representation per float (-0.0 is 0.0)."""
    return 0.0 if isinstance(value, float) and value == 0.0 else value


def canonical(rows: pa.Table | None) -> list[dict[str, Any]]:
    """Every column of every row, in the canonical order: what "the same table" means (floats
    compared by representation, so -0.0 and 0.0 differ here)."""
    if rows is None:
        return []
    return [{k: _exact(x) for k, x in row.items()} for row in sort_rows(rows).to_pylist()]


def absorbed_times(row: dict[str, Any]) -> list[datetime]:
    doc = row["absorbed_versions"]
    if not doc:
        return []
    return [datetime.fromisoformat(e["last_updated"].replace("Z", "+00:00")) for e in json.loads(doc)]


# ----------------------------------------------------------------------------------- oracle


def expected_timeline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the rules call for, computed the obvious way, one key and instant at a time.

    Valid for inputs where versions sharing a key and an instant differ in business columns /
    is_deleted, or in their run and extraction (the strategy below makes sure of that): the
    winner is the latest extraction (none counts as earliest), then the deleted one, then the
    lower hash, then the first load. Consecutive deletes are one row.
    """
    hashes = record_hashes(table(rows), BUSINESS).to_pylist() if rows else []
    by_key: dict[tuple[str, str], dict[datetime, list[tuple[Any, ...]]]] = defaultdict(lambda: defaultdict(list))
    for row, h in zip(rows, hashes, strict=True):
        stamp = row.get("extracted_at")
        by_key[(row["source_service"], row["source_id"])][row["last_updated"]].append(
            (stamp is None, -(stamp - T0).total_seconds() if stamp else 0, not row["is_deleted"], h,
             row["loaded_at"], row)
        )
    out = []
    for key in sorted(by_key):
        winners = [(ts, min(cands, key=lambda c: c[:5])) for ts, cands in sorted(by_key[key].items())]
        runs: list[list[tuple[datetime, tuple[Any, ...]]]] = []
        for ts, w in winners:
            last = runs[-1][0][1] if runs else None
            if last is not None and (last[3] == w[3] or (last[5]["is_deleted"] and w[5]["is_deleted"])):
                runs[-1].append((ts, w))
            else:
                runs.append([(ts, w)])
        for i, run in enumerate(runs):
            first = run[0][1][5]
            out.append({
                "key": key,
                "start": run[0][0],
                "end": runs[i + 1][0][0] if i + 1 < len(runs) else None,
                "is_current": i + 1 == len(runs),
                "record_hash": run[0][1][3],
                "is_deleted": first["is_deleted"],
                "business": tuple(_exact(_stored_float(first[c])) for c in BUSINESS),
                "loaded_at": first["loaded_at"],
                "absorbed": [ts for ts, _ in run[1:]],
            })
    return out


def observed_timeline(rows: pa.Table | None) -> list[dict[str, Any]]:
    """The same projection of an actual canonical table."""
    out = []
    for row in canonical(rows):
        out.append({
            "key": (row["source_service"], row["source_id"]),
            "start": row["effective_start_date"],
            "end": row["effective_end_date"],
            "is_current": row["is_current"],
            "record_hash": row["record_hash"],
            "is_deleted": row["is_deleted"],
            "business": tuple(row[c] for c in BUSINESS),  # canonical() made floats exact already
            "loaded_at": row["loaded_at"],
            "absorbed": absorbed_times(row),
        })
    return out


def assert_invariants(rows: pa.Table | None) -> None:
    """One current row per key, contiguous non-overlapping intervals, no repeated hash."""
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in canonical(rows):
        by_key[(row["source_service"], row["source_id"])].append(row)
    for key, krows in by_key.items():
        assert sum(r["is_current"] for r in krows) == 1, key
        assert krows[-1]["is_current"] and krows[-1]["effective_end_date"] is None, key
        for a, b in itertools.pairwise(krows):
            assert a["effective_start_date"] < b["effective_start_date"], key
            assert a["effective_end_date"] == b["effective_start_date"], key
            assert a["record_hash"] != b["record_hash"], key
            assert not (a["is_deleted"] and b["is_deleted"]), key  # consecutive deletes are one row
        for r in krows:
            assert r["effective_start_date"] == r["last_updated"], key


# --------------------------------------------------------------------------------- strategy

_names = st.sampled_from(["a", "b", None])


@st.composite
def version_sets(draw: st.DrawFn, max_keys: int = 3, max_versions: int = 14, vary_authors: bool = False,
                 edges: bool = False) -> list[dict[str, Any]]:
    """Versions of a few keys: few instants and few values, so duplicates, equal-hash neighbours,
    same-instant rivals, deletes (consecutive ones too) and re-opens are all common. Exact copies
    and re-extractions (same version, later run) are added on top. With `vary_authors`, rivals may
    also differ only in last_updated_by (a case the oracle does not model).

    Most sets carry extraction stamps: a version extracted by run r is stamped in r's minutes
    (rivals at one instant are then told apart by the later extraction, or share a stamp and fall
    back to the other rules); a re-extraction is stamped after every base run. Scores include
    0.0 and -0.0 (one value, two representations). With `edges`, ids lie outside the Basic
    Multilingual Plane and instants at the ends of the calendar (year 1, year 9999)."""
    n_keys = draw(st.integers(1, max_keys))
    keys = ASTRAL_KEYS[:n_keys] if edges else [str(k) for k in range(1, n_keys + 1)]
    stamped = draw(st.integers(0, 3)) > 0
    base = []
    for _ in range(draw(st.integers(1, max_versions))):
        run = draw(st.integers(1, 3))
        t = draw(st.integers(0, 9))
        base.append(v(
            draw(st.sampled_from(keys)),
            EDGE_INSTANTS[t] if edges else t,
            draw(_names),
            deleted=draw(st.integers(0, 3)) == 0,
            amount=draw(st.sampled_from([1, 2])),
            score=draw(st.sampled_from([0.5, 0.0, -0.0])),
            run=run,
            by=draw(st.sampled_from(["alice", "bob"])) if vary_authors else "alice",
            extracted=run * 10 + draw(st.integers(0, 2)) if stamped else None,
        ))
    extra = []
    for row in base:
        copies = draw(st.integers(0, 2))
        for _ in range(copies):
            if draw(st.booleans()):
                extra.append(dict(row))  # an exact copy (a retry)
            else:
                later = draw(st.integers(4, 6))  # the same version re-extracted by a later run
                copy = {**row, "run_id": f"run-{later:03d}", "loaded_at": at(10_000 + later)}
                if stamped:
                    copy["extracted_at"] = at(20_000 + later * 10 + draw(st.integers(0, 2)))
                extra.append(copy)
    return base + extra


@st.composite
def schedules(draw: st.DrawFn, versions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """`versions` split into batches, shuffled, some batches applied more than once."""
    n = len(versions)
    n_batches = draw(st.integers(1, max(1, min(5, n))))
    assignment = draw(st.lists(st.integers(0, n_batches - 1), min_size=n, max_size=n))
    batches = [[row for row, a in zip(versions, assignment, strict=True) if a == b] for b in range(n_batches)]
    batches = [b for b in batches if b]
    repeats = draw(st.lists(st.integers(0, len(batches) - 1), max_size=2))
    return draw(st.permutations(batches + [batches[i] for i in repeats]))
