"""The configuration file, `avesa.toml`: where it is found, how it is read, how it is written.

A home that depended on the current directory made `cd elsewhere && avesa run` a silent new, empty
home. The file pins it: it is found the same way from any folder —

1. `AVESA_CONFIG`, when set, names the file (for cron, systemd and containers; no search);
2. else the nearest `avesa.toml` in the current directory or one of its parents (a project's own);
3. else the user's config directory's (`platformdirs`: `$XDG_CONFIG_HOME/avesa/avesa.toml`,
   `~/.config/avesa/avesa.toml` on Linux), which `avesa init` writes by default.

Its keys are the settings' names without the prefix (`home`, `catalog_path`, `max_tables_per_tenant`;
`AVESA_HOME` is accepted too); the environment overrides it, and a relative path in it (`home`,
`catalog_path`, a plain `state_url`) means a path next to the file, wherever the command runs.
Pydantic-settings reads it (`TomlConfigSettingsSource`); this module adds the search, the check of
the keys (a typo is an error, not a silently ignored line) and the paths; `tomlkit` writes it back
keeping the user's comments.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

import platformdirs
from pydantic_settings import BaseSettings, TomlConfigSettingsSource

from avesa.domain.errors import ConfigError

FILE_NAME = "avesa.toml"
CONFIG_ENV = "AVESA_CONFIG"
PATH_KEYS = frozenset({"home", "catalog_path"})
"""Settings that are paths: relative ones in the file resolve against the file's folder."""


def user_config_file() -> Path:
    """The user's own config file (it need not exist)."""
    return platformdirs.user_config_path("avesa") / FILE_NAME


def find_config_file(cwd: Path | None = None) -> tuple[Path | None, str]:
    """The config file the settings come from, and how it was found ("AVESA_CONFIG", "found from
    <cwd>", "user config"); (None, where it looked) when there is none. A file `AVESA_CONFIG` names
    is returned whether it exists or not: `avesa init` writes it, everything else reads nothing."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        return Path(named).expanduser().absolute(), CONFIG_ENV
    here = (cwd or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate, f"found from {here}"
    user = user_config_file()
    if user.is_file():
        return user, "the user's config directory"
    return None, f"no {FILE_NAME} in {here} or its parents, nor {user}"


def setting_key(key: str) -> str:
    """`AVESA_MAX_TABLES_PER_TENANT` or `max_tables_per_tenant` → `max_tables_per_tenant`."""
    lowered = key.strip().lower()
    return lowered.removeprefix("avesa_")


def read_config(path: Path, known: set[str]) -> dict[str, Any]:
    """The file's settings, keyed by setting name, with relative paths made absolute against the
    file's folder; a ConfigError naming the file for a syntax error or an unknown key."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix it, or point AVESA_CONFIG at another file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    found: dict[str, Any] = {}
    for key, value in raw.items():
        name = setting_key(key)
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{path}: unknown setting {key!r}; {hint}the settings are listed by "
                              "`avesa config show` (README, Settings)")
        found[name] = _resolved(name, value, path.parent)
    return found


def _resolved(name: str, value: Any, base: Path) -> Any:
    if not isinstance(value, str) or not value:
        return value
    if name in PATH_KEYS:
        return os.path.abspath(base / Path(value).expanduser())
    if name == "state_url" and "://" not in value:  # a plain SQLite path
        return str(base / value) if not Path(value).is_absolute() else value
    return value


class AvesaTomlSource(TomlConfigSettingsSource):
    """Pydantic-settings' TOML source over the file `find_config_file` chose, with its keys checked
    and its relative paths resolved (see the module)."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        self.path = path if path is not None and path.is_file() else None
        self._known = set(settings_cls.model_fields)
        super().__init__(settings_cls, toml_file=self.path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        return read_config(Path(file_path), self._known)


def toml_value(value: Any) -> Any:
    """A setting's value as TOML can hold it (paths and enums as text)."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


def write_settings(path: Path, changes: dict[str, Any], removals: tuple[str, ...] = ()) -> None:
    """Set (or remove) settings in the file, creating it; every other line and comment is kept."""
    import tomlkit

    text = path.read_text() if path.is_file() else ""
    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix it before changing settings") from None
    if not text:
        document.add(tomlkit.comment("AVESA settings (README, Settings). The environment (AVESA_*) overrides them;"))
        document.add(tomlkit.comment("relative paths are relative to this file's folder."))
    by_name = {setting_key(key): key for key in list(document.keys())}
    for name in removals:
        if name in by_name:
            del document[by_name[name]]
    for name, value in changes.items():
        if name in by_name and by_name[name] != name:
            del document[by_name[name]]
        document[name] = toml_value(value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomlkit.dumps(document))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write it ({exc.strerror or exc}); give `--config` a file this user "
                          "can write") from None


def stored_path(value: Path, config: Path) -> str:
    """A path as the file keeps it: relative when it lies in the file's folder (the pair can move
    together), absolute otherwise."""
    absolute = Path(os.path.abspath(value.expanduser()))  # `..` folded, symlinks kept as named
    try:
        return str(absolute.relative_to(Path(os.path.abspath(config.parent)))) or "."
    except ValueError:
        return str(absolute)
