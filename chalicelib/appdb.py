"""The application database writer: the delivery ledger plus normalized upserts, and the rule
that makes a payload storable in PostgreSQL (:func:`sanitize`).

Schema: ``migrations/app/`` (apply with ``spillway.migrate.migrate(url)``).

Idempotency key: ``(hook_id, delivery_id)``. :meth:`AppDatabase.store` inserts the ledger
row and, only when that row is new, the normalized rows, in one transaction. A redelivered
message (SQS is at-least-once) therefore stores nothing twice and re-applies no upsert.

Out-of-order deliveries: a normalized row only moves forward. An upsert updates an existing
row only when the new version's key (event time, tie rank, ``last_seen_at``, delivery id; see
:mod:`chalicelib.core.normalize.precedence`) is ``>=`` the stored one, so any arrival order of
the same deliveries ends in the same row.
Columns a payload omits (``NULL``) keep their stored value, except those that legitimately
become empty (:data:`CLEARABLE`). Pushes and commits are immutable: first writer wins.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.postgres.pool import pooled
from chalicelib.core.normalize import KEYS, normalize
from chalicelib.core.normalize.precedence import version_key_sql

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

# --- sanitize: what PostgreSQL can store ------------------------------------------------------
#: PostgreSQL ``jsonb`` and ``text`` reject the NUL character (U+0000; PostgreSQL docs,
#: "JSON Types"), and a lone UTF-16 surrogate (which ``json.loads`` accepts from ``"\\ud800"``)
#: cannot be encoded to UTF-8. :func:`sanitize` replaces both with this character (U+FFFD).
REPLACEMENT = "\ufffd"
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _clean(s: str) -> str:
    return _BAD_CHARS.sub(REPLACEMENT, s)


def _needs_cleaning(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                return True
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and _BAD_CHARS.search(key):
                    return True
                stack.append(value)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _rebuild(obj: Any) -> Any:
    """Copy ``obj`` with every string and key cleaned, iteratively (no recursion)."""
    if isinstance(obj, str):
        return _clean(obj)
    if not isinstance(obj, dict | list | tuple):
        return obj
    root: Any = {} if isinstance(obj, dict) else []
    stack: list[tuple[Any, Any]] = [(obj, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, dict | list | tuple):
                new: Any = {} if isinstance(value, dict) else []
                stack.append((value, new))
            elif isinstance(value, str):
                new = _clean(value)
            else:
                new = value
            if isinstance(target, dict):
                target[_clean(key) if isinstance(key, str) else key] = new
            else:
                target.append(new)
    return root


def sanitize(obj: Any) -> tuple[Any, bool]:
    """Replace NUL characters and lone surrogates in every string and dict key with U+FFFD.

    Returns ``(clean, changed)``. When nothing needed replacing, ``clean`` is ``obj`` itself
    (no copy). Walks iteratively, so hostile nesting depth cannot exhaust the stack. Two keys
    that become equal after cleaning keep the later value. Tuples come back as lists (JSON).
    """
    if not _needs_cleaning(obj):
        return obj, False
    return _rebuild(obj), True


#: Columns copied even when the new value is NULL (reopened issue: closed_at back to NULL).
CLEARABLE = frozenset({"closed_at", "merged_at", "merged_by_id", "state_reason", "body",
                       "language", "starred_at"})

#: Tables whose rows never change once written.
IMMUTABLE = frozenset({"pushes", "commits"})

#: Bookkeeping columns the store adds to every normalized row.
TRAILER = ("last_delivery_id", "last_seen_at")

_LEDGER_SQL = """
INSERT INTO webhook_deliveries
    (hook_id, delivery_id, event, action, priority, received_at, attempts, payload,
     payload_bytes, sanitized)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (hook_id, delivery_id) DO NOTHING
RETURNING true
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
        from psycopg.types.json import Jsonb

        clean, changed = sanitize(payload)
        (hook_id, delivery_id, event, action, priority), _ = sanitize(
            [hook_id or "", delivery_id, event, action, priority])
        seen_at = datetime.fromtimestamp(received_at, tz=UTC)
        rows = normalize(event, clean)
        ledger = (hook_id, delivery_id, event, action, priority, seen_at, receive_count,
                  Jsonb(clean, dumps=_dumps), payload_bytes, changed)
        with pooled(self._pool) as conn, conn.cursor() as cur:
            cur.execute(_LEDGER_SQL, ledger)
            if cur.fetchone() is None:
                return False
            with conn.pipeline():
                for table, table_rows in rows.tables():
                    columns = tuple(table_rows[0])
                    cur.executemany(upsert_sql(table, columns), [
                        (*(row.get(c) for c in columns), delivery_id, seen_at)
                        for row in table_rows
                    ])
        return True
