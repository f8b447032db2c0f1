"""Load and cross-check the catalog: service specs, canonical tables, mappings.

The built-in files ship inside the package (`avesa/catalog/{services,canonical,mappings}`). A user
adds services without changing the package by pointing `AVESA_CATALOG_PATH` at a folder with the
same layout (`services/*.json`, `mappings/{service}/*.json`). Cross-checks run once at load: a
mapping that names a canonical column, source table, source field or service that does not exist
is refused with the file and the field, before any run starts.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from avesa.catalog.models import CanonicalTable, Mapping, ServiceSpec
from avesa.domain.errors import ConfigError, NotFoundError

_ROOT = resources.files("avesa.catalog")
M = TypeVar("M", bound=BaseModel)
_FIRST_STEP = re.compile(r"^([^.\[\]/]+)")


def _label(path: Traversable) -> str:
    """A file's name as a user can find it: the full path for user files, the package path otherwise."""
    return str(path) if isinstance(path, Path) else f"avesa/catalog/.../{path.name}"


def _load_model(path: Traversable, model: type[M]) -> M:
    """The file as `model`, or a ConfigError naming the file and what is wrong with it: not UTF-8,
    not JSON, nested deeper than the parser goes, or not what `model` describes."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{_label(path)}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}); save it as "
                          "UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{_label(path)}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise ConfigError(f"{_label(path)}: nested too deeply to be a catalog file (a spec or mapping needs a few "
                          "levels); check what wrote it") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{_label(path)}: {problems}") from exc


def source_fields(path: str) -> str | None:
    """The top-level record field a source path reads (`status.name` -> `status`)."""
    match = _FIRST_STEP.match(path.removeprefix("!"))
    return match.group(1) if match else None


class Catalog:
    """Every service spec, canonical table and mapping, cross-checked."""

    def __init__(
        self,
        services: dict[str, ServiceSpec],
        canonical: dict[str, CanonicalTable],
        mappings: list[Mapping],
        files: dict[object, str] | None = None,
    ) -> None:
        """`files` names the file each spec (by service name) and mapping (by (service, table)) came
        from, so that a cross-check error says which file to fix."""
        self.services = services
        self.canonical = canonical
        self._mappings = {(m.source_service, m.source_table): m for m in mappings}
        self._files = files or {}
        self._check()

    def _in_file(self, key: object, what: str) -> str:
        label = self._files.get(key)
        return f"{label}: {what}" if label else what

    def _check(self) -> None:
        for (service, table), mapping in self._mappings.items():
            where = self._in_file((service, table), f"mapping {service}/{mapping.canonical_table}")
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
            self._check_source_fields(where, self.services[service], table, mapping)
        for spec in self.services.values():
            for name, table_spec in spec.tables.items():
                declared = set(table_spec.fields)
                named = [table_spec.id_field, table_spec.change_field, table_spec.deleted_field]
                missing = sorted({f for p in named if p and (f := source_fields(p)) and f not in declared})
                if declared and missing:
                    where = self._in_file(spec.service, f"service {spec.service} table {name}")
                    raise ConfigError(f"{where}: id/change/deleted field(s) {missing} are not in the table's "
                                      "`fields`; add them or fix the names")

    @staticmethod
    def _check_source_fields(where: str, spec: ServiceSpec, table: str, mapping: Mapping) -> None:
        """A mapping may only read fields the service spec says the table has (when it lists them)."""
        declared = set(spec.tables[table].fields)
        if not declared:
            return
        paths = [mapping.id, *([mapping.last_updated] if mapping.last_updated else [])]
        for source in mapping.columns.values():
            paths.extend([source] if isinstance(source, str) else source)
        unknown = sorted({f for p in paths if (f := source_fields(p)) and f not in declared})
        if unknown:
            raise ConfigError(f"{where}: reads field(s) {unknown} that service {spec.service} table {table} "
                              "does not declare in its `fields`; fix the mapping or add them to the spec")

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


def _mapping_files(root: Traversable) -> list[Traversable]:
    mapping_root = root / "mappings"
    if not mapping_root.is_dir():
        return []
    folders = sorted((p for p in mapping_root.iterdir() if p.is_dir()), key=lambda p: p.name)
    return [path for folder in folders for path in _json_files(folder)]


def load_catalog(extra_path: str | Path | None = None) -> Catalog:
    """The built-in catalog plus, when given, the user's folder (``AVESA_CATALOG_PATH``)."""
    return _load_catalog(str(Path(extra_path).expanduser().resolve()) if extra_path else None)


@cache
def _load_catalog(extra_path: str | None) -> Catalog:
    roots: list[Traversable] = [_ROOT]
    if extra_path is not None:
        user_root = Path(extra_path)
        if not user_root.is_dir():
            raise ConfigError(f"AVESA_CATALOG_PATH={extra_path}: no such folder; it should hold services/*.json "
                              "and mappings/<service>/*.json (see docs/adding-a-service.md)")
        roots.append(user_root)
    services: dict[str, ServiceSpec] = {}
    canonical: dict[str, CanonicalTable] = {}
    mappings: list[Mapping] = []
    files: dict[object, str] = {}
    for index, root in enumerate(roots):
        for path in _json_files(root / "services"):
            spec = _load_model(path, ServiceSpec)
            if spec.service in services:
                origin = "built in" if index else "defined twice"
                raise ConfigError(f"{_label(path)}: service {spec.service!r} is {origin}; give it another name")
            services[spec.service] = spec
            files[spec.service] = _label(path)
        for path in _json_files(root / "canonical"):
            table = _load_model(path, CanonicalTable)
            if table.canonical_table in canonical:
                raise ConfigError(f"{_label(path)}: canonical table {table.canonical_table!r} already exists")
            canonical[table.canonical_table] = table
        for path in _mapping_files(root):
            mapping = _load_model(path, Mapping)
            key = (mapping.source_service, mapping.source_table)
            if key in files:
                raise ConfigError(f"{_label(path)}: {'/'.join(key)} is mapped twice (also in {files[key]}); one "
                                  "source table feeds one canonical table")
            mappings.append(mapping)
            files[key] = _label(path)
    return Catalog(services, canonical, mappings, files)
