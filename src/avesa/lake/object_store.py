"""How every reader and writer of the lake reaches S3: from the standard AWS environment, with no
AVESA-specific setting.

`AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) points at MinIO, a VPC endpoint or moto's server;
`AWS_REGION` (or `AWS_DEFAULT_REGION`), the credential variables or `AWS_PROFILE`, and
`AWS_ALLOW_HTTP` for an http endpoint, are read the way the AWS tools read them. Raw files (pyarrow),
the Delta log (deltalake), the data files the merge reads and writes (pyarrow) and the query views
all get the same options from here — a reader that took its own would land files in one place and
look for them in another. Options given explicitly (a test, a caller's storage options) win over
the environment.

Credentials the variables do not give (a profile, SSO, an instance or container role) are resolved
once through boto3's chain, when boto3 is installed, and handed over as keys: pyarrow and deltalake
do not each know every kind of credential source boto3 does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
PASSED_THROUGH = (
    "AWS_ALLOW_HTTP",
    "AWS_S3_ALLOW_UNSAFE_RENAME",  # what a Delta writer needs on S3 without conditional writes or a lock
    "AWS_S3_LOCKING_PROVIDER",
    "DELTA_DYNAMO_TABLE_NAME",
    "AWS_CONDITIONAL_PUT",
)


def is_object_store(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((environ[name] for name in names if environ.get(name)), None)


@functools.cache
def _credential_chain(profile: str | None) -> Any:
    """boto3's credentials for `profile`, resolved once per process: resolving walks the chain (files,
    SSO, the instance metadata service) and every read and merge of the lake asks. Refreshable
    credentials (a role's) renew themselves when their keys are asked for."""
    try:
        import boto3
    except ImportError:  # the embedded install without the AWS extras: the variables are all there is
        return None
    return boto3.Session(profile_name=profile).get_credentials()


def _profile_credentials(profile: str | None) -> dict[str, str]:
    """Keys from boto3's credential chain (profile, SSO, instance or container role); none without boto3."""
    credentials = _credential_chain(profile)
    if credentials is None:
        return {}
    frozen = credentials.get_frozen_credentials()
    keys = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        keys["AWS_SESSION_TOKEN"] = frozen.token
    return keys


def storage_options(uri: str, explicit: Mapping[str, str] | None = None,
                    environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The storage options (deltalake's names) for `uri`: the environment's, then `explicit` on top.
    A local path needs none (None)."""
    if not uri.startswith(("s3://", "s3a://")):
        return dict(explicit) if explicit else None
    env = os.environ if environ is None else environ
    given = {key.upper(): value for key, value in (explicit or {}).items()}
    options: dict[str, str] = {}
    endpoint = _first(env, ENDPOINT_VARIABLES)
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
    region = _first(env, REGION_VARIABLES)
    if region:
        options["AWS_REGION"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if env.get(name):
                options[name] = env[name]
    elif "AWS_ACCESS_KEY_ID" not in given:
        options.update(_profile_credentials(env.get("AWS_PROFILE")))
    for name in PASSED_THROUGH:
        if env.get(name):
            options[name] = env[name]
    options.update(given)
    if options.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        options.setdefault("AWS_ALLOW_HTTP", "true")
    return options


def _option(options: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in options.items()}
    return next((lowered[name] for name in names if lowered.get(name)), None)


def s3_filesystem(options: Mapping[str, str]) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem configured from storage options (deltalake's names)."""
    endpoint = _option(options, "aws_endpoint_url", "aws_endpoint", "endpoint_url", "endpoint")
    kwargs: dict[str, Any] = {
        "access_key": _option(options, "aws_access_key_id", "access_key_id"),
        "secret_key": _option(options, "aws_secret_access_key", "secret_access_key"),
        "session_token": _option(options, "aws_session_token", "session_token"),
        "region": _option(options, "aws_region", "region", "aws_default_region"),
    }
    if endpoint:
        parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = parsed.netloc
        kwargs["scheme"] = parsed.scheme
    if _option(options, "aws_allow_http", "allow_http") in ("true", "1") and "scheme" not in kwargs:
        kwargs["scheme"] = "http"
    return pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})


def filesystem(uri: str, explicit: Mapping[str, str] | None = None) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for `uri` and the path inside it (`bucket/key` on S3)."""
    if not is_object_store(uri):
        return pafs.LocalFileSystem(), os.path.abspath(uri.removeprefix("file://"))
    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        options = storage_options(uri, explicit) or {}
        return s3_filesystem(options), f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
    return pafs.FileSystem.from_uri(uri)
