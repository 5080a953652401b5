"""Powertools idempotency records in PostgreSQL: the ``postgres`` backend's stand-in for
``DynamoDBPersistenceLayer`` (table ``idempotency_records``, ``migrations/queue``).

Mirrors ``aws_lambda_powertools.utilities.idempotency.persistence.dynamodb`` (3.37): a record
may be (re)written when absent, when expired (``expiration`` < now, epoch seconds), or when it is
``INPROGRESS`` with an expired ``in_progress_expiration`` (epoch milliseconds); otherwise
``IdempotencyItemAlreadyExistsError`` carries the stored record, after payload validation. The
conditional write is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import STATUS_CONSTANTS
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.adapters.postgres.state import delete_batch

_COLUMNS = "id, status, expiration, in_progress_expiration, data, validation"

_PUT = f"""
INSERT INTO idempotency_records AS r ({_COLUMNS})
VALUES (%(id)s, %(status)s, %(expiration)s, %(in_progress_expiration)s, NULL, %(validation)s)
ON CONFLICT (id) DO UPDATE SET
    status = EXCLUDED.status, expiration = EXCLUDED.expiration,
    in_progress_expiration = EXCLUDED.in_progress_expiration, data = NULL,
    validation = EXCLUDED.validation
WHERE r.expiration < %(now)s
   OR (r.status = %(inprogress)s AND r.in_progress_expiration IS NOT NULL
       AND r.in_progress_expiration < %(now_ms)s)
RETURNING id
"""


class PgIdempotencyLayer(BasePersistenceLayer):
    """Powertools ``BasePersistenceLayer`` over PostgreSQL.

    ``pool``: a ``psycopg_pool.ConnectionPool`` on the queue database. ``now``: clock for the
    expiry condition, epoch seconds (Powertools itself stamps records with the wall clock).
    Use exactly like ``DynamoDBPersistenceLayer``::

        @idempotent_function(data_keyword_argument="event",
                             persistence_store=PgIdempotencyLayer(pool), config=config)

    Database errors surface as :mod:`chalicelib.errors` (wrapped by Powertools in
    ``IdempotencyPersistenceLayerError``).
    """

    def __init__(self, pool: Any, *, now: Callable[[], float] = time.time):
        super().__init__()
        self._pool = pool
        self._now = now

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with pooled(self._pool) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM idempotency_records WHERE id = %s",
                               (idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemNotFoundError
        return _record(row)

    def _put_record(self, data_record: DataRecord) -> None:
        now = self._now()
        validation = (data_record.payload_hash
                      if self.payload_validation_enabled and data_record.payload_hash else None)
        params = {"id": data_record.idempotency_key, "status": data_record.status,
                  "expiration": data_record.expiry_timestamp,
                  "in_progress_expiration": data_record.in_progress_expiry_timestamp,
                  "validation": validation, "now": int(now), "now_ms": int(now * 1000),
                  "inprogress": STATUS_CONSTANTS["INPROGRESS"]}
        with pooled(self._pool) as conn:
            if conn.execute(_PUT, params).fetchone() is not None:
                return
            # The conflicting row is locked by ON CONFLICT: read the record that won.
            row = conn.execute(f"SELECT {_COLUMNS} FROM idempotency_records WHERE id = %s",
                               (data_record.idempotency_key,)).fetchone()
        if row is None:
            raise IdempotencyItemAlreadyExistsError()
        old = _record(row)
        self._validate_payload(data_payload=data_record, stored_data_record=old)
        self._save_to_cache(data_record=old)
        raise IdempotencyItemAlreadyExistsError(old_data_record=old)

    def _update_record(self, data_record: DataRecord) -> None:
        sets = "data = %(data)s, expiration = %(expiration)s, status = %(status)s"
        if self.payload_validation_enabled:
            sets += ", validation = %(validation)s"
        with pooled(self._pool) as conn:
            conn.execute(f"UPDATE idempotency_records SET {sets} WHERE id = %(id)s",
                         {"id": data_record.idempotency_key, "data": data_record.response_data,
                          "expiration": data_record.expiry_timestamp,
                          "status": data_record.status,
                          "validation": data_record.payload_hash})

    def _delete_record(self, data_record: DataRecord) -> None:
        with pooled(self._pool) as conn:
            conn.execute("DELETE FROM idempotency_records WHERE id = %s",
                         (data_record.idempotency_key,))


    def housekeep(self, now: float, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` records whose ``expiration`` (epoch seconds) is before ``now``
        (epoch seconds) -- expired records count as absent anyway, and DynamoDB
        TTL deletes them on the aws backend. One bounded ``DELETE`` through the
        ``expiration`` index (see ``state.delete_batch``); call again while it returns
        ``limit``. Returns the number deleted."""
        return delete_batch(self._pool, "idempotency_records", "expiration < %(now)s",
                            {"now": int(now)}, limit)


def _record(row: tuple[Any, ...]) -> DataRecord:
    key, status, expiration, in_progress_expiration, data, validation = row
    return DataRecord(idempotency_key=key, status=status, expiry_timestamp=expiration,
                      in_progress_expiry_timestamp=in_progress_expiration,
                      response_data=data or "", payload_hash=validation or "")
