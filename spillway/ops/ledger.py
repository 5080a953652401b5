"""Ledger accounting: how many ``webhook_deliveries`` rows the application database holds,
per delivery id. The one count the demo, the load test and the tests use to prove that no
delivery was lost or stored twice (the Lambda functions never count the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
