"""Reading the file `avesa tenant import` takes — YAML or CSV — into rows, each knowing where it
came from (file and line) so that an error names it; and the credential references in them.

YAML::

    tenants:
      - tenant: acme
        company_name: Acme Corp
        enabled: true                      # optional
        services:
          connectwise:
            tables: [service_tickets, company_companies]   # optional: the service's defaults
            enabled: true                  # optional
            credentials:
              api_url: https://api-na.myconnectwise.net
              company_id: acme
              public_key: ${CW_PUBLIC_KEY_ACME}           # from --secrets-file, else the environment
              private_key: env:CW_PRIVATE_KEY_ACME        # from the environment only
              client_id: secret:CW_CLIENT_ID              # from --secrets-file only
            rate_limit: {requests_per_minute: 120, burst: 20}   # optional
            schedule: {incremental: every 15m, full: "0 3 * * *"}  # optional

CSV: one row per tenant's service, columns `tenant, company_name, service, tables, enabled`
(`tenant_enabled`, `requests_per_minute`, `burst`, `schedule`, `full_schedule` optional); every
other column is a credential field of the row's service (an empty cell: not given). `tables` is
comma-, semicolon- or space-separated. A row without a service registers the tenant alone.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avesa.domain.errors import UsageError

REFERENCE_HINT = "${NAME} (the --secrets-file, else the environment), env:NAME or secret:NAME"

_WHOLE_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$|^(env|secret):([A-Za-z_][A-Za-z0-9_]*)$")

CSV_COLUMNS = ("tenant", "company_name", "tenant_enabled", "service", "tables", "enabled", "requests_per_minute",
               "burst", "schedule", "full_schedule")
_TENANT_KEYS = {"tenant", "company_name", "enabled", "services"}
_SERVICE_KEYS = {"tables", "enabled", "credentials", "rate_limit", "schedule"}
_LINE = "__line__"


class ImportProblem(Exception):
    """One thing wrong with one row; collected, then reported together (nothing is written)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")


@dataclass
class ServiceRow:
    service: str
    tables: list[str] | None = None
    enabled: bool | None = None
    credentials: dict[str, str] = field(default_factory=dict)
    """As written: values or references (resolved by `References`)."""
    requests_per_minute: float | None = None
    burst: int | None = None
    rate_limit_given: bool = False
    schedule: dict[str, str | None] | None = None


@dataclass
class TenantRow:
    where: str
    """`tenants.csv line 4` / `tenants.yaml line 12`."""
    tenant: str
    company_name: str | None
    enabled: bool | None
    services: list[tuple[str, ServiceRow]] = field(default_factory=list)
    """(where, service) pairs: in CSV every service has a line of its own."""


# ---- references -----------------------------------------------------------------------------
def reference_name(value: str) -> tuple[str, str] | None:
    """(source, NAME) of a value that is a whole reference — source "any" for `${NAME}`, "env" or
    "secret" — else None (the value is written inline)."""
    match = _WHOLE_REFERENCE.match(value.strip())
    if match is None:
        return None
    if match.group(1):
        return "any", match.group(1)
    return match.group(2), match.group(3)


@dataclass
class References:
    """Where references are looked up: a secrets file (NAME: value) and the environment."""

    environ: Mapping[str, str]
    secrets_file: Mapping[str, str] = field(default_factory=dict)
    secrets_path: Path | None = None

    def resolve(self, value: str) -> str:
        """The value a reference names; ValueError saying what to set when it is missing."""
        found = reference_name(value)
        if found is None:
            return value
        source, name = found
        if source in ("any", "secret") and self.secrets_file.get(name):
            return self.secrets_file[name]
        if source in ("any", "env") and self.environ.get(name):
            return self.environ[name]
        if source == "secret":
            where = f"the secrets file {self.secrets_path}" if self.secrets_path else "no --secrets-file was given"
            raise ValueError(f"{value} is not in {where}: add `{name}=…` to it (or give --secrets-file)")
        also = f" nor in {self.secrets_path}" if self.secrets_path and source == "any" else ""
        raise ValueError(f"{value} is not set in the environment{also}: export {name}=… (or put it in a "
                         "--secrets-file)")


def read_secrets_file(path: Path) -> dict[str, str]:
    """NAME → value from a `.env` file (NAME=value lines) or a YAML/JSON mapping. A file other
    users can read is refused, as the secret key is: it holds every tenant's credentials."""
    if not path.is_file():
        raise UsageError(f"--secrets-file {path}: no such file")
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        mode = stat.S_IMODE(path.stat().st_mode)
        raise UsageError(f"the secrets file {path} is open to other users (mode {mode:04o}): make it private with "
                         f"`chmod 600 {path}`")
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"the secrets file {path} is not valid YAML/JSON ({_yaml_where(exc)})") from None
        if not isinstance(data, dict):
            raise UsageError(f"the secrets file {path} must be a mapping of NAME: value")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


