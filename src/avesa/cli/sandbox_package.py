"""The sandbox (simulated service APIs) is its own distribution, `avesa-sandbox`: the demo and
`avesa sandbox serve` need it, the engine and its Lambda image do not. A command that needs it asks
here first, so an install without it says what to do instead of failing on an import."""

from __future__ import annotations

from avesa.domain.errors import UsageError

INSTALL_HINT = ("pip install avesa-sandbox (in the repository: pip install -e packages/avesa-sandbox, "
                "which `make demo` and `make test` do)")


def require_sandbox(command: str) -> None:
    """Refuse `avesa {command}` with the install line when the sandbox package is missing."""
    try:
        import avesa_sandbox  # noqa: F401
    except ImportError:
        raise UsageError(f"`avesa {command}` runs the built-in sandbox, whose package avesa-sandbox is not "
                         f"installed: {INSTALL_HINT}") from None
