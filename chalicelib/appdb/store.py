"""The application database writer (:class:`AppDatabase`): the delivery ledger plus
normalized upserts, one delivery (:meth:`~AppDatabase.store`) or one batch
(:meth:`~AppDatabase.store_batch`) at a time.

Schema: ``migrations/app/`` (apply with ``spillway.migrate.migrate(url)``). The statements and
the out-of-order rule: :mod:`chalicelib.appdb.statements`.

Idempotency key: ``(hook_id, delivery_id)``. The ledger row is inserted and, only when that row
is new, the normalized rows, in the same transaction. A redelivered message (SQS is
at-least-once) therefore stores nothing twice and re-applies no upsert.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.appdb.statements import LEDGER_SQL, Prepared, prepare, upsert_sql
from chalicelib.core.normalize import KEYS
from chalicelib.errors import DependencyUnavailable

if TYPE_CHECKING:
    from psycopg import Cursor
    from psycopg_pool import ConnectionPool

#: What :meth:`AppDatabase.store_batch` says per delivery: True stored now, False already
#: stored (a duplicate), an exception (that delivery failed), None (not attempted: an earlier
#: delivery found the database unusable; store it again later).
Outcome = bool | Exception | None


class AppDatabase:
    """Writes deliveries to the application database through a ``psycopg_pool.ConnectionPool``
    (see :func:`chalicelib.adapters.postgres.pool.make_pool`). Thread-safe as the pool is."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def store(self, *, hook_id: str | None, delivery_id: str, event: str, action: str | None,
              priority: str, received_at: float, receive_count: int, payload: Any,
              payload_bytes: int) -> bool:
        """Store one delivery: the ledger row and its normalized rows, in one transaction.

        ``received_at``: epoch seconds when the edge accepted the delivery. ``receive_count``:
        SQS ``ApproximateReceiveCount`` (stored as ``attempts``). ``payload``: the decoded JSON
        body (sanitized here: NUL and lone surrogates become U+FFFD). ``payload_bytes``: size of
        the body as received. ``hook_id`` ``None`` is stored as ``''``.

        Returns True if the delivery was stored now, False if ``(hook_id, delivery_id)`` was
        already stored (nothing is written then). Raises :class:`~chalicelib.errors.Throttled`,
        :class:`~chalicelib.errors.DependencyUnavailable` (retryable) or
        :class:`~chalicelib.errors.PermanentDependencyError` (the data can never be stored).
        """
        item = prepare(hook_id=hook_id, delivery_id=delivery_id, event=event, action=action,
                       priority=priority, received_at=received_at,
                       receive_count=receive_count, payload=payload,
                       payload_bytes=payload_bytes)
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(LEDGER_SQL, item.ledger)
            if cur.fetchone() is None:
                return False
            with conn.pipeline():
                _upsert(cur, [item])
        return True

    def store_batch(self, deliveries: list[dict[str, Any]]) -> list[Outcome]:
        """Store a batch (each dict holds :meth:`store`'s keyword arguments) in one
        transaction; returns one :data:`Outcome` per delivery, in order.

        Fast path: every ledger row in one pipelined ``executemany`` (``RETURNING`` says
        which are new; a delivery repeated inside the batch is new once), then the new
        deliveries' normalized rows, one pipelined ``executemany`` per table and column set,
        rows sorted by key across the batch (the lock order every writer uses), then one
        commit: three round trips per batch instead of three per delivery. The version key
        makes the upserts' order irrelevant (:mod:`chalicelib.core.normalize.precedence`).

        Any failure aborts that transaction (nothing of it is kept) and the batch is stored
        again one delivery at a time with :meth:`store`, so one bad delivery never fails its
        neighbours: its outcome is its own exception (a row lock timing out is
        :class:`~chalicelib.errors.Throttled` for that delivery only). Except when the failure
        says the database is unreachable (:class:`~chalicelib.errors.DependencyUnavailable`):
        then only the first delivery carries it and the rest are None (not attempted), so the
        caller pays one connect wait per batch, not one per delivery, as the worker does one
        at a time. The fallback stops the same way at its first ``DependencyUnavailable``.
        """
        outcomes: list[Outcome] = [None] * len(deliveries)
        items: list[tuple[int, Prepared]] = []
        for i, fields in enumerate(deliveries):
            try:
                items.append((i, prepare(**fields)))
            except Exception as exc:  # noqa: BLE001 -- that delivery's own outcome
                outcomes[i] = exc
        if not items:
            return outcomes
        try:
            new = self._store_prepared([item for _, item in items])
        except Exception as exc:  # noqa: BLE001 -- decided below, per delivery
            if isinstance(exc, DependencyUnavailable):
                outcomes[items[0][0]] = exc
                return outcomes
            return self._one_at_a_time(deliveries, outcomes)
        seen: set[tuple[str, str]] = set()
        for i, item in items:
            outcomes[i] = item.key in new and item.key not in seen
            seen.add(item.key)
        return outcomes

    def _store_prepared(self, items: list[Prepared]) -> set[tuple[str, str]]:
        """One transaction for ``items``; returns the keys whose ledger row is new."""
        with pooled(self._pool) as conn, conn.cursor() as cur:
            with conn.pipeline():
                cur.executemany(LEDGER_SQL, [item.ledger for item in items], returning=True)
                new: set[tuple[str, str]] = set()
                while True:
                    row = cur.fetchone()
                    if row is not None:
                        new.add((row[0], row[1]))
                    if not cur.nextset():
                        break
                _upsert(cur, [item for item in items if item.key in new])
        return new

    def _one_at_a_time(self, deliveries: list[dict[str, Any]],
                       outcomes: list[Outcome]) -> list[Outcome]:
        for i, fields in enumerate(deliveries):
            if isinstance(outcomes[i], Exception):  # could not even be prepared
                continue
            try:
                outcomes[i] = self.store(**fields)
            except Exception as exc:  # noqa: BLE001 -- that delivery's own outcome
                outcomes[i] = exc
                if isinstance(exc, DependencyUnavailable):
                    break
        return outcomes


def _upsert(cur: Cursor, items: list[Prepared]) -> None:
    """The normalized rows of ``items``: one ``executemany`` per (table, columns), in table
    order, rows sorted by key within a table (call inside ``conn.pipeline()``)."""
    groups: dict[tuple[str, tuple[str, ...]], list[tuple]] = defaultdict(list)
    order: dict[str, int] = {}
    for item in items:
        for table, columns, params in item.upserts():
            order.setdefault(table, len(order))
            groups[(table, columns)].append(params)
    for (table, columns), params in sorted(groups.items(), key=lambda g: order[g[0][0]]):
        positions = [columns.index(k) for k in KEYS[table]]
        params.sort(key=lambda p, pos=positions: tuple(_sortable(p[i]) for i in pos))
        cur.executemany(upsert_sql(table, columns), params)


def _sortable(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))
