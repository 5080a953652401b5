"""Housekeeping of the ``postgres`` backend: delete what has expired, as the aws backend's
DynamoDB TTL (state, idempotency records) and S3 lifecycle rule (claim checks) do by themselves.

* ``idempotency_records`` whose ``expiration`` (epoch seconds) has passed
  (Powertools idempotency, ``PgIdempotencyLayer``);
* ``blobs`` (claim checks) stored more than ``blob_retention_days`` (default 14, the S3
  lifecycle rule in ``infra/template.yaml``) ago (``PgBlob``);
* ``queue_state`` items whose ``expires_at`` has passed, e.g. breaker audit records (``PgState``).

Each table is cleared in batches of at most ``batch`` rows, one short ``DELETE`` transaction
each, so no call holds locks for long. Operator tooling, run from cron or by hand as
``spillway db housekeep`` (``spillway.commands.db``); never imported by the Lambda handlers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.postgres.blob import RETENTION_DAYS, PgBlob
from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer
from chalicelib.adapters.postgres.state import PgState


def housekeep(pool: Any, now: Callable[[], float] = time.time, batch: int = 10_000, *,
              blob_retention_days: float = RETENTION_DAYS) -> dict[str, int]:
    """Delete every expired row of the queue database behind ``pool`` (a
    ``psycopg_pool.ConnectionPool`` with ``migrations/queue`` applied).

    ``now``: clock, epoch seconds, read once (rows expiring during the run wait for the next).
    ``batch``: rows per ``DELETE`` (>= 1, else ValueError); a table is done when a batch comes
    back short. Returns ``{"idempotency_records": n, "blobs": n, "queue_state": n}``, the rows
    deleted from each. Database errors raise :mod:`chalicelib.errors` (``chalicelib.adapters.postgres.pool.pooled``);
    batches already deleted stay deleted.
    """
    t = now()
    idempotency, blobs, state = PgIdempotencyLayer(pool), PgBlob(pool), PgState(pool)
    steps: dict[str, Callable[[], int]] = {
        "idempotency_records": lambda: idempotency.housekeep(t, limit=batch),
        "blobs": lambda: blobs.housekeep(t, older_than_days=blob_retention_days, limit=batch),
        "queue_state": lambda: state.housekeep(t, limit=batch),
    }
    counts: dict[str, int] = {}
    for table, step in steps.items():
        total = deleted = step()
        while deleted == batch:
            deleted = step()
            total += deleted
        counts[table] = total
    return counts

