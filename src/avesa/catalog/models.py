"""Typed models of the catalog's JSON files; pydantic turns a malformed file into a clear error."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TEMPLATE_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")
TABLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
"""A source table's name is a folder of the lake (`{tenant}/raw/{service}/{table}/`): like a tenant id,
nothing that could leave it or name another (`/`, `..`, spaces). Salesforce's `Account` is one."""
CANONICAL_TABLE_NAME = r"^[a-z][a-z0-9_]{0,62}$"
"""A canonical table is a lake folder and a view name in `avesa query`."""

ColumnType = Literal["string", "int64", "float64", "bool", "timestamp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialField(_Strict):
    name: str
    secret: bool
    description: str = ""
    default: str | None = None
    """Used when neither the environment nor the prompt gives a value (e.g. Graph's login URL)."""
    required: bool = True
    """False for a field a connector can do without (ServiceNow's OAuth client: Basic auth otherwise)."""


class RateLimit(_Strict):
    """A service's documented request budget for one tenant's instance."""

    requests_per_minute: float = Field(gt=0)
    burst: int = Field(gt=0)


SyncStyle = Literal["window", "snapshot", "delta"]
"""How a table is read incrementally:

- ``window``: chunks are ``[start, end)`` ranges over the change field, keyset-paged by id inside;
- ``snapshot``: the API has no change field; every run reads the whole table, stamped with the time
  it was observed, and SCD2 keeps only real changes (Graph's organization, subscribedSkus);
- ``delta``: the API hands out a delta link that returns only what changed since it was issued,
  deletes included (Graph's users, groups, devices); the link is kept between runs.
"""


class TableSpec(_Strict):
    path: str
    id_field: str = "id"
    change_field: str | None = None
    """Path of the record's change timestamp (``_info/lastUpdated``); None for snapshot/delta tables."""
    enabled_by_default: bool = False
    canonical: str | None = None
    sync: SyncStyle = "window"
    fields: list[str] = Field(default_factory=list)
    """Top-level fields the API returns. When listed, mappings may only read these, and connectors
    that must name their fields (SOQL) ask for exactly these."""
    deleted_field: str | None = None
    """A boolean field marking a record as deleted (Salesforce ``IsDeleted`` with queryAll)."""
    params: dict[str, str] = Field(default_factory=dict)
    """Extra query parameters sent with every list request of this table."""

    @model_validator(mode="after")
    def _change_field_fits_sync(self) -> TableSpec:
        if self.sync == "window" and not self.change_field:
            raise ValueError(f"table {self.path!r}: sync 'window' needs a change_field (or use sync 'snapshot')")
        return self


AuthType = Literal["basic", "bearer", "api_key", "oauth2_client_credentials", "oauth2_password", "none"]


class AuthSpec(_Strict):
    """How requests are authenticated. Values are templates over the credential fields: ``{name}``."""

    type: AuthType
    username: str | None = None
    """basic / oauth2_password: e.g. ``{company_id}+{public_key}`` (ConnectWise) or ``{username}``."""
    password: str | None = None
    token: str | None = None
    """bearer: the static token, e.g. ``{api_token}``."""
    header: str = "Authorization"
    """api_key: the header carrying the key."""
    value: str | None = None
    """api_key: the header's value, e.g. ``{api_key}`` or ``Token {api_key}``."""
    token_url: str | None = None
    """oauth2_*: where tokens are issued, e.g. ``{login_url}/services/oauth2/token``."""
    client_id: str = "{client_id}"
    client_secret: str = "{client_secret}"
    scope: str | None = None
    instance_url_field: str | None = None
    """oauth2_*: a token-response field that replaces the base URL (Salesforce ``instance_url``)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers on every request (ConnectWise's ``clientId``)."""

    def templates(self) -> list[str]:
        """The templates this auth type actually fills in (others keep their unused defaults)."""
        names = {
            "basic": ("username", "password"),
            "bearer": ("token",),
            "api_key": ("value",),
            "oauth2_client_credentials": ("token_url", "client_id", "client_secret", "scope"),
            "oauth2_password": ("token_url", "client_id", "client_secret", "username", "password", "scope"),
            "none": (),
        }[self.type]
        values = [getattr(self, name) for name in names]
        return [v for v in values if isinstance(v, str)] + list(self.headers.values())

    @model_validator(mode="after")
    def _complete(self) -> AuthSpec:
        needs = {
            "basic": ("username", "password"),
            "bearer": ("token",),
            "api_key": ("value",),
            "oauth2_client_credentials": ("token_url",),
            "oauth2_password": ("token_url", "username", "password"),
            "none": (),
        }[self.type]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth type {self.type!r} needs {', '.join(missing)}")
        return self


PaginatorType = Literal["keyset", "page_number", "offset", "next_link", "link_header", "cursor"]


class PaginatorSpec(_Strict):
    """How the API pages a list. ``keyset`` re-queries with ``id > last id`` (the safest when records
    change mid-extraction); the others follow what the API hands back."""

    type: PaginatorType
    page_size_param: str | None = None
    page_param: str | None = None
    """page_number: the page parameter (``page``)."""
    offset_param: str | None = None
    """offset: the offset parameter (``offset``, ``sysparm_offset``)."""
    next_path: str | None = None
    """next_link / cursor: where the body holds the next link or cursor (``@odata.nextLink``, ``next``)."""
    cursor_param: str | None = None
    """cursor: the parameter the cursor goes back in."""

    @model_validator(mode="after")
    def _complete(self) -> PaginatorSpec:
        needs = {
            "keyset": (),
            "page_number": ("page_param",),
            "offset": ("offset_param",),
            "next_link": ("next_path",),
            "link_header": (),
            "cursor": ("next_path", "cursor_param"),
        }[self.type]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"paginator {self.type!r} needs {', '.join(missing)}")
        return self


