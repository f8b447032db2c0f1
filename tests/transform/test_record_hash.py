"""record_hash: stable, canonical, and blind to what is not content."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa

from avesa.transform.record_hash import HASH_HEX_CHARS, encode_rows, record_hashes


def _hash(columns: dict[str, pa.Array], deleted: bool = False, business: list[str] | None = None) -> str:
    n = len(next(iter(columns.values())))
    t = pa.table({**columns, "is_deleted": pa.array([deleted] * n)})
    return record_hashes(t, business or list(columns)).to_pylist()[0]


def test_golden_value_pins_the_encoding():
    # If this changes, every stored record_hash changes and every key gets a spurious version.
    t = pa.table({
        "name": ["Acme"], "n": pa.array([42], pa.int64()), "x": [1.5], "ok": [True],
        "at": pa.array([datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
        "gone": pa.array([None], pa.string()), "is_deleted": [False],
    })
    encoded = encode_rows(t, ["name", "n", "x", "ok", "at", "gone"], prefix=pa.array(["D0"])).to_pylist()[0]
    # sorted names; `gone` is null so absent; 1.5 is 0x3FF8000000000000
    assert encoded == b"D02:att16:17041646450000061:ni2:424:names4:Acme2:okb1:11:xf19:4609434218613702656"
    assert hashlib.sha256(encoded).hexdigest()[:HASH_HEX_CHARS] == "8d77403ac3b212db797f4802305b7523"
    for engine in ("python", "duckdb"):
        got = record_hashes(t, ["name", "n", "x", "ok", "at", "gone"], engine=engine).to_pylist()
        assert got == ["8d77403ac3b212db797f4802305b7523"], engine


def test_column_order_does_not_matter_but_column_names_do():
    a = pa.table({"x": ["1"], "y": ["2"], "is_deleted": [False]})
    assert record_hashes(a, ["x", "y"]) == record_hashes(a, ["y", "x"])
    swapped = pa.table({"x": ["2"], "y": ["1"], "is_deleted": [False]})
    assert record_hashes(a, ["x", "y"]) != record_hashes(swapped, ["x", "y"])


def test_null_empty_and_types_are_distinguished():
    assert _hash({"x": pa.array([None], pa.string())}) != _hash({"x": pa.array([""])})
    assert _hash({"x": pa.array([1], pa.int64())}) != _hash({"x": pa.array(["1"])})
    assert _hash({"x": pa.array([1.0])}) != _hash({"x": pa.array([1], pa.int64())})
    assert _hash({"x": pa.array(["ab"]), "y": pa.array(["c"])}) != _hash({"x": pa.array(["a"]), "y": pa.array(["bc"])})


def test_is_deleted_is_part_of_the_hash():
    cols = {"x": pa.array(["a"])}
    assert _hash(cols, deleted=False) != _hash(cols, deleted=True)


def test_a_new_null_column_does_not_change_existing_hashes():
    before = _hash({"x": pa.array(["a"])})
    after = _hash({"x": pa.array(["a"]), "new_col": pa.array([None], pa.int64())})
    assert before == after


def test_canonical_values():
    assert _hash({"x": pa.array([0.0])}) == _hash({"x": pa.array([-0.0])})
    assert _hash({"x": pa.array([float("nan")])}) == _hash({"x": pa.array([float("-nan")])})
    assert _hash({"x": pa.array([1.5], pa.float32())}) == _hash({"x": pa.array([1.5], pa.float64())})
    instant = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    as_us = pa.array([instant], pa.timestamp("us", tz="UTC"))
    as_ms_other_tz = pa.array([instant.astimezone(timezone(timedelta(hours=5)))], pa.timestamp("ms", tz="+05:00"))
    assert _hash({"t": as_us}) == _hash({"t": as_ms_other_tz})
    plain = pa.array(["a", "b", "a"])
    assert record_hashes(pa.table({"x": plain, "is_deleted": [False] * 3}), ["x"]) == record_hashes(
        pa.table({"x": plain.dictionary_encode(), "is_deleted": [False] * 3}), ["x"]
    )


def test_null_is_deleted_counts_as_false():
    t = pa.table({"x": ["a", "a"], "is_deleted": pa.array([None, False], pa.bool_())})
    a, b = record_hashes(t, ["x"]).to_pylist()
    assert a == b


def test_nested_values_hash_through_json():
    t = pa.table({"x": pa.array([[1, 2], [2, 1]]), "is_deleted": [False, False]})
    a, b = record_hashes(t, ["x"]).to_pylist()
    assert a != b


def test_python_and_duckdb_engines_agree_on_awkward_values():
    rnd = random.Random(7)
    n = 600  # above DUCKDB_MIN_ROWS either way: both engines are forced
    T0 = datetime(2024, 1, 1, tzinfo=UTC)
    texts = [None, "", "a", "é€😀", "x'y", "a:b", "\x00z", "12"]
    t = pa.table({
        "s": [rnd.choice(texts) for _ in range(n)],
        "it's": [rnd.choice(texts) for _ in range(n)],
        "i": pa.array([rnd.choice([None, 0, -5, 2**62]) for _ in range(n)], pa.int64()),
        "f": pa.array([rnd.choice([None, 0.0, -0.0, 1.5, float("nan"), float("inf"), 1e-300]) for _ in range(n)]),
        "b": pa.array([rnd.choice([None, True, False]) for _ in range(n)]),
        "t": pa.array([rnd.choice([None, T0 + timedelta(microseconds=rnd.randrange(10**12))]) for _ in range(n)],
                      pa.timestamp("us", tz="UTC")),
        "l": pa.array([rnd.choice([None, [1, 2], []]) for _ in range(n)], pa.list_(pa.int64())),
        "is_deleted": pa.array([rnd.choice([None, True, False]) for _ in range(n)]),
    })
    columns = ["s", "it's", "i", "f", "b", "t", "l"]
    assert record_hashes(t, columns, engine="python") == record_hashes(t, columns, engine="duckdb")
