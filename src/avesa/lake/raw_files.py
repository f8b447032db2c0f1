"""Raw Parquet files: envelope columns + the source record as JSON text, written atomically and
never changed (docs/architecture.md, "Data"). Works on a local root or any pyarrow filesystem URL."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from avesa.domain.errors import BadDataError
from avesa.domain.pages import Page
from avesa.lake import object_store

RAW_SCHEMA = pa.schema(
    [
        ("tenant_id", pa.string()),
        ("service", pa.string()),
        ("table", pa.string()),
        ("record_id", pa.string()),
        ("source_updated_at", pa.timestamp("us", tz="UTC")),
        ("extracted_at", pa.timestamp("us", tz="UTC")),
        ("run_id", pa.string()),
        ("chunk_id", pa.string()),
        ("record", pa.string()),
        ("source_deleted", pa.bool_()),
    ]
)
"""``source_deleted`` marks a record that announces its own deletion (a Graph ``@removed`` item, a
Salesforce row with ``IsDeleted``); files written before the column existed read it as false."""


def strip_sensitive(raw: bytes, deny: frozenset[str]) -> bytes:
    """Drop deny-listed top-level fields (passwords, tokens) from one record's JSON.

    Only records the connector flagged come here; every other record keeps the API's exact bytes."""
    body = orjson.loads(raw)
    if not isinstance(body, dict) or deny.isdisjoint(body):
        return raw
    return orjson.dumps({k: v for k, v in body.items() if k not in deny})


def build_raw_table(
    pages: Iterable[Page],
    *,
    tenant_id: str,
    service: str,
    table: str,
    run_id: str,
    chunk_id: str,
    extracted_at: datetime,
    deny: frozenset[str],
) -> pa.Table:
    """Whole pages -> one raw table: the envelope columns and each record's JSON text.

    Raises BadDataError naming the page and record when a record is not UTF-8 text, or holds a
    deny-listed field but cannot be decoded to drop it (it is never landed with the field)."""
    pages = list(pages)
    ids: list[str] = []
    updated: list[datetime] = []
    records: list[bytes] = []
    deleted: list[bool] = []
    for page in pages:
        ids += page.record_ids
        updated += page.updated_at
        flags = [False] * len(page)
        for position in page.deleted:
            flags[position] = True
        deleted += flags
        if page.sensitive:
            raws = list(page.raws)
            for position in page.sensitive:
                try:
                    raws[position] = strip_sensitive(raws[position], deny)
                except (orjson.JSONDecodeError, RecursionError) as exc:
                    raise BadDataError(f"page {page.number}: record {page.record_ids[position]} holds a field that "
                                       f"must not be landed and cannot be decoded to drop it ({exc})",
                                       tenant_id=tenant_id, service=service, table=table) from None
            records += raws
        else:
            records += page.raws
    n = len(ids)
    try:
        text = pa.array(records, pa.binary()).cast(pa.string())  # validates UTF-8
    except pa.ArrowInvalid:
        raise _not_text(pages, tenant_id=tenant_id, service=service, table=table) from None
    return pa.table(
        {
            "tenant_id": pa.array([tenant_id] * n, pa.string()),
            "service": pa.array([service] * n, pa.string()),
            "table": pa.array([table] * n, pa.string()),
            "record_id": pa.array(ids, pa.string()),
            "source_updated_at": pa.array(updated, pa.timestamp("us", tz="UTC")),
            "extracted_at": pa.array([extracted_at] * n, pa.timestamp("us", tz="UTC")),
            "run_id": pa.array([run_id] * n, pa.string()),
            "chunk_id": pa.array([chunk_id] * n, pa.string()),
            "record": text,
            "source_deleted": pa.array(deleted, pa.bool_()),
        },
        schema=RAW_SCHEMA,
    )


def _not_text(pages: Iterable[Page], **where: str) -> BadDataError:
    """Name the first record whose bytes are not UTF-8: a raw file holds text, as JSON must be."""
    for page in pages:
        for record_id, raw in zip(page.record_ids, page.raws, strict=True):
            try:
                raw.decode()
            except UnicodeDecodeError as exc:
                return BadDataError(f"page {page.number}: record {record_id} is not UTF-8 text (byte {exc.start}: "
                                    f"{raw[exc.start:exc.start + 4]!r}); the API sent bytes JSON does not allow",
                                    **where)
    return BadDataError("a record is not UTF-8 text", **where)


