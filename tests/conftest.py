"""Fixtures shared by the engine's tests: a sandbox over real HTTP on loopback, an isolated
AVESA_HOME per test, and a helper that registers a sandbox instance as a tenant."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin, SandboxServer

_names = itertools.count(1)


@pytest.fixture(scope="session")
def engine_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer([]) as server:
        yield server


@pytest.fixture(scope="session")
def sandbox_admin(engine_sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    with engine_sandbox.admin() as client:
        yield client


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads a developer's own avesa.toml (the repository's, or ~/.config/avesa's): the config
    file is one that does not exist unless a test writes it (config_file.py, AVESA_CONFIG)."""
    monkeypatch.setenv("AVESA_CONFIG", str(tmp_path_factory.mktemp("no-config") / "avesa.toml"))


@pytest.fixture
def avesa_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, existing home named by AVESA_HOME (commands refuse a home that does not exist)."""
    home = tmp_path / "avesa-home"
    home.mkdir()
    monkeypatch.setenv("AVESA_HOME", str(home))
    monkeypatch.delenv("AVESA_LAKE_URL", raising=False)
    return home


@pytest.fixture
def make_ctx(avesa_home: Path) -> Callable[..., PipelineContext]:
    """A fresh PipelineContext on the test's AVESA_HOME (one per run, as the CLI makes one)."""

    def make(**overrides: object) -> PipelineContext:
        return PipelineContext.from_settings(Settings(home=avesa_home, **overrides))

    return make


@pytest.fixture
def new_instance(sandbox_admin: SandboxAdmin) -> Iterator[Callable[..., str]]:
    """Create a sandbox instance with a unique name (deleted after the test)."""
    created: list[str] = []

    def create(prefix: str = "t", *, scale: str = "tiny", seed: int = 1, counts: dict | None = None,
               knobs: dict | None = None, service: str = "connectwise") -> str:
        name = f"{prefix}-{next(_names)}"
        sandbox_admin.create_instance(name, scale=scale, seed=seed, counts=counts, service=service,
                                      knobs={"rate_limit_per_minute": None, **(knobs or {})})
        created.append(name)
        return name

    yield create
    for name in created:
        sandbox_admin.delete_instance(name)


def sandbox_credentials(admin: SandboxAdmin, instance: str) -> dict[str, str]:
    return admin.connection(instance)


@pytest.fixture(scope="session")
def register(sandbox_admin: SandboxAdmin) -> Callable[..., str]:
    """Register a sandbox instance as a tenant (tenant id = instance name)."""

    def add(ctx: PipelineContext, instance: str, *, tables: list[str] | None = None,
            credentials: dict[str, str] | None = None) -> str:
        register_service(ctx, tenant_id=instance, company_name=instance.title(), service="connectwise",
                         credentials=credentials or sandbox_credentials(sandbox_admin, instance), tables=tables)
        return instance

    return add


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server over real HTTP on loopback, for the whole session (S3, DynamoDB, Secrets
    Manager…); tests keep apart by naming their resources uniquely (`tests.aws_support`)."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
