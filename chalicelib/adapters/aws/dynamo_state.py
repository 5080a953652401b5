"""DynamoDB adapter for :class:`~chalicelib.ports.StatePort` (the ``aws`` backend).

Item layout in the ``<prefix>-state`` table (hash key ``id``, S): ``version`` (N), ``data``
(S, JSON text), ``expires_at`` (N, epoch seconds, optional) and ``ttl`` (N, integer epoch
seconds, optional) for DynamoDB TTL. TTL deletes "within days" (AWS DynamoDB docs, TTL), so
expiry is checked in code against ``expires_at``; ``ttl`` is housekeeping only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chalicelib.adapters.aws.errors import translate_aws_errors
from chalicelib.ports import StateItem

T = TypeVar("T")


class DynamoState:
    """:class:`~chalicelib.ports.StatePort` over one DynamoDB table, compare-and-set by a
    ``ConditionExpression`` on ``version``.

    Errors: a failed condition raises :class:`~chalicelib.errors.ConflictError`; throttling
    :class:`~chalicelib.errors.Throttled`; other botocore errors as in ``errors``.
    """

    def __init__(self, dynamodb_client: Any, table_name: str):
        self._ddb = dynamodb_client
        self._table = table_name

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        with translate_aws_errors(f"{what} {self._table}"):
            return fn(TableName=self._table, **kwargs)

    def get(self, key: str) -> StateItem | None:
        """Strongly consistent ``GetItem``; expired items are returned."""
        resp = self._call("get_item", self._ddb.get_item, Key={"id": {"S": key}},
                          ConsistentRead=True)
        item = resp.get("Item")
        return _from_item(item) if item else None

    def put(self, key: str, data: Mapping[str, Any], *, expected_version: int | None,
            expires_at: float | None = None) -> StateItem:
        """Conditional ``PutItem``: ``attribute_not_exists(id)`` when ``expected_version`` is
        None, else ``version = :expected``. Returns the item at ``expected_version + 1`` (1 for
        a new item). Raises ConflictError when the condition fails."""
        version = 1 if expected_version is None else expected_version + 1
        item: dict[str, Any] = {"id": {"S": key}, "version": {"N": str(version)},
                                "data": {"S": json.dumps(dict(data), separators=(",", ":"))}}
        if expires_at is not None:
            item["expires_at"] = {"N": repr(float(expires_at))}
            item["ttl"] = {"N": str(math.ceil(expires_at))}
        if expected_version is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(id)"}
        else:
            cond = {"ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}}}
        self._call("put_item", self._ddb.put_item, Item=item, **cond)
        return StateItem(key=key, version=version, data=json.loads(item["data"]["S"]),
                         expires_at=None if expires_at is None else float(expires_at))

    def delete(self, key: str, *, expected_version: int | None = None) -> None:
        """``DeleteItem``, conditional on ``version`` when ``expected_version`` is given
        (ConflictError if it differs or the item is absent)."""
        cond: dict[str, Any] = {}
        if expected_version is not None:
            cond = {"ConditionExpression": "version = :expected",
                    "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}}}
        self._call("delete_item", self._ddb.delete_item, Key={"id": {"S": key}}, **cond)

    def scan(self, prefix: str) -> list[StateItem]:
        """Paginated consistent ``Scan`` with ``begins_with(id, :prefix)``; sorted by key.
        Reads the whole table: operator tooling and small tables only."""
        items: list[StateItem] = []
        kwargs: dict[str, Any] = {"FilterExpression": "begins_with(id, :prefix)",
                                  "ExpressionAttributeValues": {":prefix": {"S": prefix}},
                                  "ConsistentRead": True}
        while True:
            resp = self._call("scan", self._ddb.scan, **kwargs)
            items.extend(_from_item(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return sorted(items, key=lambda i: i.key)


def _from_item(item: Mapping[str, Any]) -> StateItem:
    expires = item.get("expires_at")
    return StateItem(key=item["id"]["S"], version=int(item["version"]["N"]),
                     data=json.loads(item.get("data", {}).get("S", "{}")),
                     expires_at=float(expires["N"]) if expires else None)