TimeFormat = Literal["iso", "iso_millis", "servicenow", "epoch_seconds", "epoch_millis"]


class IncrementalSpec(_Strict):
    """How a ``[start, end)`` window over the change field and the ``id > cursor`` keyset condition
    become query parameters. ``query_params`` fits most REST APIs; the other styles are the query
    languages of the built-in services."""

    style: Literal["query_params", "connectwise_conditions", "servicenow_query", "soql", "none"] = "query_params"
    since_param: str | None = None
    """query_params: inclusive lower bound of the change field (``updated_since``)."""
    until_param: str | None = None
    """query_params: exclusive upper bound (``updated_before``)."""
    after_id_param: str | None = None
    """query_params: keyset cursor (``after_id``): records with a larger id only."""
    sort_params: dict[str, str] = Field(default_factory=dict)
    """query_params: parameters that order the list by id ascending (``{"sort": "id"}``)."""
    sort_by_change_params: dict[str, str] = Field(default_factory=dict)
    """Parameters that order by the change field ascending, if the API can (``{"sort": "updated_at"}``,
    ConnectWise ``{"orderBy": "_info/lastUpdated asc"}``): the first full sync then starts at the
    table's earliest change instead of the epoch."""
    fields_param: str | None = None
    """The parameter that narrows records to the fields it names, comma-separated, if the API has one
    (ConnectWise ``fields``, ServiceNow ``sysparm_fields``): id listings then ask for ids only, and the
    earliest-change request for the id and the change field."""
    time_format: TimeFormat = "iso"
    """How timestamps are written in filters and read from records."""


class CountSpec(_Strict):
    """How to learn how many records a window holds before splitting it into chunks."""

    type: Literal["endpoint", "header", "body_field", "none"] = "none"
    path_suffix: str = "/count"
    """endpoint: appended to the table path (ConnectWise ``/count``)."""
    field: str = "count"
    """endpoint / body_field: the number's field in the body (``count``, ``total``, ``totalSize``)."""
    header: str = "X-Total-Count"
    """header: the response header holding the total (ServiceNow)."""


