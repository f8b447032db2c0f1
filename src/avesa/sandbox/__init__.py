"""Simulated SaaS APIs (ConnectWise Manage first) served over real HTTP for tests, demo and benchmarks.

A separate layer: nothing here imports the rest of ``avesa``. Start a server with
``SandboxServer([InstanceSpec("acme", scale="small")])`` (background thread, context manager) or
``serve(port, specs)`` (foreground); drive it with ``SandboxAdmin(base_url)``.
"""

from avesa.sandbox.client import SandboxAdmin, SandboxAdminError
from avesa.sandbox.connectwise.auth import Credentials, credentials_for
from avesa.sandbox.faults import FaultKind
from avesa.sandbox.knobs import Knobs
from avesa.sandbox.server import SandboxServer, build_app, serve
from avesa.sandbox.spec import InstanceSpec, tenant_specs

__all__ = [
    "Credentials",
    "FaultKind",
    "InstanceSpec",
    "Knobs",
    "SandboxAdmin",
    "SandboxAdminError",
    "SandboxServer",
    "build_app",
    "credentials_for",
    "serve",
    "tenant_specs",
]
