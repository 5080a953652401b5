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
from chalicelib.appdb.statements import (
    ALWAYS_COPIED,
    COLUMN_TYPES_SQL,
    LEDGER_MANY_SQL,
    LEDGER_SQL,
    Prepared,
    prepare,
    upsert_many_sql,
    upsert_sql,
)
from chalicelib.core.normalize import KEYS
from chalicelib.core.normalize.fold import Upsert, fold
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
        self._types: dict[str, dict[str, str]] | None = None

    def store(self, *, hook_id: str | None, delivery_id: str, event: str, action: str | None,
              priority: str, received_at: float, receive_count: int, payload: Any,
              payload_bytes: int, payload_text: str | None = None) -> bool:
        """Store one delivery: the ledger row and its normalized rows, in one transaction.

        ``received_at``: epoch seconds when the edge accepted the delivery. ``receive_count``:
        SQS ``ApproximateReceiveCount`` (stored as ``attempts``). ``payload``: the decoded JSON
        body (sanitized here: NUL and lone surrogates become U+FFFD). ``payload_bytes``: size of
        the body as received. ``hook_id`` ``None`` is stored as ``''``. ``payload_text``: the
        JSON text ``payload`` was parsed from; the ledger then keeps it as written (numbers
        exact), only NUL and lone surrogates replaced (``sanitized`` says so); without it the
        ledger gets ``payload`` re-encoded.

        Returns True if the delivery was stored now, False if ``(hook_id, delivery_id)`` was
        already stored (nothing is written then). Raises :class:`~chalicelib.errors.Throttled`,
        :class:`~chalicelib.errors.DependencyUnavailable` (retryable) or
        :class:`~chalicelib.errors.PermanentDependencyError` (the data can never be stored).
        """
        item = prepare(hook_id=hook_id, delivery_id=delivery_id, event=event, action=action,
                       priority=priority, received_at=received_at,
                       receive_count=receive_count, payload=payload,
                       payload_bytes=payload_bytes, payload_text=payload_text)
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

        Fast path, set-based: every ledger row in one statement (``RETURNING`` says which are
        new; a delivery repeated inside the batch is new once), then the new deliveries'
        normalized rows folded in Python under the precedence rules
        (:mod:`chalicelib.core.normalize.fold`: a row repeated across the batch is written
        once where that leaves the same end state), one multi-row statement per table and
        column set (arrays unnested server-side, prepared), rows sorted by key across the batch
        (the lock order every writer uses), pipelined with the commit: two round trips per
        batch. The end state is exactly that of :meth:`store` called per delivery in order.

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
        """One transaction for ``items``; returns the keys whose ledger row is new.

        Round trip 1: every ledger row in one statement (a delivery repeated in the batch is
        sent once, its first occurrence). Round trip 2 (pipelined, with the commit): the new
        deliveries' normalized rows folded (:func:`chalicelib.core.normalize.fold.fold`), one
        statement per round, table and column set, rows sorted by key."""
        firsts: dict[tuple[str, str], Prepared] = {}
        for item in items:
            firsts.setdefault(item.key, item)
        ledgers = [item.ledger for item in firsts.values()]
        with pooled(self._pool) as conn, conn.cursor() as cur:
            types = self._column_types(cur)
            cur.execute(LEDGER_MANY_SQL, [list(column) for column in zip(*ledgers, strict=True)],
                        prepare=True)
            new = {(row[0], row[1]) for row in cur.fetchall()}
            upserts = [Upsert(table, row, item.delivery_id, item.seen_at)
                       for item in firsts.values() if item.key in new
                       for table, rows in item.rows.tables() for row in rows]
            with conn.pipeline():
                for statement, params in _statements(fold(upserts, ALWAYS_COPIED), types):
                    cur.execute(statement, params, prepare=True)
        return new

    def _column_types(self, cur: Cursor) -> dict[str, dict[str, str]]:
        """``table -> column -> SQL type`` of the normalized tables (read once)."""
        if self._types is None:
            types: dict[str, dict[str, str]] = defaultdict(dict)
            for table, column, kind in cur.execute(COLUMN_TYPES_SQL, [list(KEYS)]).fetchall():
                types[table][column] = kind
            self._types = dict(types)
        return self._types

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


def _statements(rounds: list[list[Upsert]], types: dict[str, dict[str, str]]):
    """``(sql, parameters)`` per round, table (in :data:`KEYS` order) and column set: the
    rows' values column by column (:func:`~chalicelib.appdb.statements.upsert_many_sql`),
    rows sorted by key (the lock order every writer uses)."""
    from psycopg.types.json import Jsonb

    order = {table: n for n, table in enumerate(KEYS)}
    for upserts in rounds:
        groups: dict[tuple[str, tuple[str, ...]], list[Upsert]] = defaultdict(list)
        for u in upserts:
            groups[(u.table, tuple(u.row))].append(u)
        for (table, columns), group in sorted(groups.items(), key=lambda g: order[g[0][0]]):
            group.sort(key=lambda u, t=table: tuple(_sortable(u.row[k]) for k in KEYS[t]))
            kinds = tuple(types[table][c] for c in columns)
            params: list[list] = []
            for column, kind in zip(columns, kinds, strict=True):
                values = [u.row[column] for u in group]
                if kind.endswith("[]"):
                    values = [None if v is None else Jsonb(v) for v in values]
                params.append(values)
            params.append([u.delivery_id for u in group])
            params.append([u.seen_at for u in group])
            yield upsert_many_sql(table, columns, kinds), params
