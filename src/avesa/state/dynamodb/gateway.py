"""The DynamoDB calls the state store makes, on one table: typed values in and out, conditions
built by boto3's expression builder, every Query and Scan paginated, and a condition that did
not hold answered as False rather than raised.

Values: strings, bools, ints, floats (stored as Decimal, read back as int when whole), lists and
string maps; None means "no such attribute" — writes REMOVE it. Datetimes are the caller's to
encode (`codec.ts`), so that the strings compare as the times do.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from avesa.domain.aws_errors import aws_access
from avesa.domain.errors import ConfigError

Item = dict[str, Any]

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

CONFLICT_ATTEMPTS = 8
"""Tries of a write that met another transaction on the same item (DynamoDB cancels one of them)."""

MAX_TRANSACTION_ITEMS = 100
"""The most items one TransactWriteItems may hold (DynamoDB's limit)."""


def _to_wire(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    return value


def _from_wire(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    return value


def encode(value: Any) -> dict[str, Any]:
    return _serializer.serialize(_to_wire(value))


def encode_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: encode(v) for k, v in item.items() if v is not None}


def decode_item(raw: Mapping[str, Any]) -> Item:
    return {k: _from_wire(_deserializer.deserialize(v)) for k, v in raw.items()}


@dataclass
class Update:
    """An UpdateExpression: SET values (None = REMOVE), SET-if-missing, and ADD (counters)."""

    set: Mapping[str, Any] = field(default_factory=dict)
    if_missing: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, int] = field(default_factory=dict)
    remove: Iterable[str] = ()

    def build(self, names: dict[str, str], values: dict[str, Any]) -> str:
        def name(attr: str) -> str:
            placeholder = f"#u{len(names)}"
            names[placeholder] = attr
            return placeholder

        def value(v: Any) -> str:
            placeholder = f":u{len(values)}"
            values[placeholder] = encode(v)
            return placeholder

        sets = [f"{name(k)} = {value(v)}" for k, v in self.set.items() if v is not None]
        sets += [f"{(n := name(k))} = if_not_exists({n}, {value(v)})" for k, v in self.if_missing.items()]
        removes = [name(k) for k, v in self.set.items() if v is None] + [name(k) for k in self.remove]
        adds = [f"{name(k)} {value(v)}" for k, v in self.add.items()]
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        return " ".join(clauses)


def _request(table: str, *, key: Mapping[str, str] | None = None, item: Mapping[str, Any] | None = None,
             condition: ConditionBase | None = None, update: Update | None = None) -> dict[str, Any]:
    """The arguments of one write (PutItem, UpdateItem, DeleteItem, or a transaction's part)."""
    request: dict[str, Any] = {"TableName": table}
    if key is not None:
        request["Key"] = encode_item(key)
    if item is not None:
        request["Item"] = encode_item(item)
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if update is not None:
        request["UpdateExpression"] = update.build(names, values)
    if condition is not None:
        built = ConditionExpressionBuilder().build_expression(condition)
        request["ConditionExpression"] = built.condition_expression
        names.update(built.attribute_name_placeholders)
        values.update({k: encode(v) for k, v in built.attribute_value_placeholders.items()})
    if names:
        request["ExpressionAttributeNames"] = names
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class TransactionRefused(Exception):
    """A transaction's condition did not hold; `reasons` are DynamoDB's, one per part."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def _action(operation: str) -> str:
    """The IAM action of a boto3 operation: `transact_write_items` -> `TransactWriteItems`."""
    return "".join(part.capitalize() for part in operation.split("_"))


class Gateway:
    """One table's calls. `put`, `update`, `delete` and `transact` return False when a condition
    failed; other errors raise (a missing table or no credentials as a ConfigError saying so)."""

    def __init__(self, client: Any, table: str, setting: str = "AVESA_STATE_URL", page_size: int | None = None) -> None:
        self.client = client
        self.table = table
        self._setting = setting
        self._page_size = page_size  # items per Query/Scan page; None: DynamoDB's (1 MB)

    # ---- plumbing --------------------------------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> Any:
        """`client.<operation>(**kwargs)`, tried again while another transaction holds the item."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with aws_access("DynamoDB", self._setting, "AWS_ENDPOINT_URL_DYNAMODB"):
                    return getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                code = _code(exc)
                if code == "ResourceNotFoundException":
                    raise ConfigError(
                        f"the DynamoDB table {self.table} does not exist ({self._setting}): deploy the stack "
                        f"that creates it, or create it with `avesa state init`"
                    ) from None
                if code in ("AccessDeniedException", "UnrecognizedClientException"):
                    raise ConfigError(
                        f"DynamoDB refused {operation} on the table {self.table} ({self._setting}): "
                        f"{exc.response['Error'].get('Message') or code}; give this identity "
                        f"dynamodb:{_action(operation)} on that table (the deployment's role has it)"
                    ) from None
                conflict = code == "TransactionConflictException" or (
                    code == "TransactionCanceledException"
                    and "TransactionConflict" in _reasons(exc))
                if not conflict or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # full jitter
        raise AssertionError("unreachable")

    def _conditional(self, operation: str, request: dict[str, Any]) -> bool:
        try:
            self._call(operation, **request)
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # ---- reads -----------------------------------------------------------------------------
    def get(self, key: Mapping[str, str], attributes: Iterable[str] = ()) -> Item | None:
        """One item, read consistently."""
        request: dict[str, Any] = {"TableName": self.table, "Key": encode_item(key), "ConsistentRead": True}
        _project(request, attributes)
        raw = self._call("get_item", **request).get("Item")
        return decode_item(raw) if raw else None

    def get_many(self, keys: Sequence[Mapping[str, str]]) -> list[Item]:
        """Items by key, read consistently (BatchGetItem, 100 at a time, unprocessed keys retried);
        missing ones are left out, the rest in the order asked."""
        found: dict[tuple[str, str], Item] = {}
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {self.table: {"Keys": [encode_item(k) for k in keys[start:start + 100]],
                                                    "ConsistentRead": True}}
            for attempt in range(CONFLICT_ATTEMPTS * 2):
                answer = self._call("batch_get_item", RequestItems=pending)
                for raw in answer.get("Responses", {}).get(self.table, []):
                    item = decode_item(raw)
                    found[(item["pk"], item["sk"])] = item
                pending = answer.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(random.uniform(0, 0.02 * 2**min(attempt, 6)))
            if pending:
                raise RuntimeError(f"DynamoDB left keys of {self.table} unread after retries (throttled)")
        return [found[(k["pk"], k["sk"])] for k in keys if (k["pk"], k["sk"]) in found]

    def query(self, key_condition: ConditionBase, *, index: str | None = None, forward: bool = True,
              limit: int | None = None, attributes: Iterable[str] = ()) -> Iterator[Item]:
        """Every item the key condition matches, page by page (consistent on the table itself;
        an index is always read eventually consistently). `limit` stops after that many."""
        built = ConditionExpressionBuilder().build_expression(key_condition, is_key_condition=True)
        request: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": built.condition_expression,
            "ExpressionAttributeNames": dict(built.attribute_name_placeholders),
            "ExpressionAttributeValues": {k: encode(v) for k, v in built.attribute_value_placeholders.items()},
            "ScanIndexForward": forward,
        }
        if index is None:
            request["ConsistentRead"] = True
        else:
            request["IndexName"] = index
        sizes = [x for x in (limit, self._page_size) if x is not None]
        if sizes:
            request["Limit"] = min(sizes)
        _project(request, attributes)
        yield from self._pages("query", request, limit)

    def scan(self, condition: ConditionBase) -> Iterator[Item]:
        """Every item of the table the filter matches, page by page, consistently."""
        built = ConditionExpressionBuilder().build_expression(condition)
        request: dict[str, Any] = {
            "TableName": self.table, "FilterExpression": built.condition_expression, "ConsistentRead": True,
            "ExpressionAttributeNames": dict(built.attribute_name_placeholders),
            "ExpressionAttributeValues": {k: encode(v) for k, v in built.attribute_value_placeholders.items()},
        }
        if self._page_size is not None:
            request["Limit"] = self._page_size
        yield from self._pages("scan", request, None)

    def _pages(self, operation: str, request: dict[str, Any], limit: int | None) -> Iterator[Item]:
        returned = 0
        while True:
            answer = self._call(operation, **request)
            for raw in answer.get("Items", []):
                yield decode_item(raw)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            request = {**request, "ExclusiveStartKey": last}

    # ---- writes ----------------------------------------------------------------------------
    def put(self, item: Mapping[str, Any], condition: ConditionBase | None = None) -> bool:
        return self._conditional("put_item", _request(self.table, item=item, condition=condition))

    def update(self, key: Mapping[str, str], update: Update, condition: ConditionBase | None = None) -> bool:
        return self._conditional("update_item", _request(self.table, key=key, update=update, condition=condition))

    def delete(self, key: Mapping[str, str], condition: ConditionBase | None = None) -> bool:
        return self._conditional("delete_item", _request(self.table, key=key, condition=condition))

    def transact(self, parts: list[dict[str, Any]]) -> bool:
        """All the parts (from `put_part`, `update_part`, `delete_part`, `check_part`) or none:
        False when a condition of any part did not hold."""
        try:
            self._call("transact_write_items", TransactItems=parts)
        except ClientError as exc:
            if _code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in _reasons(exc):
                return False
            raise
        return True

    def put_part(self, item: Mapping[str, Any], condition: ConditionBase | None = None) -> dict[str, Any]:
        return {"Put": _request(self.table, item=item, condition=condition)}

    def update_part(self, key: Mapping[str, str], update: Update,
                    condition: ConditionBase | None = None) -> dict[str, Any]:
        return {"Update": _request(self.table, key=key, update=update, condition=condition)}

    def delete_part(self, key: Mapping[str, str], condition: ConditionBase | None = None) -> dict[str, Any]:
        return {"Delete": _request(self.table, key=key, condition=condition)}

    def check_part(self, key: Mapping[str, str], condition: ConditionBase) -> dict[str, Any]:
        return {"ConditionCheck": _request(self.table, key=key, condition=condition)}


