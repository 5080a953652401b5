"""The edge's dedup records in the DynamoDB idempotency table (``<prefix>-idempotency``, key
``id``): one ``PutItem`` per claim (:class:`chalicelib.dedup.DedupStore`).

The condition is :func:`chalicelib.dedup.takeover_allowed` in DynamoDB's words; ``ReturnValues``
and ``ReturnValuesOnConditionCheckFailure`` are ``ALL_OLD``, so the record a claim replaced or
lost to comes back with the same request (no extra read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.aws.errors import translate_aws_error
from chalicelib.dedup import COMPLETED, INPROGRESS, Claim, Prior, record_id
from chalicelib.errors import DedupUnavailable

#: DynamoDB BatchGetItem takes at most 100 keys (AWS DynamoDB API reference).
DYNAMO_BATCH = 100

_CONDITION = ("attribute_not_exists(id) OR expiration < :now OR (#s = :inprogress AND "
              "in_progress_expiration < :now_ms AND validation = :v)")


class DynamoDedup:
    """Dedup records over a boto3 DynamoDB ``client`` in ``table``. Errors raise
    :class:`DedupUnavailable` from the translated botocore error."""

    def __init__(self, client: Any, table: str):
        self._client = client
        self._table = table

    def claim(self, record_id: str, *, validation: str, now: float, in_progress_s: float,
              ttl_s: int) -> Claim:
        """One conditional ``PutItem`` (see :meth:`chalicelib.dedup.DedupStore.claim`)."""
        from botocore.exceptions import BotoCoreError, ClientError

        item = {"id": {"S": record_id}, "status": {"S": INPROGRESS},
                "expiration": {"N": str(int(now) + ttl_s)},
                "in_progress_expiration": {"N": str(int((now + in_progress_s) * 1000))},
                "validation": {"S": validation}}
        try:
            resp = self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression=_CONDITION,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":now": {"N": str(int(now))},
                                           ":now_ms": {"N": str(int(now * 1000))},
                                           ":inprogress": {"S": INPROGRESS},
                                           ":v": {"S": validation}},
                ReturnValues="ALL_OLD", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return Claim(written=False, prior=_prior(exc.response.get("Item")))
            raise self._unavailable(exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc
        return Claim(written=True, prior=_prior(resp.get("Attributes")))

    def release(self, record_id: str) -> None:
        """``DeleteItem`` of the record."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_item(TableName=self._table, Key={"id": {"S": record_id}})
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc) from exc

    def accepted(self, hook_id: str | None, guids: list[str], now: float) -> set[str]:
        """GUIDs with an unexpired ``COMPLETED`` record (``BatchGetItem``, 100 keys a request)."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not guids or hook_id is None:
            return set()
        keys = {record_id(hook_id, g): g for g in guids}
        ids, found = list(keys), set()
        for start in range(0, len(ids), DYNAMO_BATCH):
            request = {self._table: {"Keys": [{"id": {"S": k}} for k in
                                              ids[start:start + DYNAMO_BATCH]],
                                     "ProjectionExpression": "id, #s, expiration",
                                     "ExpressionAttributeNames": {"#s": "status"}}}
            while request:
                try:
                    resp = self._client.batch_get_item(RequestItems=request)
                except (BotoCoreError, ClientError) as exc:
                    raise self._unavailable(exc) from exc
                for item in resp.get("Responses", {}).get(self._table, []):
                    if (item.get("status", {}).get("S") == COMPLETED
                            and int(item.get("expiration", {}).get("N", "0")) >= int(now)):
                        found.add(keys[item["id"]["S"]])
                request = resp.get("UnprocessedKeys") or None
        return found

    def _unavailable(self, exc: BaseException) -> DedupUnavailable:
        """``DedupUnavailable`` for the botocore error ``exc`` (its translation's message and
        ``timed_out``)."""
        cause = translate_aws_error(exc, f"dynamodb {self._table}")
        error = DedupUnavailable(f"dedup store: {cause}")
        error.timed_out = getattr(cause, "timed_out", False)
        return error


def _prior(item: Mapping[str, Any] | None) -> Prior | None:
    if not item:
        return None
    ip = item.get("in_progress_expiration", {}).get("N")
    return Prior(status=item.get("status", {}).get("S", ""),
                 expiration=int(item.get("expiration", {}).get("N", "0")),
                 in_progress_expiration=int(ip) if ip is not None else None,
                 validation=item.get("validation", {}).get("S", ""))
