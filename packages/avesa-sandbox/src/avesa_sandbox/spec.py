"""How to create a simulated instance: name, service, seed, size and knobs.

The same spec is accepted from Python (``InstanceSpec``), from the admin API (JSON) and from the
command line (``acme:small``, ``acme:medium:7`` = name:scale[:seed]).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox.knobs import Knobs

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass
class InstanceSpec:
    """A simulated tenant instance of one service."""

    name: str
    service: str = "connectwise"
    seed: int = 0
    scale: str = "small"
    """Size preset (tiny, small, medium, large); ``counts`` overrides single tables."""
    counts: dict[str, int] = field(default_factory=dict)
    knobs: Knobs = field(default_factory=Knobs)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(
                f"instance name {self.name!r} must be 1-63 lowercase letters, digits or '-', starting alphanumeric"
            )
        if isinstance(self.knobs, dict):
            self.knobs = Knobs.from_dict(self.knobs)
        self.knobs.validate()

    @classmethod
    def parse(cls, text: str, default_scale: str = "small") -> InstanceSpec:
        """``[service/]name[:scale[:seed]]`` as given on the command line (service: connectwise)."""
        service, _, rest = text.rpartition("/")
        parts = rest.split(":")
        if not 1 <= len(parts) <= 3 or not parts[0]:
            raise ValueError(f"instance spec {text!r} must be [service/]name[:scale[:seed]]")
        scale = parts[1] if len(parts) > 1 and parts[1] else default_scale
        seed = int(parts[2]) if len(parts) > 2 else 0
        return cls(name=parts[0], service=service or "connectwise", scale=scale, seed=seed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSpec:
        """From admin-API JSON; unknown keys are an error."""
        known = {"name", "service", "seed", "scale", "counts", "knobs"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown instance field(s): {', '.join(unknown)}")
        if "name" not in data:
            raise ValueError("an instance needs a 'name'")
        return cls(
            name=str(data["name"]),
            service=str(data.get("service", "connectwise")),
            seed=int(data.get("seed", 0)),
            scale=str(data.get("scale", "small")),
            counts=dict(data.get("counts") or {}),
            knobs=Knobs.from_dict(data.get("knobs")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "seed": self.seed,
            "scale": self.scale,
            "counts": dict(self.counts),
            "knobs": self.knobs.to_dict(),
        }


def tenant_specs(count: int, scale: str = "small", prefix: str = "tenant", seed: int = 0) -> list[InstanceSpec]:
    """``tenant-1`` .. ``tenant-N``, all of one scale (what ``--tenants N --scale S`` creates)."""
    return [InstanceSpec(name=f"{prefix}-{i}", scale=scale, seed=seed) for i in range(1, count + 1)]
