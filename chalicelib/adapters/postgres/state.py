"""PostgreSQL adapter for :class:`~chalicelib.ports.StatePort` (the ``postgres`` backend):
table ``queue_state`` (``migrations/queue``), compare-and-set on ``version``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.errors import ConflictError
from chalicelib.ports import StateItem

_SELECT = "SELECT key, version, data, expires_at FROM queue_state"


class PgState:
    """:class:`~chalicelib.ports.StatePort` over PostgreSQL. ``pool``: a
    ``psycopg_pool.ConnectionPool``. A lost compare-and-set raises
    :class:`~chalicelib.errors.ConflictError`; psycopg errors are translated by ``pool.translate_pg_error``
    (``data`` containing U+0000 -> PermanentDependencyError, jsonb refuses it)."""

    def __init__(self, pool: Any):
        self._pool = pool

    def get(self, key: str) -> StateItem | None:
        """The item or None; expired items are returned."""
        with pooled(self._pool) as conn:
            row = conn.execute(f"{_SELECT} WHERE key = %s", (key,)).fetchone()
        return _item(row) if row else None

    def put(self, key: str, data: Mapping[str, Any], *, expected_version: int | None,
            expires_at: float | None = None) -> StateItem:
        """``INSERT ... ON CONFLICT DO NOTHING`` when ``expected_version`` is None, else
        ``UPDATE ... WHERE version = expected_version``; ConflictError when no row changed."""
        with pooled(self._pool) as conn:
            if expected_version is None:
                row = conn.execute(
                    "INSERT INTO queue_state (key, version, data, expires_at)"
                    " VALUES (%s, 1, %s, %s) ON CONFLICT (key) DO NOTHING"
                    " RETURNING key, version, data, expires_at",
                    (key, Jsonb(dict(data)), expires_at)).fetchone()
            else:
                row = conn.execute(
                    "UPDATE queue_state SET version = version + 1, data = %s, expires_at = %s"
                    " WHERE key = %s AND version = %s RETURNING key, version, data, expires_at",
                    (Jsonb(dict(data)), expires_at, key, expected_version)).fetchone()
        if row is None:
            raise ConflictError(f"state {key!r}: expected version {expected_version} lost")
        return _item(row)

    def delete(self, key: str, *, expected_version: int | None = None) -> None:
        """Delete (at ``expected_version`` when given: ConflictError if it differs or the item
        is absent)."""
        with pooled(self._pool) as conn:
            if expected_version is None:
                conn.execute("DELETE FROM queue_state WHERE key = %s", (key,))
                return
            cur = conn.execute("DELETE FROM queue_state WHERE key = %s AND version = %s",
                               (key, expected_version))
            if cur.rowcount == 0:
                raise ConflictError(f"state {key!r}: expected version {expected_version} lost")

    def scan(self, prefix: str) -> list[StateItem]:
        """Items whose key starts with ``prefix`` (literally: ``%`` and ``_`` are not
        wildcards), sorted by key."""
        with pooled(self._pool) as conn:
            rows = conn.execute(f"{_SELECT} WHERE starts_with(key, %s) ORDER BY key",
                                (prefix,)).fetchall()
        return [_item(r) for r in rows]


    def housekeep(self, now: float, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` items whose ``expires_at`` (epoch seconds) is ``<= now`` (as
        :meth:`StateItem.expired`) -- what DynamoDB TTL does on the aws backend. One bounded
        ``DELETE`` (rows chosen by ``ctid``, locked rows skipped), so a call never holds locks
        for long; call again while it returns ``limit``. Returns the number deleted. Items
        without ``expires_at`` are never deleted. ``limit < 1`` raises ValueError."""
        return delete_batch(self._pool, "queue_state",
                            "expires_at IS NOT NULL AND expires_at <= %(now)s",
                            {"now": float(now)}, limit)


def delete_batch(pool: Any, table: str, condition: str, params: Mapping[str, Any],
                 limit: int) -> int:
    """``DELETE`` at most ``limit`` rows of ``table`` matching the SQL ``condition`` (named
    ``%(...)s`` placeholders from ``params``; ``table`` and ``condition`` are our constants,
    never input) in one short transaction. The victims are picked by ``ctid`` with
    ``FOR UPDATE SKIP LOCKED``: rows a writer holds are left for the next pass instead of
    waited on. Returns the number deleted. Shared by the pg adapters' ``housekeep``."""
    if limit < 1:
        raise ValueError(f"housekeeping batch must be at least 1, got {limit}")
    sql = (f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
           f"SELECT ctid FROM {table} WHERE {condition}"
           f" LIMIT %(limit)s FOR UPDATE SKIP LOCKED)) AND {condition}")
    with pooled(pool) as conn:
        return conn.execute(sql, {**params, "limit": int(limit)}).rowcount


def _item(row: tuple[Any, ...]) -> StateItem:
    key, version, data, expires_at = row
    return StateItem(key=key, version=version, data=data, expires_at=expires_at)
