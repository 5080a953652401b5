"""PostgreSQL adapter for :class:`~chalicelib.ports.BlobPort`: claim checks in the ``blobs``
table (``migrations/queue``). References look like ``pg://blobs/<key>``."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.adapters.postgres.state import delete_batch
from chalicelib.errors import NotFound

PREFIX = "pg://blobs/"
#: Days a claim-check blob is kept: the S3 lifecycle rule's ``ExpirationInDays`` in
#: infra/template.yaml (a delivery older than that has left the queues and the DLQ's 14 days).
RETENTION_DAYS = 14.0


class PgBlob:
    """:class:`~chalicelib.ports.BlobPort` over PostgreSQL ``bytea`` (up to 1 GB a value,
    PostgreSQL docs). ``pool``: a ``psycopg_pool.ConnectionPool``."""

    def __init__(self, pool: Any):
        self._pool = pool

    @staticmethod
    def _key(ref: str) -> str:
        if not ref.startswith(PREFIX) or len(ref) == len(PREFIX):
            raise NotFound(f"not a pg:// claim-check reference: {ref!r}")
        return ref[len(PREFIX):]

    def put(self, key: str, data: bytes) -> str:
        """Store (or overwrite) ``data`` under ``key``; returns ``pg://blobs/<key>``."""
        with pooled(self._pool) as conn:
            conn.execute("INSERT INTO blobs (key, data) VALUES (%s, %s) ON CONFLICT (key)"
                         " DO UPDATE SET data = EXCLUDED.data, created_at = clock_timestamp()",
                         (key, bytes(data)))
        return PREFIX + key

    def get(self, ref: str) -> bytes:
        """The stored bytes. Raises :class:`NotFound` for a missing blob or a bad reference."""
        key = self._key(ref)
        with pooled(self._pool) as conn:
            row = conn.execute("SELECT data FROM blobs WHERE key = %s", (key,)).fetchone()
        if row is None:
            raise NotFound(f"no blob {ref!r}")
        return bytes(row[0])

    def delete(self, ref: str) -> None:
        """Delete the blob (a missing one is not an error)."""
        key = self._key(ref)
        with pooled(self._pool) as conn:
            conn.execute("DELETE FROM blobs WHERE key = %s", (key,))

    def housekeep(self, now: float, *, older_than_days: float = RETENTION_DAYS,
                  limit: int = 10_000) -> int:
        """Delete up to ``limit`` blobs stored (``created_at``, set by the server on each put)
        before ``now - older_than_days`` (``now`` epoch seconds, default 14 days as the S3
        lifecycle rule). One bounded ``DELETE`` (see ``state.delete_batch``); call again
        while it returns ``limit``. Returns the number deleted."""
        return delete_batch(self._pool, "blobs", "created_at < to_timestamp(%(cutoff)s)",
                            {"cutoff": float(now) - older_than_days * 86_400.0}, limit)
