"""Typed models of the catalog's JSON files; pydantic turns a malformed file into a clear error."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnType = Literal["string", "int64", "float64", "bool", "timestamp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialField(_Strict):
    name: str
    secret: bool
    description: str = ""


class RateLimit(_Strict):
    """A service's documented request budget for one tenant's instance."""

    requests_per_minute: float = Field(gt=0)
    burst: int = Field(gt=0)


class TableSpec(_Strict):
    path: str
    id_field: str = "id"
    change_field: str
    enabled_by_default: bool = False
    canonical: str | None = None


class ServiceSpec(_Strict):
    service: str
    display_name: str
    docs: str = ""
    credentials: list[CredentialField]
    api_path: str = ""
    page_size_max: int = Field(gt=0)
    rate_limit: RateLimit
    sensitive_fields: list[str] = Field(default_factory=list)
    tables: dict[str, TableSpec]

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
    canonical_table: str
    scd_type: Literal[1, 2] = 2
    columns: list[CanonicalColumn]

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
    last_updated: str
    columns: dict[str, str | list[str]]
