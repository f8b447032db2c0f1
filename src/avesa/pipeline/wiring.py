"""The one place that names the back ends: the state and secret stores a process uses, from
`AVESA_STATE_URL` and `AVESA_SECRETS_URL`.

- `AVESA_STATE_URL`: unset for `$AVESA_HOME/state.sqlite3`; `sqlite:///PATH` (SQLAlchemy's
  form: `sqlite:///relative.db`, `sqlite:////absolute/path.db`) or a plain path for another SQLite
  file; `dynamodb://TABLE_PREFIX[?region=R][&create=true]` for the table `{TABLE_PREFIX}-state`.
- `AVESA_SECRETS_URL`: unset for the encrypted file `$AVESA_HOME/secrets.enc`;
  `secretsmanager://NAME_PREFIX[?region=R]` for secrets named `{NAME_PREFIX}/{ref}`.

AWS clients are configured the standard way, by boto3 itself: credentials (the variables,
`AWS_PROFILE`, a role), endpoints (`AWS_ENDPOINT_URL`, or per service
`AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`), and the region
(`AWS_DEFAULT_REGION`, the profile's). `?region=` wins over those, and `AWS_REGION` (which Lambda
sets, but botocore does not read) is honoured too. `create=true` creates the DynamoDB table when it
is missing: for development and tests; a deployment's stack creates it.

boto3 is imported only when a URL asks for AWS: the embedded mode runs without it (`pip install
avesa[aws]` adds it).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from avesa.domain.errors import ConfigError
from avesa.secrets.base import SecretStore
from avesa.settings import Settings
from avesa.state.base import StateStore

STATE_FORMS = "sqlite:///PATH, a file path, or dynamodb://TABLE_PREFIX[?region=REGION][&create=true]"
SECRETS_FORMS = "secretsmanager://NAME_PREFIX[?region=REGION], or unset for the encrypted file in AVESA_HOME"

_TABLE_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")  # DynamoDB table names: 3-255 of these
_SECRET_PREFIX = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,256}$")  # Secrets Manager's name characters


@dataclass(frozen=True)
class SqliteState:
    path: Path


@dataclass(frozen=True)
class DynamoDBState:
    prefix: str
    region: str | None = None
    create: bool = False


@dataclass(frozen=True)
class EncryptedFileSecrets:
    pass


@dataclass(frozen=True)
class SecretsManagerSecrets:
    prefix: str
    region: str | None = None


def _refuse(setting: str, value: str, forms: str, why: str = "") -> ConfigError:
    shown = value if "@" not in value else "(a URL with credentials)"
    reason = f" ({why})" if why else ""
    return ConfigError(f"{setting}={shown!r} is not understood{reason}: use {forms}")


def _options(setting: str, value: str, forms: str, query: str, allowed: set[str]) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _refuse(setting, value, forms, "its query does not parse") from None
    unknown = sorted(set(parsed) - allowed)
    if unknown:
        raise _refuse(setting, value, forms, f"unknown option {', '.join(unknown)}")
    repeated = sorted(k for k, v in parsed.items() if len(v) != 1 or not v[0])
    if repeated:
        raise _refuse(setting, value, forms, f"{', '.join(repeated)} needs exactly one value")
    return {k: v[0] for k, v in parsed.items()}


def parse_state_url(value: str | None, home: Path) -> SqliteState | DynamoDBState:
    """Where the state lives, from AVESA_STATE_URL (None or empty: SQLite in `home`)."""
    setting = "AVESA_STATE_URL"
    if not value or not value.strip():
        return SqliteState(home / "state.sqlite3")
    value = value.strip()
    if "://" not in value:
        return SqliteState(Path(value))
    parts = urlsplit(value)
    if parts.scheme == "sqlite":
        path = value[len("sqlite:///"):] if value.startswith("sqlite:///") else ""
        if not path or parts.query:
            raise _refuse(setting, value, STATE_FORMS, "sqlite:/// must be followed by a file path")
        return SqliteState(Path(path))
    if parts.scheme == "dynamodb":
        if not _TABLE_PREFIX.match(parts.netloc) or parts.path not in ("", "/") or "#" in value:
            raise _refuse(setting, value, STATE_FORMS, "the table prefix may hold letters, digits, '_', '.', '-'")
        options = _options(setting, value, STATE_FORMS, parts.query, {"region", "create"})
        create = options.get("create", "false").lower()
        if create not in ("true", "false", "1", "0", "yes", "no"):
            raise _refuse(setting, value, STATE_FORMS, "create is true or false")
        return DynamoDBState(parts.netloc, options.get("region"), create in ("true", "1", "yes"))
    raise _refuse(setting, value, STATE_FORMS)


def parse_secrets_url(value: str | None) -> EncryptedFileSecrets | SecretsManagerSecrets:
    """Where credentials live, from AVESA_SECRETS_URL (None or empty: the encrypted file)."""
    setting = "AVESA_SECRETS_URL"
    if not value or not value.strip():
        return EncryptedFileSecrets()
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme != "secretsmanager":
        raise _refuse(setting, value, SECRETS_FORMS)
    prefix = (parts.netloc + parts.path).strip("/")
    if not _SECRET_PREFIX.match(prefix) or "#" in value:
        raise _refuse(setting, value, SECRETS_FORMS, "the name prefix may hold letters, digits and /_+=.@-")
    options = _options(setting, value, SECRETS_FORMS, parts.query, {"region"})
    return SecretsManagerSecrets(prefix, options.get("region"))


@functools.cache
def _shared_loader() -> Any:
    """botocore's loader of the services' JSON models (and boto3's), made once per process: a new
    session would parse them again (a DynamoDB client took 0.11 s, 0.04 s with the models shared),
    paid by every Lambda invocation, which builds its context afresh. The models are static files;
    credentials, region and endpoints stay each session's own (from the environment, per client)."""
    import boto3
    import botocore.loaders

    loader = botocore.loaders.create_loader()
    loader.search_paths.append(os.path.join(os.path.dirname(boto3.__file__), "data"))
    return loader


class _ModelLoader:
    """The shared loader as one session sees it: boto3 appends its data folder to a session's
    `search_paths`, which must not grow the shared list with every session."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared
        self.search_paths = list(shared.search_paths)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._shared, name)


def aws_client(service: str, region: str | None, setting: str) -> Any:
    """A boto3 client configured from the standard AWS environment; `region` (from the URL) wins."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ConfigError(f"{setting} names an AWS service, but boto3 is not installed: "
                          "pip install 'avesa[aws]'") from None
    try:
        import botocore.session

        core = botocore.session.get_session()
        core.register_component("data_loader", _ModelLoader(_shared_loader()))
        session = boto3.session.Session(botocore_session=core,
                                        region_name=region or os.environ.get("AWS_REGION") or None)
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile
        raise ConfigError(f"{setting}: the AWS configuration is not usable: {exc}") from None
    if not session.region_name:
        raise ConfigError(f"{setting}: no AWS region: add ?region=REGION to it, or set AWS_REGION "
                          "(or AWS_DEFAULT_REGION, or a profile's region)")
    return session.client(service, config=Config(retries={"mode": "standard", "max_attempts": 8},
                                                 max_pool_connections=16))


