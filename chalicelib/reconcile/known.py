"""Which delivery GUIDs Spillway already has, for the reconciler ("known to Spillway").

A GUID that failed at GitHub is redelivered only if Spillway has no trace of it. Three places
can hold one, checked in this order, all read-only and none touching a queue's messages:

1. ``ledger`` -- the application database's ``webhook_deliveries`` (stored by a worker);
2. ``accepted`` -- the edge's dedup (idempotency) record, ``COMPLETED``: the edge queued the
   delivery, so it is in a queue or in the dead-letter queue. This covers accepted-but-not-yet-
   stored and dead-lettered deliveries on **both** backends without receiving from SQS: a
   receive would burn ``ApproximateReceiveCount`` (and could push valid messages towards the
   DLQ) and hide the message from the workers for a visibility timeout. Records live 4 days
   (``IDEMPOTENCY_TTL_S``), longer than GitHub's 3-day window. An ``INPROGRESS`` record does not
   count: the edge may have died before queueing (GitHub then shows a timeout), and redelivery
   is exactly what it needs; expired records are ignored as the edge ignores them;
3. ``dead_letter`` -- on the postgres backend the DLQ is a table (``queue_messages``), read by
   its ``delivery_id`` attribute: this catches a dead-lettered delivery whose dedup record could
   not be written (the edge accepts when the dedup store fails, ``DedupUnavailable``). On SQS
   the DLQ is not read (see 2).

Keys are ``(hook_id, guid)``: a GUID is shared by every hook subscribed to the event. A hook
configured without an id (``app``) matches any hook id.

The dedup key is Powertools idempotency's: ``"delivery#" + md5(json.dumps({"delivery_id",
"hook_id"}, sort_keys=True))`` (``BasePersistenceLayer._get_hashed_idempotency_key`` with
``key_prefix="delivery"``, as :func:`chalicelib.wiring.make_dedupe` configures it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.postgres.pool import pooled

#: DynamoDB BatchGetItem takes at most 100 keys (AWS DynamoDB API reference).
DYNAMO_BATCH = 100


def dedup_key(hook_id: str, guid: str) -> str:
    """The edge's idempotency record id for ``(hook_id, guid)``."""
    data = {"hook_id": hook_id, "delivery_id": guid}
    digest = hashlib.md5(json.dumps(data, sort_keys=True).encode(), usedforsecurity=False)
    return f"delivery#{digest.hexdigest()}"


def in_ledger(app_pool: Any, hook_id: str | None, guids: Sequence[str]) -> set[str]:
    """GUIDs of ``guids`` stored in ``webhook_deliveries`` for ``hook_id`` (any hook if None)."""
    if not guids:
        return set()
    sql = "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = ANY(%s)"
    params: tuple = (list(guids),)
    if hook_id is not None:
        sql, params = sql + " AND hook_id = %s", (*params, hook_id)
    with pooled(app_pool) as conn:
        return {row[0] for row in conn.execute(sql, params)}


class PgAccepted:
    """Dedup records and the DLQ table of the postgres backend (queue database ``pool``)."""

    def __init__(self, pool: Any, *, clock: Callable[[], float] = time.time):
        self._pool = pool
        self._clock = clock

    def accepted(self, hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        """GUID -> ``accepted`` / ``dead_letter`` for those the edge queued."""
        if not guids or hook_id is None:  # a hashed key needs the hook id
            return self._dead_lettered(hook_id, guids)
        keys = {dedup_key(hook_id, g): g for g in guids}
        with pooled(self._pool) as conn:
            rows = conn.execute(
                "SELECT id FROM idempotency_records WHERE id = ANY(%s) "
                "AND status = 'COMPLETED' AND expiration >= %s",
                (list(keys), int(self._clock()))).fetchall()
        found = {keys[r[0]]: "accepted" for r in rows}
        rest = [g for g in guids if g not in found]
        return {**self._dead_lettered(hook_id, rest), **found}

    def _dead_lettered(self, hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        if not guids:
            return {}
        sql = ("SELECT attributes->>'delivery_id' FROM queue_messages WHERE queue = 'dlq' "
               "AND attributes->>'delivery_id' = ANY(%s)")
        params: tuple = (list(guids),)
        if hook_id is not None:
            sql, params = sql + " AND coalesce(attributes->>'hook_id', '') = %s", (*params,
                                                                                 hook_id)
        with pooled(self._pool) as conn:
            return {row[0]: "dead_letter" for row in conn.execute(sql, params)}


class DynamoAccepted:
    """Dedup records in the DynamoDB idempotency table (``client``: boto3 DynamoDB client)."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time):
        self._client = client
        self._table = table
        self._clock = clock

    def accepted(self, hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        """GUID -> ``accepted`` for those with a COMPLETED, unexpired record. Raises
        :class:`~chalicelib.errors.DependencyError` (translated botocore errors)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.adapters.aws.errors import translate_aws_error

        if not guids or hook_id is None:
            return {}
        keys = {dedup_key(hook_id, g): g for g in guids}
        ids, found, now = list(keys), {}, int(self._clock())
        for start in range(0, len(ids), DYNAMO_BATCH):
            request = {self._table: {"Keys": [{"id": {"S": k}} for k in
                                              ids[start:start + DYNAMO_BATCH]],
                                     "ProjectionExpression": "id, #s, expiration",
                                     "ExpressionAttributeNames": {"#s": "status"}}}
            while request:
                try:
                    resp = self._client.batch_get_item(RequestItems=request)
                except (BotoCoreError, ClientError) as exc:
                    raise translate_aws_error(exc, f"dynamodb {self._table}") from exc
                for item in resp.get("Responses", {}).get(self._table, []):
                    if (item.get("status", {}).get("S") == "COMPLETED"
                            and int(item.get("expiration", {}).get("N", "0")) >= now):
                        found[keys[item["id"]["S"]]] = "accepted"
                request = resp.get("UnprocessedKeys") or None
        return found
