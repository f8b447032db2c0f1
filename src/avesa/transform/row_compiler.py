"""Compile a mapping into one Python function that reads a batch of raw records into column lists.

The per-record mapping was a closure per path step, a getter call and a converter call per value,
and a dict lookup per column: ~30 function calls a record for a ConnectWise ticket. Here the
mapping's paths are written out as straight-line source (a `dict.get` chain with `isinstance`
guards per path, the alternatives as nested `if v is None`), each column's conversion inlined for
the value's usual type (a `str` or an `int` id for a string column, an in-range `int`, a finite `float`, a
`YYYY-MM-DDTHH:MM:SSZ` text for a timestamp) with the general converter of `avesa.transform.values`
called for everything else, and the null counts kept in local integers. The source is generated
from the catalog but names no catalog text as code: keys are `repr()` literals, indexes `int`s, and
`[k=v]` matches closures passed in by name, so no mapping file can inject code.

tests/transform/test_mapping_fast_path.py holds this against the old per-record implementation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from avesa.catalog.models import ColumnType
from avesa.transform import values

RowsFunction = Callable[[Iterable[tuple[str, datetime, str]], Counter], tuple[list[str], list[list[Any]]]]
"""(records, null counts to add to) -> (source ids, one value list per compiled column)."""

LAST_UPDATED = "last_updated"
"""The column that falls back to the record's envelope stamp instead of being counted when null."""


def compile_rows(columns: list[tuple[str, ColumnType, list[str]]], label: str) -> RowsFunction:
    """`columns`: (canonical name, type, source paths) in output order; `label` names the generated
    code in tracebacks. A column with no paths is null (`last_updated`: the envelope's stamp)."""
    names = [name for name, _, _ in columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{label}: a canonical table names a column twice")
    namespace: dict[str, Any] = {
        "loads": orjson.loads, "decode_record": values.decode_record, "isfinite": math.isfinite,
        "fromisoformat": datetime.fromisoformat, "UTC": UTC, "negated": values.negated,
        **{f"to_{kind}": convert for kind, convert in values.CONVERT.items()},
    }
    body: list[str] = []
    for index, (name, kind, paths) in enumerate(columns):
        body += _source_lines(paths, namespace, f"m{index}_")
        body += _convert_lines(kind, f"n{index}" if name != LAST_UPDATED else None)
        if name == LAST_UPDATED:
            body += ["if v is None:", "    v = updated_at"]
        body.append(f"a{index}(v)")
    if LAST_UPDATED not in names:
        body.append(f"raise KeyError({LAST_UPDATED!r})")  # as the per-record mapping did
    count = len(columns)
    lines = [
        "def rows(records, counts):",
        "    source_ids = []",
        "    add_source_id = source_ids.append",
        *(f"    c{i} = []; a{i} = c{i}.append; n{i} = 0" for i in range(count)),
        "    try:",
        "        for source_id, updated_at, record_json in records:",
        "            try:",
        "                r = loads(record_json)",
        "            except Exception:",  # orjson is deterministic: the full decoder repeats it, then falls back
        "                r = decode_record(source_id, record_json)",
        "            add_source_id(source_id)",
        "            d = isinstance(r, dict)",
        *(f"            {line}" for line in body),
        "    finally:",
        *(f"        if n{i}: counts[{name!r}] += n{i}" for i, name in enumerate(names) if name != LAST_UPDATED),
        "        pass",
        f"    return source_ids, [{', '.join(f'c{i}' for i in range(count))}]",
    ]
    code = compile("\n".join(lines) + "\n", f"<mapping {label}>", "exec")
    exec(code, namespace)  # the source above: literals and names of this module only
    return namespace["rows"]


def _source_lines(paths: list[str], namespace: dict[str, Any], prefix: str) -> list[str]:
    """Lines leaving in `v` the first non-null of `paths` read from the record `r` (`d`: r is a
    dict); a `!path` that is found ends the search, negated (None if it is no flag)."""
    if not paths:
        return ["v = None"]
    path, rest = paths[0], paths[1:]
    negate = path.startswith("!")
    lines = _path_lines(path.removeprefix("!"), namespace, f"{prefix}{len(paths)}_")
    if negate:
        lines += ["if v is not None:", "    v = negated(v)"]
        if rest:
            lines += ["else:", *(f"    {line}" for line in _source_lines(rest, namespace, prefix))]
    elif rest:
        lines += ["if v is None:", *(f"    {line}" for line in _source_lines(rest, namespace, prefix))]
    return lines


def _path_lines(path: str, namespace: dict[str, Any], prefix: str) -> list[str]:
    lines: list[str] = []
    current, is_dict = "r", "d"
    for number, (name, index, match) in enumerate(values.STEP.findall(path)):
        if name:
            guard = is_dict if current == "r" else f"isinstance({current}, dict)"
            lines.append(f"v = {current}.get({name!r}) if {guard} else None")
        elif index:
            i = int(index)
            lines.append(f"v = {current}[{i}] if isinstance({current}, list) and len({current}) > {i} else None")
        else:
            picker = f"{prefix}{number}"
            namespace[picker] = values.match_step(match)
            lines.append(f"v = {picker}({current})")
        current = "v"
    return lines or ["v = r"]


def _convert_lines(kind: ColumnType, counter: str | None) -> list[str]:
    """Lines turning the raw value `v` into the column's type in place: None and "" are null
    (not counted); a value the conversion nulls adds one to `counter` (None: not counted)."""
    nulled = f"{counter} += 1" if counter else "pass"
    general = ["elif v is not None:", "    if v == '':", "        v = None", "    else:",
               f"        v = to_{kind}(v)", "        if v is None:", f"            {nulled}"]
    if kind == "string":
        return ["if v.__class__ is str:", "    if not v:", "        v = None",
                "elif v.__class__ is int:", "    v = str(v)", *general]  # a numeric id: to_string's str(v)
    if kind == "int64":
        return ["if v.__class__ is int:", f"    if not {values.INT64_MIN} <= v <= {values.INT64_MAX}:",
                "        v = None", f"        {nulled}", *general]
    if kind == "float64":
        return ["if v.__class__ is float:", "    if not isfinite(v):", "        v = None", f"        {nulled}",
                *general]
    if kind == "bool":
        return ["if v.__class__ is bool:", "    pass", *general]
    if kind == "timestamp":  # avesa.domain.timeutil.parse_utc, inlined
        return ["if v.__class__ is str:", "    s = v.strip()", "    if s:", "        try:",
                "            v = fromisoformat(s)",
                "            v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)",
                "        except (ValueError, OverflowError):", "            v = None", f"            {nulled}",
                "    else:", "        if v:", f"            {nulled}", "        v = None", *general]
    raise ValueError(f"no conversion to {kind!r}")
