"""Which delivery GUIDs Spillway already has, for the reconciler ("known to Spillway").

A GUID that failed at GitHub is redelivered only if Spillway has proof of it. Three places
can hold one, checked in this order, all read-only and none touching a queue's messages:

1. ``ledger`` -- the application database's ``webhook_deliveries`` (stored by a worker);
2. ``dead_letter`` -- on the postgres backend the DLQ is a table (``queue_messages``), read by
   its ``delivery_id`` attribute. On SQS the DLQ is not read: a receive would burn
   ``ApproximateReceiveCount`` and hide the message from others for a visibility timeout;
3. ``accepted`` -- a ``COMPLETED`` dedup record (:meth:`chalicelib.dedup.DedupStore.accepted`,
   the same question on both backends), written by the Powertools edge *after* its send. The
   edge's own records (one conditional write *before* the send, :mod:`chalicelib.dedup`) are
   never proof: an edge that died between its write and its send leaves one, and the
   redelivery is exactly what that delivery needs -- the edge sends it again and the workers
   store it once. So a GUID still queued (or, on SQS, dead-lettered) is redelivered, which
   costs a message, never a second row.

Keys are ``(hook_id, guid)``: a GUID is shared by every hook subscribed to the event. A hook
configured without an id (``app``) matches any hook id. Record ids come from
:func:`chalicelib.dedup.record_id`, the edge's own function.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.postgres.pool import pooled


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
    """COMPLETED dedup records and the DLQ table of the postgres backend (queue database
    ``pool``)."""

    def __init__(self, pool: Any, *, clock: Callable[[], float] = time.time):
        from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer

        self._pool = pool
        self._records = PgIdempotencyLayer(pool)
        self._clock = clock

    def accepted(self, hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        """GUID -> ``dead_letter`` / ``accepted`` for those Spillway has proof of."""
        found = self._dead_lettered(hook_id, guids)
        rest = [g for g in guids if g not in found]
        return {**dict.fromkeys(self._records.accepted(hook_id, rest, self._clock()),
                                "accepted"), **found}

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
    """COMPLETED dedup records in the DynamoDB idempotency table (``client``: boto3 DynamoDB
    client)."""

    def __init__(self, client: Any, table: str, *, clock: Callable[[], float] = time.time):
        from chalicelib.adapters.aws.dynamo_dedup import DynamoDedup

        self._records = DynamoDedup(client, table)
        self._clock = clock

    def accepted(self, hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        """GUID -> ``accepted`` for those with a COMPLETED, unexpired record. Raises
        :class:`~chalicelib.errors.DedupUnavailable` (a ``DependencyError``)."""
        return dict.fromkeys(self._records.accepted(hook_id, list(guids), self._clock()),
                             "accepted")
