"""Parts of AVESA a user installs only when wanted, and the commands that need them: the sandbox
(simulated service APIs, a distribution of its own: `avesa demo`, `avesa sandbox serve`) and the
web side (`avesa[web]`: starlette, uvicorn, jinja2, pygal — `avesa serve`'s /metrics and the
dashboard). The engine and its Lambda image need neither. A command that needs one asks here
first, so an install without it says what to do instead of failing on an import."""

from __future__ import annotations

import importlib

from avesa.domain.errors import UsageError

SANDBOX_HINT = ("pip install avesa-sandbox (in the repository: pip install -e packages/avesa-sandbox, "
                "which `make demo` and `make test` do)")
WEB_HINT = "pip install 'avesa[web]' (in the repository `make test` does; `pip install -e '.[web]'`)"
WEB_MODULES = ("starlette", "uvicorn", "jinja2", "pygal")


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def require_sandbox(command: str) -> None:
    """Refuse `avesa {command}` with the install line when the sandbox package is missing."""
    if _missing(("avesa_sandbox",)):
        raise UsageError(f"`avesa {command}` runs the built-in sandbox, whose package avesa-sandbox is not "
                         f"installed: {SANDBOX_HINT}")


def require_web(command: str) -> None:
    """Refuse `avesa {command}` with the install line when the web extra is missing."""
    missing = _missing(WEB_MODULES)
    if missing:
        raise UsageError(f"`avesa {command}` serves HTTP, which needs the web extra ({', '.join(missing)} "
                         f"not installed): {WEB_HINT}")