class BackfillDefaults(_Strict):
    lookback_days: int = Field(default=365, gt=0)
    window_days: int = Field(default=30, gt=0)


class ServiceSpec(_Strict):
    service: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    display_name: str
    docs: str = ""
    connector: str = "rest"
    """Which implementation assembles the parts: ``rest`` (generic, spec only) or a built-in service's
    module for the quirks its API has (``connectwise``, ``servicenow``, ``salesforce``, ``microsoft365``)."""
    credentials: list[CredentialField]
    base_url: str
    """Template over the credential fields: ``{api_url}/v4_6_release/apis/3.0``."""
    auth: AuthSpec
    paginator: PaginatorSpec
    records: str = ""
    """Where the list is in a response body: ``""`` (the body is the list), ``result``, ``value``..."""
    incremental: IncrementalSpec = Field(default_factory=IncrementalSpec)
    count: CountSpec = Field(default_factory=CountSpec)
    page_size_max: int = Field(gt=0)
    rate_limit: RateLimit
    sensitive_fields: list[str] = Field(default_factory=list)
    backfill: BackfillDefaults = Field(default_factory=BackfillDefaults)
    tables: dict[str, TableSpec]

    @field_validator("tables")
    @classmethod
    def _table_names_are_path_safe(cls, tables: dict[str, TableSpec]) -> dict[str, TableSpec]:
        bad = [name for name in tables if not TABLE_NAME.match(name)]
        if bad:
            raise ValueError(f"table name(s) {', '.join(map(repr, bad))} not allowed: a table name becomes a lake "
                             "folder, so it is 1-80 letters, digits, '_' or '-' starting with a letter or digit "
                             "(no '/', '.', spaces)")
        return tables

    @model_validator(mode="after")
    def _templates_name_credentials(self) -> ServiceSpec:
        """Every ``{field}`` in the base URL and auth must be a declared credential field."""
        known = {field.name for field in self.credentials}
        texts = [self.base_url, *self.auth.templates()]
        used = {name for text in texts for name in _TEMPLATE_FIELD.findall(text)}
        unknown = sorted(used - known)
        if unknown:
            raise ValueError(f"base_url/auth use {', '.join('{' + u + '}' for u in unknown)} but credentials "
                             f"declare only {', '.join(sorted(known)) or 'nothing'}")
        return self

    @property
    def default_tables(self) -> list[str]:
        return [name for name, spec in self.tables.items() if spec.enabled_by_default]

    def table(self, name: str) -> TableSpec:
        from avesa.domain.errors import NotFoundError

        try:
            return self.tables[name]
        except KeyError:
            raise NotFoundError("table", name, list(self.tables), f"(service {self.service})") from None


class CanonicalColumn(_Strict):
    name: str
    type: ColumnType


class CanonicalTable(_Strict):
    """A canonical table: every one keeps full SCD Type 2 history (docs/architecture.md, "Data")."""

    canonical_table: str = Field(pattern=CANONICAL_TABLE_NAME)
    columns: list[CanonicalColumn]

    @model_validator(mode="before")
    @classmethod
    def _no_scd_type(cls, data: Any) -> Any:
        """`scd_type` was a setting nothing read; saying so beats "extra inputs are not permitted"."""
        if isinstance(data, dict) and "scd_type" in data:
            raise ValueError("scd_type: every canonical table keeps full SCD Type 2 history (current and past "
                             "rows); remove the key")
        return data

    def column_types(self) -> dict[str, ColumnType]:
        return {c.name: c.type for c in self.columns}


class Mapping(_Strict):
    """How one source table becomes rows of one canonical table.

    A column's source is a path (`status.name`, `types[0].name`,
    `communicationItems[communicationType=Email,defaultFlag=true].value`) or a list of paths of
    which the first non-null wins.
    """

    canonical_table: str
    source_service: str
    source_table: str
    id: str
    last_updated: str | None = None
    """Path of the change timestamp; None when the table has none (snapshot/delta tables use the
    time the record was observed)."""
    columns: dict[str, str | list[str]]