def _reasons(exc: ClientError) -> list[str]:
    """The cancellation reason codes of a TransactionCanceledException, one per part."""
    reasons = exc.response.get("CancellationReasons") or []
    codes = [str(r.get("Code", "")) for r in reasons]
    if not codes:  # some servers only say it in the message: "[ConditionalCheckFailed, None]"
        message = str(exc.response.get("Error", {}).get("Message", ""))
        codes = [c.strip() for c in message.rpartition("[")[2].rstrip("]").split(",")]
    return codes


def _project(request: dict[str, Any], attributes: Iterable[str]) -> None:
    """Read only `attributes` (names through placeholders: many are reserved words)."""
    attributes = list(attributes)
    if not attributes:
        return
    names = request.setdefault("ExpressionAttributeNames", {})
    placeholders: list[str] = []
    for attr in attributes:
        placeholder = f"#p{len(placeholders)}"
        names[placeholder] = attr
        placeholders.append(placeholder)
    request["ProjectionExpression"] = ", ".join(placeholders)


def parallel(function: Callable[[Any], Any], items: list[Any], workers: int = 8) -> list[Any]:
    """`function` over `items`, up to `workers` calls at once (boto3 clients are thread-safe): a
    run opens thousands of table runs, each its own conditional write."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(function, items))
