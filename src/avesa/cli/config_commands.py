"""`avesa init` and `avesa config show|set|unset`: the home and the config file that names it
(config_file.py), so every command finds the same home from any folder, cron and systemd included."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from rich.text import Text

from avesa.cli.common import console, ensure_home, friendly_errors, literal, literals
from avesa.config_file import (
    PATH_KEYS,
    find_config_file,
    read_config,
    setting_key,
    stored_path,
    user_config_file,
    write_settings,
)
from avesa.domain.errors import ConfigError, UsageError
from avesa.domain.url_credentials import DOTS
from avesa.pipeline.backend_init import init_state
from avesa.settings import ENV_PREFIX, Settings, load_settings, setting_sources

config_app = typer.Typer(help="The settings in effect and the config file (avesa.toml) that holds them.",
                         no_args_is_help=True)

_SECRET_NAME = re.compile(r"secret|password|token|webhook|api_key|private", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@",
                           re.IGNORECASE)


def _target_file(config: Path | None) -> Path:
    """The file `init` and `config set` write: `--config`, else the file in effect (AVESA_CONFIG, the
    nearest avesa.toml), else the user's config file."""
    if config is not None:
        return config.expanduser().absolute()
    found, _ = find_config_file()
    return found if found is not None else user_config_file()


@friendly_errors
def init(
    path: Path = typer.Argument(Path("avesa-data"), help="the home to create (default: ./avesa-data)"),
    config: Path = typer.Option(None, "--config", help="the config file to write (default: AVESA_CONFIG, else the "
                                "nearest avesa.toml, else the user's config file)"),
    catalog_path: Path = typer.Option(None, "--catalog-path", help="a folder of your own service specs "
                                      "(AVESA_CATALOG_PATH), remembered in the config file"),
    force: bool = typer.Option(False, "--force", help="repoint a config file that names another home"),
) -> None:
    """Create an AVESA home and the config file that names it, so that every `avesa` command — from
    any folder, cron and systemd included — uses that home. Safe to repeat.

    Examples: avesa init /srv/avesa · avesa init ./avesa-data --config ./avesa.toml"""
    target = _target_file(config)
    home = path.expanduser().absolute()
    existing = config_file_data_of(target)
    named = existing.get("home")
    if named is not None and Path(named) != home and not force:
        raise UsageError(f"{target} already names the home {named}: give --force to point it at {home}, or "
                         f"--config another file")
    settings = load_settings().model_copy(update={"home": home})  # a bad setting is one line, exit 2
    ensure_home(settings)
    changes: dict[str, Any] = {"home": stored_path(home, target)}
    if catalog_path is not None:
        if not catalog_path.expanduser().is_dir():
            raise UsageError(f"--catalog-path {catalog_path}: no such folder; give the folder of your service specs")
        changes["catalog_path"] = stored_path(catalog_path, target)
    write_settings(target, changes)
    effective = load_settings()
    console.print(Text.assemble(("home ", "bold"), literal(str(home)), " ready; ", literal(str(target)),
                                " names it"), soft_wrap=True)
    console.print(literal(init_state(settings)))
    if effective.home.absolute() != home:
        source = setting_sources(effective)["home"]
        fix = ("unset AVESA_HOME" if source.kind == "environment" else
               f"set AVESA_CONFIG={target}, or run from a folder where it is the nearest avesa.toml")
        console.print(Text(f"note: commands here still use {effective.home} ({source}): {fix}", style="yellow"),
                      soft_wrap=True)
    console.print(literal("next: `avesa service add --tenant ID --company-name NAME --service connectwise`, then "
                          "`avesa run`; `avesa config show` lists every setting"))


def config_file_data_of(path: Path) -> dict[str, Any]:
    """The settings `path` holds ({} when there is no such file)."""
    return read_config(path, set(Settings.model_fields)) if path.is_file() else {}


def masked(name: str, value: Any, *, secret: bool) -> str:
    """A setting as `config show` prints it: secrets as dots, a URL's password too."""
    if value is None:
        return "-"
    if secret or _SECRET_NAME.search(name):
        return DOTS
    text = json.dumps(value) if isinstance(value, dict | list) else str(getattr(value, "value", value))
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{DOTS}@", text)


