"""Raw files are written whole or not at all, and what a killed write leaves never stays for good
nor reaches a reader."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from avesa.domain.pages import Page
from avesa.lake.raw_files import build_raw_table, list_raw_files, remove_temporary_files, write_raw_file


def _table():
    page = Page(number=1, record_ids=["1"], updated_at=[datetime(2025, 1, 1, tzinfo=UTC)], raws=[b'{"id": 1}'],
                sensitive=[], last_id="1")
    return build_raw_table([page], tenant_id="acme", service="connectwise", table="t", run_id="run-1",
                           chunk_id="c0", extracted_at=datetime(2025, 1, 2, tzinfo=UTC), deny=frozenset())


def _leftover(directory: Path, name: str, age_seconds: float = 0.0) -> Path:
    path = directory / name
    path.write_bytes(b"half a parquet file")
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "run_c0_00000.parquet").mkdir()  # the rename cannot replace a directory
    with pytest.raises(OSError):
        write_raw_file(str(tmp_path), "run_c0_00000.parquet", _table())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_c0_00000.parquet"]


def test_leftovers_of_killed_writes_are_removed_and_never_listed(tmp_path: Path) -> None:
    written = write_raw_file(str(tmp_path), "run_c0_00000.parquet", _table())
    mine = _leftover(tmp_path, ".run_c0_00001.parquet.aa.tmp")
    child = _leftover(tmp_path, ".run_c0.1_00000.parquet.bb.tmp")  # another chunk's, being written now
    old = _leftover(tmp_path, ".other_c9_00003.parquet.cc.tmp", age_seconds=2 * 3600)
    assert list_raw_files(str(tmp_path), ["run_c0_", "run_c0.1_", "other_"]) == [written]
    assert pq.read_table(written).num_rows == 1

    assert remove_temporary_files(str(tmp_path), ["run_c0_"]) == 2
    assert not mine.exists() and not old.exists() and child.exists()
    assert Path(written).exists()
    assert remove_temporary_files(str(tmp_path / "never-written"), ["run_c0_"]) == 0
