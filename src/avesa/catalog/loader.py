"""Load and cross-check the catalog: service specs, canonical tables, mappings.

The files ship inside the package (`avesa/catalog/{services,canonical,mappings}`).
Cross-checks run once at load: a mapping that names a canonical column, source table or service
that does not exist is refused with the file name and the field, before any run starts.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from avesa.catalog.models import CanonicalTable, Mapping, ServiceSpec
from avesa.domain.errors import ConfigError, NotFoundError

_ROOT = resources.files("avesa.catalog")
M = TypeVar("M", bound=BaseModel)


def _load_model(path: Traversable, model: type[M]) -> M:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid JSON ({exc})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path.name}: {problems}") from exc


class Catalog:
    """Every service spec, canonical table and mapping, cross-checked."""

    def __init__(
        self,
        services: dict[str, ServiceSpec],
        canonical: dict[str, CanonicalTable],
        mappings: list[Mapping],
    ) -> None:
        self.services = services
        self.canonical = canonical
        self._mappings = {(m.source_service, m.source_table): m for m in mappings}
        self._check()

    def _check(self) -> None:
        for (service, table), mapping in self._mappings.items():
            where = f"mapping {service}/{mapping.canonical_table}"
            if service not in self.services:
                raise ConfigError(f"{where}: unknown service {service!r}")
            if table not in self.services[service].tables:
                raise ConfigError(f"{where}: service {service} has no table {table!r}")
            canonical = self.canonical.get(mapping.canonical_table)
            if canonical is None:
                raise ConfigError(f"{where}: unknown canonical table {mapping.canonical_table!r}")
            unknown = set(mapping.columns) - set(canonical.column_types())
            if unknown:
                raise ConfigError(f"{where}: columns not in canonical {canonical.canonical_table}: {sorted(unknown)}")

    def service(self, name: str) -> ServiceSpec:
        try:
            return self.services[name]
        except KeyError:
            raise NotFoundError("service", name, list(self.services)) from None

    def mapping(self, service: str, table: str) -> Mapping | None:
        return self._mappings.get((service, table))

    def canonical_table(self, name: str) -> CanonicalTable:
        try:
            return self.canonical[name]
        except KeyError:
            raise NotFoundError("canonical table", name, list(self.canonical)) from None


def _json_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)


@cache
def load_catalog() -> Catalog:
    services = {}
    for path in _json_files(_ROOT / "services"):
        spec = _load_model(path, ServiceSpec)
        services[spec.service] = spec
    canonical = {}
    for path in _json_files(_ROOT / "canonical"):
        table = _load_model(path, CanonicalTable)
        canonical[table.canonical_table] = table
    mappings = []
    mapping_root = _ROOT / "mappings"
    if mapping_root.is_dir():
        for service_dir in sorted(mapping_root.iterdir(), key=lambda p: p.name):
            mappings.extend(_load_model(p, Mapping) for p in _json_files(service_dir))
    return Catalog(services, canonical, mappings)
