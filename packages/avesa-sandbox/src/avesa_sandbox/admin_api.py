"""The admin API (JSON over HTTP under ``/_admin``): instances, knobs, faults, data and ground truth.

Tests, the demo and the benchmarks drive the sandbox through it (``client.SandboxAdmin`` wraps it).
Routes (``{name}`` is an instance name; tables are endpoint paths like ``service/tickets`` or aliases
like ``tickets``)::

    GET    /_admin/health
    GET    /_admin/instances                      list (credentials, site URL, counts, knobs)
    POST   /_admin/instances                      create {name, service?, seed?, scale?, counts?, knobs?}
    GET    /_admin/instances/{name}               one instance
    DELETE /_admin/instances/{name}
    POST   /_admin/instances/{name}/reset         regenerate data; clear log, faults, stats; spec knobs
    GET    /_admin/instances/{name}/knobs
    PATCH  /_admin/instances/{name}/knobs         partial change, e.g. {"latency_ms": 200}
    GET    /_admin/instances/{name}/faults        pending one-shot faults
    POST   /_admin/instances/{name}/faults        add {kind, count?, table?, scope?, retry_after?, delay_ms?}
    DELETE /_admin/instances/{name}/faults        clear
    GET    /_admin/instances/{name}/records?table=T[&id=N]   one record, or all current ids
    POST   /_admin/instances/{name}/records       create {table, record?, by?}
    PATCH  /_admin/instances/{name}/records       update {table, id, changes, by?}
    POST   /_admin/instances/{name}/records/raw   new version with raw bytes in a field {table, id, field, value_base64}
    DELETE /_admin/instances/{name}/records?table=T&id=N
    POST   /_admin/instances/{name}/mutate        {updates, inserts, deletes, seed?, tables?}
    GET    /_admin/instances/{name}/changes?table=&since=&after_seq=&limit=&id=   ground-truth log
    GET    /_admin/instances/{name}/stats         request statistics;  DELETE resets them
    GET    /_admin/stats                          statistics of every instance, and totals
    POST   /_admin/reset                          reset every instance
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from avesa_sandbox.faults import OneShotFault
from avesa_sandbox.instances import Instance, Registry
from avesa_sandbox.spec import InstanceSpec

Handler = Callable[[Request], Awaitable[Response]]


class AdminError(Exception):
    """An admin request that cannot be served; becomes a JSON error with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise AdminError(400, f"request body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise AdminError(400, "request body must be a JSON object")
    return data


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AdminError(400, f"{name} must be an integer, got {value!r}") from None


def _public_id(instance: Instance, table: str | None, raw: str) -> Any:
    """A record id from a query string, as the change log holds it (e.g. ``"5"`` -> ``5`` for ConnectWise)."""
    if not table:
        raise AdminError(400, "filtering changes by 'id' needs 'table' too")
    return instance.public_id(table, instance.key(table, raw))


def _guard(handler: Handler) -> Handler:
    """Turn the errors admin operations raise into JSON responses."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except AdminError as error:
            return _json({"error": str(error)}, error.status)
        except KeyError as error:
            return _json({"error": str(error.args[0]) if error.args else "not found"}, 404)
        except ValueError as error:
            return _json({"error": str(error)}, 400)

    return guarded


class AdminApi:
    """Handlers over one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def instance(self, request: Request) -> Instance:
        name = request.path_params["name"]
        instance = self.registry.get(name)
        if instance is None:
            raise AdminError(404, f"no instance named {name!r}; known: {', '.join(self.registry.names())}")
        return instance

    async def health(self, request: Request) -> Response:
        return _json({"ok": True, "instances": self.registry.names()})

    async def list_instances(self, request: Request) -> Response:
        return _json({"instances": [instance.summary() for instance in self.registry.all()]})

    async def create_instance(self, request: Request) -> Response:
        spec = InstanceSpec.from_dict(await _body(request))
        if self.registry.get(spec.name) is not None:
            raise AdminError(409, f"instance {spec.name!r} already exists")
        instance = await run_in_threadpool(self.registry.create, spec)
        return _json(instance.summary(), 201)

    async def get_instance(self, request: Request) -> Response:
        return _json(self.instance(request).summary())

    async def delete_instance(self, request: Request) -> Response:
        self.registry.remove(self.instance(request).name)
        return Response(status_code=204)

    async def reset_instance(self, request: Request) -> Response:
        instance = self.instance(request)
        await run_in_threadpool(instance.reset)
        return _json(instance.summary())

    async def reset_all(self, request: Request) -> Response:
        for instance in self.registry.all():
            await run_in_threadpool(instance.reset)
        return _json({"reset": self.registry.names()})

    async def knobs(self, request: Request) -> Response:
        instance = self.instance(request)
        if request.method in ("PATCH", "POST", "PUT"):
            instance.set_knobs(await _body(request))
        return _json(instance.knobs.to_dict())

    async def faults(self, request: Request) -> Response:
        instance = self.instance(request)
        if request.method == "POST":
            body = await _body(request)
            for item in body.get("faults", [body]):
                fault = OneShotFault.from_dict(item)
                if fault.table is not None:
                    fault.table = instance.simulator.resolve_table(fault.table)
                instance.faults.add(fault)
        elif request.method == "DELETE":
            instance.faults.clear()
        return _json({"pending": instance.faults.pending()})

    async def records(self, request: Request) -> Response:
        instance = self.instance(request)
        if request.method == "GET":
            table = request.query_params.get("table") or ""
            if "id" in request.query_params:
                record = instance.get(table, request.query_params["id"])
                if record is None:
                    raise AdminError(404, f"{table} has no record with id {request.query_params['id']}")
                return _json(record)
            with instance.lock:
                store = instance.table(table)
                return _json({"table": store.name, "ids": [instance.public_id(store.name, key) for key in store.ids]})
        if request.method == "DELETE":
            params = request.query_params
            if "table" not in params or "id" not in params:
                body = await _body(request)
                params = {**body, **params}  # type: ignore[assignment]
            if params.get("id") is None:
                raise AdminError(400, "delete needs 'table' and 'id'")
            return _json(instance.delete(str(params.get("table", "")), params.get("id")))
        body = await _body(request)
        table = str(body.get("table", ""))
        if request.method == "POST":
            record = instance.insert(table, body.get("record") or body.get("fields"), by=body.get("by"))
            return _json(record, 201)
        changes = body.get("changes")
        if not isinstance(changes, dict):
            raise AdminError(400, "update needs 'changes': an object of field -> new value (null removes)")
        if body.get("id") is None:
            raise AdminError(400, "update needs 'id': the id of the record to change")
        return _json(instance.update(table, body.get("id"), changes, by=body.get("by")))

    async def raw_record(self, request: Request) -> Response:
        """A version whose JSON holds exact bytes in one field, for hostile-input tests."""
        instance = self.instance(request)
        body = await _body(request)
        try:
            value = base64.b64decode(str(body.get("value_base64", "")), validate=True)
        except binascii.Error:
            raise AdminError(400, "'value_base64' must be base64 of the bytes to place in the field") from None
        if body.get("id") is None or not body.get("field") or not value:
            raise AdminError(400, "a raw splice needs 'table', 'id', 'field' and a non-empty 'value_base64'")
        record = instance.splice_raw(str(body.get("table", "")), body["id"], str(body["field"]), value,
                                     by=body.get("by"))
        return _json(record)

    async def mutate(self, request: Request) -> Response:
        instance = self.instance(request)
        body = await _body(request)
        return _json(await run_in_threadpool(instance.mutate, body))

    async def changes(self, request: Request) -> Response:
        instance = self.instance(request)
        params = request.query_params
        table = params.get("table")
        entries = instance.changelog.entries(
            table=instance.simulator.resolve_table(table) if table else None,
            since=params.get("since"),
            after_seq=_int(params.get("after_seq", 0), "after_seq"),
            limit=_int(params["limit"], "limit") if "limit" in params else None,
            record_id=_public_id(instance, table, params["id"]) if "id" in params else None,
        )
        return _json({"changes": [entry.to_dict() for entry in entries], "last_seq": len(instance.changelog)})

    async def stats(self, request: Request) -> Response:
        instance = self.instance(request)
        if request.method == "DELETE":
            instance.stats.reset()
        return _json(instance.stats.to_dict())

    async def all_stats(self, request: Request) -> Response:
        per_instance = {instance.name: instance.stats.to_dict() for instance in self.registry.all()}
        totals = {
            key: sum(stats[key] for stats in per_instance.values())
            for key in ("requests", "throttled", "unauthorized", "bytes_sent", "records_served")
        }
        return _json({"instances": per_instance, "totals": totals})


def build_admin_app(registry: Registry) -> Starlette:
    """The admin app, to be mounted at ``/_admin``."""
    api = AdminApi(registry)
    r = [
        ("/health", api.health, ["GET"]),
        ("/instances", api.list_instances, ["GET"]),
        ("/instances", api.create_instance, ["POST"]),
        ("/instances/{name}", api.get_instance, ["GET"]),
        ("/instances/{name}", api.delete_instance, ["DELETE"]),
        ("/instances/{name}/reset", api.reset_instance, ["POST"]),
        ("/instances/{name}/knobs", api.knobs, ["GET", "PATCH", "POST", "PUT"]),
        ("/instances/{name}/faults", api.faults, ["GET", "POST", "DELETE"]),
        ("/instances/{name}/records", api.records, ["GET", "POST", "PATCH", "DELETE"]),
        ("/instances/{name}/records/raw", api.raw_record, ["POST"]),
        ("/instances/{name}/mutate", api.mutate, ["POST"]),
        ("/instances/{name}/changes", api.changes, ["GET"]),
        ("/instances/{name}/stats", api.stats, ["GET", "DELETE"]),
        ("/stats", api.all_stats, ["GET"]),
        ("/reset", api.reset_all, ["POST"]),
    ]
    return Starlette(routes=[Route(path, _guard(handler), methods=methods) for path, handler, methods in r])