def _filesystem(directory: str) -> tuple[pafs.FileSystem, str]:
    return object_store.filesystem(directory)


TEMPORARY_SUFFIX = ".tmp"
STALE_TEMPORARY_SECONDS = 3600.0
"""A temporary file not renamed within this long was left by a writer that died: writing one raw
file takes seconds."""


def _temporary_name(name: str) -> str:
    """`.{final name}.{random}.tmp`: hidden, never `*.parquet`, and it starts with the final name's
    prefix (`.{stamp}_{chunk id}_`), so the run and chunk that left it can be told."""
    return f".{name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"


def write_raw_file(directory: str, name: str, table: pa.Table) -> str:
    """Write atomically: a reader sees the whole file or none. Rewriting the same name (a retried
    chunk) replaces it whole, so a file never holds a record twice. A failed write removes its
    temporary file; one a killed process left is removed by `remove_temporary_files`."""
    fs, base = _filesystem(directory)
    fs.create_dir(base, recursive=True)
    final = f"{base}/{name}"
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = f"{base}/{_temporary_name(name)}"
        try:
            pq.write_table(table, tmp, filesystem=fs, compression="zstd")
            fs.move(tmp, final)  # rename(2): atomic on one filesystem
        except BaseException:
            with contextlib.suppress(OSError):
                fs.delete_file(tmp)
            raise
    else:
        pq.write_table(table, final, filesystem=fs, compression="zstd")  # an object PUT is atomic
    return final


def remove_temporary_files(directory: str, prefixes: Iterable[str] = (),
                           older_than: float = STALE_TEMPORARY_SECONDS) -> int:
    """Remove temporary files a killed writer left in `directory`: those of files named with one
    of `prefixes` (chunks nobody writes any more: the caller knows), whatever their age, and any
    other one not touched for `older_than` seconds. Returns how many went. Object stores have none."""
    fs, base = _filesystem(directory)
    if not isinstance(fs, pafs.LocalFileSystem):
        return 0
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except FileNotFoundError:
        return 0
    own = tuple(f".{prefix}" for prefix in prefixes)
    cutoff = time.time() - older_than
    removed = 0
    for info in infos:
        name = info.base_name
        if info.type != pafs.FileType.File or not (name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)):
            continue
        if name.startswith(own) or (info.mtime is not None and info.mtime.timestamp() < cutoff):
            with contextlib.suppress(OSError):  # another cleaner got there first
                fs.delete_file(info.path)
                removed += 1
    return removed


def list_raw_files(directory: str, prefixes: Iterable[str]) -> list[str]:
    """Finished raw files whose names start with one of `prefixes` (e.g. `{stamp}_{chunk_id}_`);
    never a temporary file (hidden, `.tmp`), whole or not."""
    fs, base = _filesystem(directory)
    wanted = tuple(prefixes)
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except FileNotFoundError:
        return []
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(".parquet"))
    return [f"{base}/{n}" for n in names if n.startswith(wanted)]


def read_record_ids(paths: list[str], directory: str) -> pa.ChunkedArray:
    """The files' record ids, the one column read (what an id listing cuts its ranges by)."""
    fs, _ = _filesystem(directory)
    chunks: list[pa.Array] = []
    for path in paths:
        with fs.open_input_file(path) as handle:
            chunks.extend(pq.read_table(handle, columns=["record_id"]).column("record_id").chunks)
    return pa.chunked_array(chunks, type=pa.string())


def iter_raw_batches(paths: list[str], directory: str,
                     columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream the files' rows batch by batch, so memory follows the batch, not the table; only
    `columns` (those of them a file has: older files lack the newer ones) when given."""
    fs, _ = _filesystem(directory)
    for path in paths:
        with fs.open_input_file(path) as handle:
            file = pq.ParquetFile(handle)
            present = None if columns is None else [c for c in columns if c in file.schema_arrow.names]
            yield from file.iter_batches(batch_size=10_000, columns=present)
