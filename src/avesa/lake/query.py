"""`avesa query`: one read-only SELECT over the canonical tables, in a locked-down DuckDB.

Each canonical table becomes a view (companies, contacts, tickets, time_entries) that unions the
asked-for tenants' tables by column name; `tenant_id` tells them apart. The data reaches DuckDB as
Arrow datasets that pyarrow reads through the Delta log (`canonical_reader.tenant_rows`), and
that is all DuckDB can see: before the user's SQL runs the engine is cut off from the file
system, the network and extensions (`enable_external_access=false`, no extension autoloading),
cannot look up Python variables, spills to a private temporary directory outside the lake, and
has its configuration locked so no statement can undo any of it. On top of that only a single
SELECT is accepted, so COPY, ATTACH, EXPORT, INSTALL/LOAD, SET/RESET, PRAGMA and the like are
refused with a message naming them before anything runs.
"""

from __future__ import annotations

import re
import tempfile

import duckdb
import pyarrow as pa

from avesa.domain.errors import UsageError
from avesa.lake.canonical_reader import tenant_rows
from avesa.lake.paths import LakeLayout

_StatementType = duckdb.StatementType

# Set when the connection opens: nothing but the registered Arrow data is reachable.
_LOCKED_DOWN: dict[str, str | bool] = {
    "enable_external_access": False,  # no files, no network, no ATTACH/COPY/EXPORT, no INSTALL
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "allow_extension_repositories": "forbidden",
    "python_enable_replacements": False,  # a name in the SQL never resolves to a Python object
}

# What a refused statement is called in the message, with why where it helps.
_REFUSED_NAMES = {
    _StatementType.COPY: "COPY (no files are read or written)",
    _StatementType.COPY_DATABASE: "COPY FROM DATABASE",
    _StatementType.EXPORT: "EXPORT DATABASE (no files are written)",
    _StatementType.ATTACH: "ATTACH (only the lake's views can be read)",
    _StatementType.DETACH: "DETACH",
    _StatementType.LOAD: "INSTALL or LOAD (no extensions)",
    _StatementType.EXTENSION: "extension statements (no extensions)",
    _StatementType.SET: "SET, RESET or USE (the settings are locked)",
    _StatementType.VARIABLE_SET: "SET VARIABLE (the settings are locked)",
    _StatementType.PRAGMA: "PRAGMA (the settings are locked)",
    _StatementType.CALL: "CALL",
}

# DuckDB's message for a function or type that an extension it did not load provides.
_NEEDS_EXTENSION = re.compile(r'with name "?(?P<what>[^"\s]+)"? is not in the catalog, '
                              r"but it exists in the (?P<extension>\w+) extension")


class QueryRefused(UsageError):
    """The SQL asks for something `avesa query` never does: it only reads the lake's views."""


def run_query(lake: LakeLayout, sql: str, tenant_ids: list[str], canonical_tables: list[str]) -> pa.Table:
    """The result of one SELECT over the views of `tenant_ids`' canonical tables.

    Raises QueryRefused for anything but a single SELECT or for a SELECT that reaches for files,
    the network or extensions, and UsageError (one line) for SQL that fails otherwise.
    """
    views = ", ".join(canonical_tables)
    with tempfile.TemporaryDirectory(prefix="avesa-query-") as spill_dir:
        con = duckdb.connect(":memory:", config={**_LOCKED_DOWN, "temp_directory": spill_dir})
        try:
            con.execute("SET lock_configuration = true")
            _check_single_select(con, sql, views)
            _create_views(con, lake, tenant_ids, canonical_tables)
            relation = con.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.PermissionException:
            raise QueryRefused(
                f"not allowed in avesa query: files, the network or extensions; it reads only the views {views}"
            ) from None
        except duckdb.Error as exc:
            needs = _NEEDS_EXTENSION.search(str(exc))
            if needs:  # DuckDB's own advice (INSTALL, or turn autoloading on) cannot be followed here
                raise QueryRefused(f"not allowed in avesa query: extensions ({needs['what']} is in "
                                   f"{needs['extension']}); it reads only the views {views}") from None
            raise UsageError(f"query failed: {one_line(str(exc))}") from None
        finally:
            con.close()


def _check_single_select(con: duckdb.DuckDBPyConnection, sql: str, views: str) -> None:
    """Refuse, by name, anything but exactly one SELECT (DESCRIBE, SHOW and SUMMARIZE are SELECTs)."""
    statements = con.extract_statements(sql)
    if not statements:
        raise QueryRefused(f"no statement given: write one SELECT over {views}")
    if len(statements) > 1:
        raise QueryRefused(f"not allowed in avesa query: {len(statements)} statements; "
                           f"give one SELECT over {views}")
    kind = statements[0].type
    if kind != _StatementType.SELECT:
        name = _REFUSED_NAMES.get(kind, f"{kind.name.replace('_', ' ')} statements")
        raise QueryRefused(f"not allowed in avesa query: {name}; it runs one SELECT over {views}")


def _create_views(con: duckdb.DuckDBPyConnection, lake: LakeLayout, tenant_ids: list[str],
                  canonical_tables: list[str]) -> None:
    """One view per canonical table, over the Arrow datasets of the given tenants only."""
    for table in canonical_tables:
        parts = []
        for tenant_id in tenant_ids:
            dataset = tenant_rows(lake.canonical_uri(tenant_id, table), tenant_id)
            if dataset is None:
                continue
            name = f"_{table}__{tenant_id.replace('-', '_')}"
            con.register(name, dataset)
            parts.append(f'SELECT * FROM "{name}"')
        if parts:
            con.execute(f'CREATE VIEW "{table}" AS ' + " UNION ALL BY NAME ".join(parts))


def one_line(message: str) -> str:
    """DuckDB's message as one line: its text without the `LINE n:` excerpt and caret under it."""
    kept = []
    for line in message.splitlines():
        if line.startswith("LINE "):
            break
        if line.strip():
            kept.append(line.strip())
    return " ".join(kept)
