"""``SandboxAdmin``: a small synchronous Python client of the admin API (httpx)."""

from __future__ import annotations

import base64
from types import TracebackType
from typing import Any

import httpx

from avesa_sandbox.spec import InstanceSpec


class SandboxAdminError(RuntimeError):
    """The admin API refused a request; the message is its error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class SandboxAdmin:
    """Drive a running sandbox: instances, knobs, faults, records, mutations, change log, stats."""

    def __init__(self, base_url: str, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.base_url}/_admin", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxAdmin:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise SandboxAdminError(response.status_code, message)
        return response.json() if response.content else None

    # -- instances ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def instances(self) -> list[dict[str, Any]]:
        """Every instance with credentials, site URL, per-table counts and knobs."""
        return self._call("GET", "/instances")["instances"]

    def instance(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/instances/{name}")

    def create_instance(
        self,
        name: str | InstanceSpec,
        *,
        seed: int = 0,
        scale: str = "small",
        counts: dict[str, int] | None = None,
        knobs: dict[str, Any] | None = None,
        service: str = "connectwise",
    ) -> dict[str, Any]:
        """Create an instance from a spec or from keyword arguments."""
        if isinstance(name, InstanceSpec):
            body = name.to_dict()
        else:
            body = {
                "name": name,
                "seed": seed,
                "scale": scale,
                "counts": counts or {},
                "knobs": knobs or {},
                "service": service,
            }
        return self._call("POST", "/instances", json=body)

    def delete_instance(self, name: str) -> None:
        self._call("DELETE", f"/instances/{name}")

    def reset(self, name: str | None = None) -> Any:
        """Regenerate one instance (or all): data, change log, faults, stats and knobs from the spec."""
        return self._call("POST", f"/instances/{name}/reset" if name else "/reset")

    def credentials(self, name: str) -> dict[str, str]:
        """``company_id``, ``public_key``, ``private_key``, ``client_id``."""
        return self.instance(name)["credentials"]

    def site_url(self, name: str) -> str:
        return self.instance(name)["site_url"]

    def connection(self, name: str) -> dict[str, str]:
        """What an integration with the instance is configured with. ConnectWise: ``api_url`` (the
        site URL), ``company_id``, ``public_key``, ``private_key``, ``client_id``; the other services:
        their simulator's credentials (URLs included), e.g. ServiceNow's ``instance_url``,
        ``username``, ``password``."""
        info = self.instance(name)
        if info.get("service", "connectwise") == "connectwise":
            return {"api_url": info["site_url"], **info["credentials"]}
        return {key: str(value) for key, value in info["credentials"].items()}

    def auth_headers(self, name: str) -> dict[str, str]:
        """``Authorization`` and ``clientId`` headers for the instance's API."""
        from avesa_sandbox.connectwise.auth import Credentials

        return Credentials(**self.credentials(name)).headers()

    # -- behaviour ------------------------------------------------------------------------------

    def knobs(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/instances/{name}/knobs")

    def set_knobs(self, name: str, **changes: Any) -> dict[str, Any]:
        """E.g. ``set_knobs("acme", latency_ms=200, error_rate=0.05, rate_limit_per_minute=600)``."""
        return self._call("PATCH", f"/instances/{name}/knobs", json=changes)

    def add_fault(
        self,
        name: str,
        kind: str,
        count: int = 1,
        *,
        table: str | None = None,
        scope: str = "list",
        retry_after: int = 1,
        delay_ms: float = 2000.0,
    ) -> list[dict[str, Any]]:
        """Fail the next ``count`` ``scope`` requests of ``table`` (None: any) with ``kind``."""
        body = {
            "kind": kind,
            "count": count,
            "table": table,
            "scope": scope,
            "retry_after": retry_after,
            "delay_ms": delay_ms,
        }
        return self._call("POST", f"/instances/{name}/faults", json=body)["pending"]

    def faults(self, name: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/instances/{name}/faults")["pending"]

    def clear_faults(self, name: str) -> None:
        self._call("DELETE", f"/instances/{name}/faults")

    # -- data -----------------------------------------------------------------------------------

    def get_record(self, name: str, table: str, record_id: int) -> dict[str, Any]:
        return self._call("GET", f"/instances/{name}/records", params={"table": table, "id": record_id})

    def record_ids(self, name: str, table: str) -> list[int]:
        """Ids currently present (ground truth for delete reconciliation)."""
        return self._call("GET", f"/instances/{name}/records", params={"table": table})["ids"]

    def create_record(
        self, name: str, table: str, fields: dict[str, Any] | None = None, by: str | None = None
    ) -> dict[str, Any]:
        """Insert a realistic record; ``fields`` override generated values."""
        return self._call("POST", f"/instances/{name}/records", json={"table": table, "record": fields, "by": by})

    def update_record(
        self, name: str, table: str, record_id: int, changes: dict[str, Any], by: str | None = None
    ) -> dict[str, Any]:
        """Partial change (None removes a field); the record gets a new, later ``lastUpdated``."""
        body = {"table": table, "id": record_id, "changes": changes, "by": by}
        return self._call("PATCH", f"/instances/{name}/records", json=body)

    def splice_raw(self, name: str, table: str, record_id: Any, field: str, value: bytes) -> dict[str, Any]:
        """A new version of the record whose JSON on the wire holds ``value``, byte for byte, as
        ``field`` (invalid UTF-8, ``NaN``, ``1e999``, deep nesting): what no serializer would send."""
        body = {"table": table, "id": record_id, "field": field, "value_base64": base64.b64encode(value).decode()}
        return self._call("POST", f"/instances/{name}/records/raw", json=body)

    def delete_record(self, name: str, table: str, record_id: int) -> dict[str, Any]:
        return self._call("DELETE", f"/instances/{name}/records", params={"table": table, "id": record_id})

    def mutate(
        self,
        name: str,
        *,
        updates: int = 0,
        inserts: int = 0,
        deletes: int = 0,
        seed: int | None = None,
        tables: list[str] | None = None,
    ) -> dict[str, Any]:
        """Realistic random changes; returns ``{inserted, updated, deleted, counts}``."""
        body = {"updates": updates, "inserts": inserts, "deletes": deletes, "seed": seed, "tables": tables}
        return self._call("POST", f"/instances/{name}/mutate", json=body)

    def changes(
        self,
        name: str,
        *,
        table: str | None = None,
        since: str | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        record_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Ground-truth change log entries (``seq, table, id, op, version, last_updated, changed_at, record``)."""
        params = {"table": table, "since": since, "after_seq": after_seq, "limit": limit, "id": record_id}
        params = {k: v for k, v in params.items() if v is not None}
        return self._call("GET", f"/instances/{name}/changes", params=params)["changes"]

    # -- statistics -----------------------------------------------------------------------------

    def stats(self, name: str | None = None) -> dict[str, Any]:
        """One instance's request statistics, or every instance's plus totals."""
        return self._call("GET", f"/instances/{name}/stats" if name else "/stats")

    def reset_stats(self, name: str) -> None:
        self._call("DELETE", f"/instances/{name}/stats")
