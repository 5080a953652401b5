"""Ledger accounting: how many ``webhook_deliveries`` rows the application database holds,
per delivery id. The one count the demo, the load test, ``replay`` and the tests use to prove
that no delivery was lost or stored twice (the Lambda functions never count the ledger); and
the recent rows ``spillway ledger`` lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.adapters.postgres.pool import make_pool, pooled
from chalicelib.errors import SpillwayError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool


@dataclass(frozen=True)
class LedgerCounts:
    """Ledger rows per delivery id (``per_delivery``; ids never stored are absent). More than
    one row for an id means it came through several hooks or was stored twice."""

    per_delivery: dict[str, int]

    @property
    def rows(self) -> int:
        """Ledger rows counted."""
        return sum(self.per_delivery.values())

    @property
    def distinct(self) -> int:
        """Distinct delivery ids among them."""
        return len(self.per_delivery)

    @property
    def duplicates(self) -> int:
        """Rows beyond the first per delivery id."""
        return self.rows - self.distinct

    @property
    def totals(self) -> tuple[int, int]:
        """``(rows, distinct)``: fewer distinct than asked means deliveries are missing; more
        rows than distinct means duplicates."""
        return self.rows, self.distinct

    def missing(self, delivery_ids: Sequence[str]) -> list[str]:
        """The ids of ``delivery_ids`` with no ledger row, in the order given."""
        return [d for d in delivery_ids if d not in self.per_delivery]


def ledger_counts(pool: ConnectionPool, delivery_ids: Sequence[str] | None = None
                  ) -> LedgerCounts:
    """Count the ledger rows of ``delivery_ids`` (None: of every delivery) through ``pool``
    (a ``psycopg_pool.ConnectionPool`` on the application database). Database errors raise
    :mod:`chalicelib.errors` (:func:`chalicelib.adapters.postgres.pool.pooled`)."""
    query = "SELECT delivery_id, count(*) FROM webhook_deliveries"
    params: tuple = ()
    if delivery_ids is not None:
        query += " WHERE delivery_id = ANY(%s)"
        params = (list(delivery_ids),)
    with pooled(pool) as conn:
        rows = conn.execute(query + " GROUP BY delivery_id", params).fetchall()
    return LedgerCounts(dict(rows))


def counts_or_reason(pool_factory, delivery_ids: Sequence[str] | None = None
                     ) -> tuple[LedgerCounts | None, str | None]:
    """:func:`ledger_counts` through the pool ``pool_factory()`` returns (e.g. the running
    stack's ``chalicelib.wiring.app_pool``, so no second pool competes for connection slots),
    as ``(counts, None)``; ``(None, reason)`` when it could not count: no free connection slot
    (``Throttled``), the database down (``DependencyUnavailable``), no database configured
    (``ConfigError``). Never raises a :class:`~chalicelib.errors.SpillwayError`."""
    try:
        return ledger_counts(pool_factory(), delivery_ids), None
    except SpillwayError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def ledger_counts_at(database_url: str, delivery_ids: Sequence[str] | None = None
                     ) -> LedgerCounts:
    """:func:`ledger_counts` over a one-connection pool opened on ``database_url`` for the
    call."""
    with make_pool(database_url, max_size=1) as pool:
        return ledger_counts(pool, delivery_ids)


def account(counts: LedgerCounts, accepted_ids: Sequence[str],
            dead_lettered_ids: Sequence[str] = ()) -> dict[str, int]:
    """The demo's accounting of ``accepted_ids`` (deliveries the edge answered 2xx):
    ``stored`` (ledger rows), ``dead_lettered`` (accepted ids waiting in the DLQ), ``missing``
    (neither stored nor dead-lettered) and ``duplicated`` (rows beyond the first per id)."""
    accepted = set(accepted_ids)
    dead = accepted & set(dead_lettered_ids)
    per = {d: n for d, n in counts.per_delivery.items() if d in accepted}
    return {"stored": sum(per.values()), "dead_lettered": len(dead),
            "missing": len(accepted - set(per) - dead),
            "duplicated": sum(n - 1 for n in per.values() if n > 1)}


#: Columns of :func:`recent_deliveries` rows; ``delay_s`` = processed_at - received_at, seconds.
RECENT_COLUMNS = ("delivery_id", "event", "action", "priority", "status", "attempts",
                  "received_at", "processed_at", "delay_s", "payload_bytes", "repository")


def recent_deliveries(pool: ConnectionPool, *, event: str | None = None,
                      since: datetime | None = None, limit: int = 20) -> list[dict]:
    """The ``limit`` most recently received ledger rows (newest first), of ``event`` only and
    received at or after ``since`` (an aware datetime) when given. Each row is a dict of
    :data:`RECENT_COLUMNS`: timestamps as aware datetimes, ``delay_s`` in seconds (from the
    edge accepting the delivery to the worker storing it), ``repository`` the payload's
    ``repository.full_name`` or None. Database errors raise :mod:`chalicelib.errors`."""
    where, params = [], []
    if event:
        where.append("event = %s")
        params.append(event)
    if since is not None:
        where.append("received_at >= %s")
        params.append(since)
    query = ("SELECT delivery_id, event, action, priority, status, attempts, received_at,"
             " processed_at, EXTRACT(EPOCH FROM processed_at - received_at)::float8,"
             " payload_bytes, payload #>> '{repository,full_name}' FROM webhook_deliveries"
             + (" WHERE " + " AND ".join(where) if where else "")
             + " ORDER BY received_at DESC, delivery_id LIMIT %s")
    with pooled(pool) as conn:
        rows = conn.execute(query, (*params, max(1, limit))).fetchall()
    return [dict(zip(RECENT_COLUMNS, row, strict=True)) for row in rows]