def shares_rate_budgets(settings: Settings) -> bool:
    """Whether rate budgets live in the state store (AVESA_SHARED_RATE_BUDGETS; by default only
    with DynamoDB, where many workers call one instance at once)."""
    if settings.shared_rate_budgets is not None:
        return settings.shared_rate_budgets
    return isinstance(parse_state_url(settings.state_url, settings.home), DynamoDBState)


def build_state_store(settings: Settings) -> StateStore:
    where = parse_state_url(settings.state_url, settings.home)
    if isinstance(where, SqliteState):
        from avesa.state.sqlite.store import SqliteStateStore

        return SqliteStateStore(where.path, retention_days=settings.ledger_retention_days)
    from avesa.state.dynamodb.layout import ensure_tables
    from avesa.state.dynamodb.store import DynamoDBStateStore

    client = aws_client("dynamodb", where.region, "AVESA_STATE_URL")
    if where.create:
        ensure_tables(client, where.prefix)
    return DynamoDBStateStore(client, where.prefix, retention_days=settings.ledger_retention_days)


def build_secret_store(settings: Settings) -> SecretStore:
    where = parse_secrets_url(settings.secrets_url)
    if isinstance(where, EncryptedFileSecrets):
        from avesa.secrets.encrypted_file import EncryptedFileSecretStore, load_or_create_key

        key = load_or_create_key(settings.secret_key_path, settings.secret_key)
        return EncryptedFileSecretStore(settings.secrets_path, key)
    from avesa.secrets.secrets_manager import SecretsManagerSecretStore

    return SecretsManagerSecretStore(aws_client("secretsmanager", where.region, "AVESA_SECRETS_URL"), where.prefix)
