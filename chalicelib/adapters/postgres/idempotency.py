"""The edge's dedup records in PostgreSQL (table ``idempotency_records``, ``migrations/queue``):
the ``postgres`` backend's :class:`chalicelib.dedup.DedupStore`.

A claim is one statement, one round trip: the record found (``prior``, read in the statement's
snapshot) and a conditional ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` whose condition is
:func:`chalicelib.dedup.takeover_allowed`. The write itself sees the latest committed row (it
waits for a concurrent writer's row lock), so when a concurrent claim won after the snapshot
the write is not made and ``prior`` may be absent or stale -- :func:`chalicelib.dedup.verdict`
then answers ``in_progress``, which is what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.adapters.postgres.state import delete_batch
from chalicelib.dedup import COMPLETED, INPROGRESS, Claim, Prior, record_id
from chalicelib.errors import DedupUnavailable, DependencyError

_CLAIM = """
WITH prior AS (
    SELECT status, expiration, in_progress_expiration, validation
    FROM idempotency_records WHERE id = %(id)s
), written AS (
    INSERT INTO idempotency_records AS r
        (id, status, expiration, in_progress_expiration, data, validation)
    VALUES (%(id)s, %(status)s, %(expiration)s, %(in_progress_expiration)s, NULL, %(validation)s)
    ON CONFLICT (id) DO UPDATE SET
        status = EXCLUDED.status, expiration = EXCLUDED.expiration,
        in_progress_expiration = EXCLUDED.in_progress_expiration, data = NULL,
        validation = EXCLUDED.validation
    WHERE r.expiration < %(now)s
       OR (r.status = %(status)s AND r.in_progress_expiration < %(now_ms)s
           AND r.validation = %(validation)s)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM written), p.status, p.expiration, p.in_progress_expiration,
       p.validation
FROM (SELECT 1) AS one LEFT JOIN prior AS p ON true
"""


class PgIdempotencyLayer:
    """Dedup records on the queue database's ``pool`` (a ``psycopg_pool.ConnectionPool``).
    Database errors raise :class:`DedupUnavailable` (``timed_out`` kept from the translated
    error, so the edge knows it waited out the pool)."""

    def __init__(self, pool: Any):
        self._pool = pool

    def claim(self, record_id: str, *, validation: str, now: float, in_progress_s: float,
              ttl_s: int) -> Claim:
        """One statement (see the module docstring)."""
        params = {"id": record_id, "status": INPROGRESS, "expiration": int(now) + ttl_s,
                  "in_progress_expiration": int((now + in_progress_s) * 1000),
                  "validation": validation, "now": int(now), "now_ms": int(now * 1000)}
        with _translated():
            with pooled(self._pool) as conn:
                written, status, expiration, ip, stored = conn.execute(_CLAIM, params).fetchone()
        prior = None if status is None else Prior(status=status, expiration=int(expiration or 0),
                                                   in_progress_expiration=ip,
                                                   validation=stored or "")
        return Claim(written=bool(written), prior=prior)

    def release(self, record_id: str) -> None:
        """Delete the record."""
        with _translated():
            with pooled(self._pool) as conn:
                conn.execute("DELETE FROM idempotency_records WHERE id = %s", (record_id,))

    def accepted(self, hook_id: str | None, guids: Sequence[str], now: float) -> set[str]:
        """GUIDs with an unexpired ``COMPLETED`` record (one ``SELECT``)."""
        if not guids or hook_id is None:
            return set()
        keys = {record_id(hook_id, g): g for g in guids}
        with _translated():
            with pooled(self._pool) as conn:
                rows = conn.execute(
                    "SELECT id FROM idempotency_records WHERE id = ANY(%s) AND status = %s "
                    "AND expiration >= %s", (list(keys), COMPLETED, int(now))).fetchall()
        return {keys[row[0]] for row in rows}

    def housekeep(self, now: float, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` records whose ``expiration`` (epoch seconds) is before ``now``
        (epoch seconds) -- expired records count as absent anyway, and DynamoDB
        TTL deletes them on the aws backend. One bounded ``DELETE`` through the
        ``expiration`` index (see ``state.delete_batch``); call again while it returns
        ``limit``. Returns the number deleted."""
        return delete_batch(self._pool, "idempotency_records", "expiration < %(now)s",
                            {"now": int(now)}, limit)


class _translated:
    """Turns a :class:`DependencyError` (from :func:`pooled`) into :class:`DedupUnavailable`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, DependencyError) and not isinstance(exc, DedupUnavailable):
            error = DedupUnavailable(f"dedup store: {exc}")
            error.timed_out = getattr(exc, "timed_out", False)
            raise error from exc
        return False