# ---- the import file --------------------------------------------------------------------------
def read_import_file(path: Path) -> tuple[list[TenantRow], list[ImportProblem]]:
    """The rows of `path` (YAML by its .yaml/.yml/.json suffix, CSV by .csv), and the problems of
    rows that could not be read at all. A file that cannot be read is a UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file; give a YAML (.yaml) or CSV (.csv) file of tenants")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml", ".json"):
        return _read_yaml(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise UsageError(f"{path}: unknown kind of file {suffix or '(no suffix)'}; give a .yaml, .yml or .csv file")


def _yaml_where(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot be parsed"
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _line_loader() -> type:
    import yaml

    class LineLoader(yaml.SafeLoader):
        """Every mapping also says on which line it starts (`__line__`), for errors."""

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        value = loader.construct_mapping(node, deep=True)
        value[_LINE] = node.start_mark.line + 1
        return value

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return LineLoader


def _read_yaml(path: Path) -> tuple[list[TenantRow], list[ImportProblem]]:
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_line_loader())
    except yaml.YAMLError as exc:
        raise UsageError(f"{path.name} is not valid YAML ({_yaml_where(exc)}); nothing was registered") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path.name} is not UTF-8 text; save it as UTF-8") from None
    if not isinstance(data, dict) or not isinstance(data.get("tenants"), list):
        raise UsageError(f"{path.name} must hold `tenants:` and under it a list of tenants (`- tenant: acme`, "
                         "`company_name: …`, `services: …`); see `avesa tenant export` for an example")
    rows: list[TenantRow] = []
    problems: list[ImportProblem] = []
    for index, item in enumerate(data["tenants"]):
        where = f"{path.name} tenants[{index}]"
        if not isinstance(item, dict):
            problems.append(ImportProblem(where, "each tenant is a mapping with `tenant:` and `company_name:`"))
            continue
        where = f"{path.name} line {item.pop(_LINE)}"
        try:
            rows.append(_yaml_tenant(path.name, where, item))
        except ImportProblem as problem:
            problems.append(problem)
    return rows, problems


def _yaml_tenant(name: str, where: str, item: dict[str, Any]) -> TenantRow:
    unknown = sorted(str(k) for k in set(item) - _TENANT_KEYS)
    tenant = item.get("tenant")
    label = f"{where} (tenant {tenant})" if isinstance(tenant, str) else where
    if unknown:
        raise ImportProblem(label, f"unknown field {', '.join(unknown)}; a tenant has "
                                   f"{', '.join(sorted(_TENANT_KEYS))}")
    if not isinstance(tenant, str) or not tenant:
        raise ImportProblem(label, "`tenant:` is missing: give the tenant's id (e.g. `tenant: acme-corp`)")
    company = item.get("company_name")
    if company is not None and not isinstance(company, str | int | float):
        raise ImportProblem(label, "`company_name:` must be text")
    row = TenantRow(where=label, tenant=tenant, company_name=None if company is None else str(company),
                    enabled=_boolean(item.get("enabled"), label, "enabled"))
    services = item.get("services") or {}
    if not isinstance(services, dict):
        raise ImportProblem(label, "`services:` is a mapping of service name to its settings "
                                   "(`connectwise: {credentials: …}`)")
    services.pop(_LINE, None)
    for service, config in services.items():
        config = config or {}
        line = config.pop(_LINE, None) if isinstance(config, dict) else None
        at = f"{name} line {line}" if line else where
        service_label = f"{at} (tenant {tenant}, service {service})"
        if not isinstance(config, dict):
            raise ImportProblem(service_label, "a service's settings are a mapping (tables, enabled, credentials, "
                                               "rate_limit, schedule)")
        row.services.append((service_label, _yaml_service(service_label, str(service), config)))
    return row


def _yaml_service(where: str, service: str, config: dict[str, Any]) -> ServiceRow:
    unknown = sorted(str(k) for k in set(config) - _SERVICE_KEYS)
    if unknown:
        raise ImportProblem(where, f"unknown field {', '.join(unknown)}; a service has "
                                   f"{', '.join(sorted(_SERVICE_KEYS))}")
    row = ServiceRow(service=service, enabled=_boolean(config.get("enabled"), where, "enabled"))
    tables = config.get("tables")
    if tables is not None:
        row.tables = _tables(tables, where)
    credentials = config.get("credentials") or {}
    if not isinstance(credentials, dict):
        raise ImportProblem(where, "`credentials:` is a mapping of field: value (or a reference such as "
                                   "${NAME})")
    credentials.pop(_LINE, None)
    for key, value in credentials.items():
        if isinstance(value, dict | list):
            raise ImportProblem(where, f"credential {key} must be text, or a reference such as ${{NAME}}")
        if value is not None and str(value) != "":
            row.credentials[str(key)] = str(value)
    limit = config.get("rate_limit")
    if limit is not None:
        if not isinstance(limit, dict) or set(limit) - {"requests_per_minute", "burst", _LINE}:
            raise ImportProblem(where, "`rate_limit:` takes requests_per_minute and burst (e.g. "
                                       "`{requests_per_minute: 120, burst: 20}`)")
        row.rate_limit_given = True
        row.requests_per_minute = _number(limit.get("requests_per_minute"), where, "rate_limit.requests_per_minute")
        burst = _number(limit.get("burst"), where, "rate_limit.burst")
        row.burst = None if burst is None else int(burst)
    schedule = config.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, dict) or set(schedule) - {"incremental", "full", _LINE}:
            raise ImportProblem(where, "`schedule:` takes incremental and full (e.g. `{incremental: every 15m}`)")
        row.schedule = {k: None if schedule.get(k) is None else str(schedule[k]) for k in ("incremental", "full")}
    return row


def _read_csv(path: Path) -> tuple[list[TenantRow], list[ImportProblem]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{path.name} is not UTF-8 text; save it as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in reader.fieldnames or []]
    for needed in ("tenant", "service"):
        if needed not in header:
            raise UsageError(f"{path.name} has no `{needed}` column; its first line names the columns: tenant, "
                             "company_name, service, tables, enabled and the services' credential fields")
    tenants: dict[str, TenantRow] = {}
    problems: list[ImportProblem] = []
    for raw in reader:
        cells = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if not isinstance(v, list)}
        if not any(cells.values()):
            continue
        tenant = cells.get("tenant", "")
        where = f"{path.name} line {reader.line_num}"
        label = f"{where} (tenant {tenant}" + (f", service {cells['service']})" if cells.get("service") else ")")
        if None in raw:
            problems.append(ImportProblem(label, "more cells than the header has columns: quote a cell that holds "
                                                 "commas (`\"service_tickets,company_companies\"`)"))
            continue
        try:
            if not tenant:
                raise ImportProblem(label, "the `tenant` cell is empty: give the tenant's id")
            row = tenants.get(tenant)
            company = cells.get("company_name") or None
            enabled = _boolean(cells.get("tenant_enabled") or None, label, "tenant_enabled")
            if row is None:
                row = tenants[tenant] = TenantRow(where=label, tenant=tenant, company_name=company, enabled=enabled)
            else:
                if company and row.company_name and company != row.company_name:
                    raise ImportProblem(label, f"company_name {company!r} differs from {row.company_name!r} on "
                                               f"{row.where}: give one name per tenant")
                row.company_name = row.company_name or company
                row.enabled = row.enabled if enabled is None else enabled
            if cells.get("service"):
                row.services.append((label, _csv_service(label, cells)))
        except ImportProblem as problem:
            problems.append(problem)
    return list(tenants.values()), problems


def _csv_service(where: str, cells: dict[str, str]) -> ServiceRow:
    row = ServiceRow(service=cells["service"], enabled=_boolean(cells.get("enabled") or None, where, "enabled"))
    if cells.get("tables"):
        row.tables = _tables(cells["tables"], where)
    rate, burst = cells.get("requests_per_minute"), cells.get("burst")
    if rate or burst:
        row.rate_limit_given = True
        row.requests_per_minute = _number(rate or None, where, "requests_per_minute")
        found = _number(burst or None, where, "burst")
        row.burst = None if found is None else int(found)
    if cells.get("schedule") or cells.get("full_schedule"):
        row.schedule = {"incremental": cells.get("schedule") or None, "full": cells.get("full_schedule") or None}
    row.credentials = {k: v for k, v in cells.items() if k not in CSV_COLUMNS and k and v}
    return row


def _tables(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [t for t in re.split(r"[,;\s]+", value) if t]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return [t.strip() for t in value if t.strip()]
    raise ImportProblem(where, "`tables` is a list of table names (or one text of names separated by commas)")


_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _boolean(value: object, where: str, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ImportProblem(where, f"{name} must be true or false (yes/no, 1/0), got {value!r}")


def _number(value: object, where: str, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ImportProblem(where, f"{name} must be a number, got {value!r}") from None
