"""A record's content hash: stable across processes, platforms and Arrow versions.

`record_hash` = the first 128 bits (32 hex characters) of SHA-256 over a canonical byte encoding
of the business columns and `is_deleted`. Python's `hash()` is never used (it is salted per
process).

Canonical encoding, version 1 (``HASH_VERSION``) — one row's bytes are::

    b"D1" | b"D0"                                   (is_deleted; null counts as false)
    then, for each business column in *sorted name order* whose value is not null:
        "<len(name)>:<name><tag><len(text)>:<text>"   (UTF-8)

`tag` is one letter for the value's kind and `text` its canonical text:

======  ======================  ============================================================
tag     Arrow types             text
======  ======================  ============================================================
``s``   string, large_string    the string itself
``i``   any integer             decimal digits
``f``   float16/32/64           the IEEE-754 float64 bit pattern as a signed decimal integer,
                                with -0.0 folded into 0.0 and every NaN into one NaN
``b``   bool                    ``1`` / ``0``
``t``   timestamp (any tz)      microseconds since the Unix epoch, UTC (ns kept as ns, tag
                                ``T``), so the time zone a value is *displayed* in never matters
``d``   date32/date64           days since the epoch
``n``   decimal                 Arrow's decimal text
``j``   anything else           compact JSON with sorted keys (lists, structs, binary as hex)
======  ======================  ============================================================

Consequences, all deliberate:

- the order of `business_columns` does not matter; a column's name is part of its bytes, so a value
  moving from one column to another is a change;
- a null is *absent*, so adding a new, still-null business column to a mapping does not change any
  existing hash (no spurious versions after a mapping grows);
- null and ``""`` differ; ``1`` (int) and ``"1"`` (string) differ; 1.0 and 1 differ in type tag.

The value texts are computed with pyarrow compute. Small inputs are then joined and hashed in
Python (hashlib); from ``DUCKDB_MIN_ROWS`` rows on, the same bytes are assembled and hashed by an
in-memory DuckDB (``strlen``, ``||``, ``sha256``): ~50x faster for an initial load of a
million rows. Both paths produce identical hashes (tests pin them to the same golden value).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from avesa.observability.stage_cpu import stage
from avesa.transform import duckdb_session

HASH_VERSION = 1
HASH_HEX_CHARS = 32  # 128 bits: ample for telling one key's consecutive versions apart
DUCKDB_MIN_ROWS = 512  # below this, a DuckDB query costs more than hashing in Python

_NAN_BITS = pa.scalar(0x7FF8000000000000, pa.int64())  # the canonical quiet NaN

# Typed scalars: an untyped Python value costs pyarrow a failed numpy import per call.
_EMPTY = pa.scalar("", pa.string())
_COLON = pa.scalar(":", pa.string())
_ONE, _ZERO = pa.scalar("1", pa.string()), pa.scalar("0", pa.string())
_D1, _D0 = pa.scalar("D1", pa.string()), pa.scalar("D0", pa.string())
_FALSE = pa.scalar(False, pa.bool_())
_ZERO_F = pa.scalar(0.0, pa.float64())


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _value_text(array: pa.Array) -> tuple[str, pa.Array]:
    """(tag, utf8 text array with nulls where the value is null) for one column."""
    t = array.type
    if pa.types.is_dictionary(t):
        return _value_text(array.dictionary_decode())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "s", pc.cast(array, pa.string())
    if pa.types.is_boolean(t):
        return "b", pc.if_else(array, _ONE, _ZERO)
    if pa.types.is_integer(t):
        return "i", pc.cast(array, pa.string())
    if pa.types.is_floating(t):
        f = pc.cast(array, pa.float64())
        f = pc.if_else(pc.equal(f, _ZERO_F), _ZERO_F, f)  # fold -0.0 into 0.0 (nulls stay null)
        bits = f.view(pa.int64()) if isinstance(f, pa.Array) else pa.array(f).view(pa.int64())
        bits = pc.if_else(pc.is_nan(f), _NAN_BITS, bits)
        return "f", pc.cast(bits, pa.string())
    if pa.types.is_timestamp(t):
        if t.unit == "ns":
            return "T", pc.cast(array.view(pa.int64()), pa.string())
        micros = pc.cast(array, pa.timestamp("us", tz=t.tz)).view(pa.int64())
        return "t", pc.cast(micros, pa.string())
    if pa.types.is_date(t):
        days = pc.cast(array, pa.date32()).view(pa.int32())
        return "d", pc.cast(days, pa.string())
    if pa.types.is_decimal(t):
        return "n", pc.cast(array, pa.string())
    texts = [
        None if v is None else json.dumps(v, sort_keys=True, separators=(",", ":"), default=_json_default)
        for v in array.to_pylist()
    ]
    return "j", pa.array(texts, pa.string())


def encode_rows(table: pa.Table, columns: Iterable[str], *, prefix: pa.Array | None = None) -> pa.Array:
    """The canonical encoding (module docstring) of `columns` for every row, as a binary array.

    `prefix`, if given, is a string array prepended to every row (used for the is_deleted marker).
    Rows whose columns are all null encode to the prefix alone (or to ``b""``).
    """
    pieces: list[pa.Array] = []
    for name in sorted(set(columns)):
        tag, text = _value_text(_as_array(table.column(name)))
        head = f"{len(name.encode())}:{name}{tag}"
        length = pc.cast(pc.binary_length(text), pa.string())
        # emit_null: a null value makes the whole piece null, and the row join skips it
        head_scalar = pa.scalar(head, pa.string())
        pieces.append(pc.binary_join_element_wise(head_scalar, length, _COLON, text, _EMPTY))
    if prefix is None:
        prefix = pa.array([""] * table.num_rows, pa.string()) if not pieces else None
    parts = ([prefix] if prefix is not None else []) + pieces
    if len(parts) == 1 and prefix is not None:
        joined = prefix
    else:
        joined = pc.binary_join_element_wise(*parts, _EMPTY, null_handling="replace", null_replacement="")
    return pc.cast(joined, pa.binary())


def hash_encoded(encoded: pa.Array) -> pa.Array:
    """SHA-256 (first 128 bits, hex) of each binary value."""
    sha = hashlib.sha256
    n = HASH_HEX_CHARS
    return pa.array([sha(b).hexdigest()[:n] for b in encoded.to_pylist()], pa.string())


def _hash_in_duckdb(prefix: pa.Array, columns: list[tuple[str, pa.Array]]) -> pa.Array:
    data = {"p": prefix}
    parts = ["p"]
    for i, (head, text) in enumerate(columns):
        data[f"v{i}"] = text
        parts.append(f"CASE WHEN v{i} IS NULL THEN '' ELSE concat({duckdb_session.literal(head)}, "
                     f"CAST(strlen(v{i}) AS VARCHAR), ':', v{i}) END")
    sql = f"SELECT left(sha256(concat({', '.join(parts)})), {HASH_HEX_CHARS}) AS h FROM t"
    result = duckdb_session.arrow(sql, "t", pa.table(data))
    return pc.cast(_as_array(result.column(0)), pa.string())


def record_hashes(table: pa.Table, business_columns: Sequence[str], deleted_column: str = "is_deleted",
                  *, engine: str = "auto") -> pa.Array:
    """`record_hash` for every row of `table`: business columns + is_deleted (module docstring).

    `engine` is "auto", "python" or "duckdb" (the last two for tests: they must agree).
    """
    with stage("hash"):
        return _record_hashes(table, business_columns, deleted_column, engine)


def _record_hashes(table: pa.Table, business_columns: Sequence[str], deleted_column: str,
                   engine: str) -> pa.Array:
    missing = [c for c in [*business_columns, deleted_column] if c not in table.column_names]
    if missing:
        raise ValueError(f"cannot hash: missing columns {missing}")
    deleted = pc.fill_null(_as_array(table.column(deleted_column)), _FALSE)
    prefix = pc.if_else(deleted, _D1, _D0)
    if engine == "duckdb" or (engine == "auto" and table.num_rows >= DUCKDB_MIN_ROWS):
        columns = []
        for name in sorted(set(business_columns)):
            tag, text = _value_text(_as_array(table.column(name)))
            columns.append((f"{len(name.encode())}:{name}{tag}", text))
        return _hash_in_duckdb(prefix, columns)
    return hash_encoded(encode_rows(table, business_columns, prefix=prefix))