@config_app.command("show")
@friendly_errors
def config_show(
    as_json: bool = typer.Option(False, "--json", help="one JSON object: each setting's value and source"),
) -> None:
    """Every setting in effect, with where it comes from (environment, file or default); secrets masked.

    Example: avesa config show"""
    path, how = find_config_file()
    settings = load_settings()
    sources = setting_sources(settings)
    rows = []
    for name, field in Settings.model_fields.items():
        value = masked(name, getattr(settings, name), secret=not field.repr)
        rows.append((f"{ENV_PREFIX}{name.upper()}", name, value, str(sources[name])))
    if as_json:
        typer.echo(json.dumps({"config_file": str(path) if path and path.is_file() else None,
                               "settings": {env: {"value": value, "source": source} for env, _, value, source in rows}},
                              indent=2))
        return
    if path is not None and path.is_file():
        console.print(Text.assemble("config file: ", literal(str(path)), f" ({how})"), soft_wrap=True)
    else:
        console.print(literal(f"config file: none ({how if path is None else f'{path} does not exist'}); "
                              "`avesa init PATH` writes one"), soft_wrap=True)
    table = Table("setting", "file key", "value", "source", title="settings in effect", title_justify="left")
    for row in rows:
        table.add_row(*literals(*row))
    console.print(table)


def _parsed(name: str, value: str) -> Any:
    """The text of `config set` as the setting's type: a number, a JSON object, a path next to the file."""
    field = Settings.model_fields[name]
    raw: Any = value
    if value.strip().startswith(("{", "[")):
        try:
            raw = json.loads(value)
        except ValueError:
            raise UsageError(f"{name}: {value!r} is not valid JSON") from None
    try:
        # The setting's type is known only at run time: Any to mypy, which cannot check it statically.
        setting_type: Any = Annotated[field.annotation, field]
        checked = TypeAdapter(setting_type).validate_python(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise UsageError(f"{name}={value!r}: {problem[:1].lower()}{problem[1:]}") from None
    return checked


@config_app.command("set")
@friendly_errors
def config_set(
    name: str = typer.Argument(..., help="a setting: catalog_path, max_tables_per_tenant … (or AVESA_…)"),
    value: str = typer.Argument(..., help="its value (a path relative to the current folder is stored "
                                "relative to the file when it lies beside it)"),
    config: Path = typer.Option(None, "--config", help="the config file (default: the one in effect)"),
) -> None:
    """Keep a setting in the config file, so cron, `avesa serve` and every shell use it.

    Examples: avesa config set catalog_path ./my-catalog · avesa config set schedule "every 30m"
    """
    key = setting_key(name)
    if key not in Settings.model_fields:
        raise UsageError(f"unknown setting {name!r}: `avesa config show` lists them")
    target = _target_file(config)
    if not target.is_file():
        raise ConfigError(f"no config file {target}: create it (and the home) with `avesa init PATH` first")
    checked = _parsed(key, value)
    if key in PATH_KEYS:
        if key == "catalog_path" and not Path(checked).expanduser().is_dir():
            raise UsageError(f"catalog_path {value}: no such folder")
        checked = stored_path(Path(checked), target)
    write_settings(target, {key: checked})
    load_settings()  # the file as a whole still reads
    secret = not Settings.model_fields[key].repr
    console.print(Text.assemble(literal(f"{key} = {masked(key, checked, secret=secret)}"), " kept in ",
                                literal(str(target))), soft_wrap=True)


@config_app.command("unset")
@friendly_errors
def config_unset(
    name: str = typer.Argument(..., help="a setting the config file holds"),
    config: Path = typer.Option(None, "--config", help="the config file (default: the one in effect)"),
) -> None:
    """Remove a setting from the config file: its default (or the environment's value) applies again.

    Example: avesa config unset max_tables_per_tenant"""
    key = setting_key(name)
    target = _target_file(config)
    if key == "home":
        raise UsageError("the config file must name its home: `avesa init PATH --force` points it elsewhere")
    if key not in config_file_data_of(target):
        raise UsageError(f"{target} does not set {key}")
    write_settings(target, {}, removals=(key,))
    console.print(literal(f"{key} removed from {target}"))
