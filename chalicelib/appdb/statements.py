"""The SQL the application database writer runs: the ledger insert and one upsert per
normalized table and column set, plus :func:`prepare` (a delivery's parameters, pure).

Out-of-order deliveries: a normalized row only moves forward. An upsert updates an existing
row only when the new version's key (event time, tie rank, ``last_seen_at``, delivery id; see
:mod:`chalicelib.core.normalize.precedence`) is ``>=`` the stored one, so any arrival order of
the same deliveries ends in the same row. Columns a payload omits (``NULL``) keep their stored
value, except those that legitimately become empty (:data:`CLEARABLE`). Pushes and commits are
immutable: first writer wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

from chalicelib.appdb.sanitize import sanitize
from chalicelib.core.normalize import KEYS, NormalizedRows, normalize
from chalicelib.core.normalize.precedence import version_key_sql

#: Columns copied even when the new value is NULL (reopened issue: closed_at back to NULL).
CLEARABLE = frozenset({"closed_at", "merged_at", "merged_by_id", "state_reason", "body",
                       "language", "starred_at"})

#: Tables whose rows never change once written.
IMMUTABLE = frozenset({"pushes", "commits"})

#: Bookkeeping columns the store adds to every normalized row.
TRAILER = ("last_delivery_id", "last_seen_at")

LEDGER_SQL = """
INSERT INTO webhook_deliveries
    (hook_id, delivery_id, event, action, priority, received_at, attempts, payload,
     payload_bytes, sanitized)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (hook_id, delivery_id) DO NOTHING
RETURNING hook_id, delivery_id
"""

_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=64)
def upsert_sql(table: str, columns: tuple[str, ...]) -> str:
    """The ``INSERT ... ON CONFLICT`` statement for ``table`` with ``columns`` (+ trailer),
    positional ``%s`` parameters. Identifiers come from :mod:`chalicelib.core.normalize`, never from
    a payload, and are quoted anyway."""
    from psycopg import sql

    cols = (*columns, *TRAILER)
    ident = [sql.Identifier(c) for c in cols]
    key = sql.SQL(", ").join(sql.Identifier(c) for c in KEYS[table])
    head = sql.SQL("INSERT INTO {t} AS t ({cols}) VALUES ({vals}) ON CONFLICT ({key}) ").format(
        t=sql.Identifier(table), cols=sql.SQL(", ").join(ident),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(cols)), key=key)
    if table in IMMUTABLE:
        return head.as_string(None) + "DO NOTHING"
    sets = []
    for col, name in zip(cols, ident, strict=True):
        if col in KEYS[table]:
            continue
        if col in CLEARABLE or col in TRAILER or col == "updated_at":
            sets.append(sql.SQL("{c} = excluded.{c}").format(c=name))
        else:
            sets.append(sql.SQL("{c} = coalesce(excluded.{c}, t.{c})").format(c=name))
    tail = sql.SQL("DO UPDATE SET {sets} WHERE {new} >= {old}").format(
        sets=sql.SQL(", ").join(sets), new=sql.SQL(version_key_sql(table, "excluded")),
        old=sql.SQL(version_key_sql(table, "t")))
    return (head + tail).as_string(None)


@dataclass(frozen=True)
class Prepared:
    """One delivery ready to write: ``ledger`` (the :data:`LEDGER_SQL` parameters), its
    normalized ``rows``, and the trailer values ``delivery_id`` / ``seen_at``."""

    key: tuple[str, str]
    ledger: tuple
    rows: NormalizedRows
    delivery_id: str
    seen_at: datetime

    def upserts(self) -> list[tuple[str, tuple[str, ...], tuple]]:
        """``(table, columns, parameters)`` per normalized row, tables in a fixed order and
        rows sorted by key (so concurrent writers lock rows in the same order)."""
        out = []
        for table, table_rows in self.rows.tables():
            for row in table_rows:
                columns = tuple(row)
                out.append((table, columns,
                            (*(row[c] for c in columns), self.delivery_id, self.seen_at)))
        return out


def prepare(*, hook_id: str | None, delivery_id: str, event: str, action: str | None,
            priority: str, received_at: float, receive_count: int, payload: Any,
            payload_bytes: int) -> Prepared:
    """Sanitize and normalize one delivery (fields as :meth:`AppDatabase.store` takes them)."""
    from psycopg.types.json import Jsonb

    clean, changed = sanitize(payload)
    (hook_id, delivery_id, event, action, priority), _ = sanitize(
        [hook_id or "", delivery_id, event, action, priority])
    seen_at = datetime.fromtimestamp(received_at, tz=UTC)
    ledger = (hook_id, delivery_id, event, action, priority, seen_at, receive_count,
              Jsonb(clean, dumps=_dumps), payload_bytes, changed)
    return Prepared((hook_id, delivery_id), ledger, normalize(event, clean), delivery_id,
                    seen_at)
