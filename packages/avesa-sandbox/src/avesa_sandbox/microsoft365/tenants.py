"""Finding a simulated tenant by what clients name it with: tenant id, verified domain or instance name."""

from __future__ import annotations

from typing import cast

from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.microsoft365.simulator import Microsoft365Simulator

SERVICE = "microsoft365"


def simulator_of(instance: Instance) -> Microsoft365Simulator:
    return cast(Microsoft365Simulator, instance.simulator)


class TenantDirectory:
    """Labels -> instance names, rebuilt from the registry when a label is not found (instances come and
    go at run time; a miss costs one pass over the registry)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._labels: dict[str, str] = {}

    def find(self, label: str) -> Instance | None:
        label = label.strip().lower()
        instance = self._lookup(label)
        if instance is None:
            self._rebuild()
            instance = self._lookup(label)
        return instance

    def _lookup(self, label: str) -> Instance | None:
        name = self._labels.get(label)
        instance = self.registry.get(name) if name else None
        return instance if instance is not None and instance.spec.service == SERVICE else None

    def _rebuild(self) -> None:
        labels: dict[str, str] = {}
        for instance in self.registry.all():
            if instance.spec.service != SERVICE:
                continue
            sim = simulator_of(instance)
            tenant = sim.factory.tenant
            for label in (instance.name, sim.tenant_id, tenant.domain, tenant.initial_domain):
                labels[label.lower()] = instance.name
        self._labels = labels
