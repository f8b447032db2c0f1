"""Simulated SaaS APIs (ConnectWise Manage first) served over real HTTP for tests, demo and benchmarks.

A distribution of its own (``avesa-sandbox``): nothing here imports the AVESA engine, so the engine
and its Lambda image never carry it. Start a server with
``SandboxServer([InstanceSpec("acme", scale="small")])`` (background thread, context manager),
``SandboxProcess`` (a child process) or ``serve(port, specs)`` (foreground); drive it with
``SandboxAdmin(base_url)``.
"""

from avesa_sandbox.client import SandboxAdmin, SandboxAdminError
from avesa_sandbox.connectwise.auth import Credentials, credentials_for
from avesa_sandbox.faults import FaultKind
from avesa_sandbox.knobs import Knobs
from avesa_sandbox.process import SandboxProcess
from avesa_sandbox.server import SandboxServer, build_app, serve
from avesa_sandbox.spec import InstanceSpec, tenant_specs

__all__ = [
    "Credentials",
    "FaultKind",
    "InstanceSpec",
    "Knobs",
    "SandboxAdmin",
    "SandboxAdminError",
    "SandboxProcess",
    "SandboxServer",
    "build_app",
    "credentials_for",
    "serve",
    "tenant_specs",
]
