"""PostgreSQL adapter for :class:`~chalicelib.ports.StatePort` (the ``postgres`` backend):
table ``queue_state`` (``migrations/queue``), compare-and-set on ``version``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb

from chalicelib.adapters.pg_pool import pooled
from chalicelib.errors import ConflictError
from chalicelib.ports import StateItem

_SELECT = "SELECT key, version, data, expires_at FROM queue_state"


class PgState:
    """:class:`~chalicelib.ports.StatePort` over PostgreSQL. ``pool``: a
    ``psycopg_pool.ConnectionPool``. A lost compare-and-set raises
    :class:`~chalicelib.errors.ConflictError`; psycopg errors are translated by ``pg_pool.translate_pg_error``
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


def _item(row: tuple[Any, ...]) -> StateItem:
    key, version, data, expires_at = row
    return StateItem(key=key, version=version, data=data, expires_at=expires_at)
