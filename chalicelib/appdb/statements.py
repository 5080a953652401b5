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

from chalicelib.adapters.postgres.pool import ENCODING_ERRORS, translate_pg_error
from chalicelib.appdb.sanitize import sanitize, sanitize_text
from chalicelib.core.normalize import KEYS, NormalizedRows, normalize
from chalicelib.core.normalize.precedence import version_key_sql

#: Columns copied even when the new value is NULL (reopened issue: closed_at back to NULL).
CLEARABLE = frozenset({"closed_at", "merged_at", "merged_by_id", "state_reason", "body",
                       "language", "starred_at"})

#: Tables whose rows never change once written.
IMMUTABLE = frozenset({"pushes", "commits"})

#: Bookkeeping columns the store adds to every normalized row.
TRAILER = ("last_delivery_id", "last_seen_at")

#: Columns an applied upsert copies even when the new value is NULL (the rest: ``coalesce``).
ALWAYS_COPIED = CLEARABLE | frozenset(TRAILER) | {"updated_at"}

LEDGER_SQL = """
INSERT INTO webhook_deliveries
    (hook_id, delivery_id, event, action, priority, received_at, attempts, payload,
     payload_bytes, sanitized)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)
ON CONFLICT (hook_id, delivery_id) DO NOTHING
RETURNING hook_id, delivery_id
"""

#: :data:`LEDGER_SQL` for a whole batch: one parameter per column, each an array holding that
#: column of every row (``payload`` as the JSON text), unnested into rows server-side. Arrays
#: travel in binary (``%b``): the text format would escape every quote of every payload.
LEDGER_MANY_SQL = """
INSERT INTO webhook_deliveries
    (hook_id, delivery_id, event, action, priority, received_at, attempts, payload,
     payload_bytes, sanitized)
SELECT h, d, e, a, p, r, n, j::jsonb, b, s
  FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[],
              %b::integer[], %b::text[], %b::integer[], %b::boolean[]) AS x(h, d, e, a, p, r, n, j, b, s)
ON CONFLICT (hook_id, delivery_id) DO NOTHING
RETURNING hook_id, delivery_id
"""

#: The column types of the normalized tables, as :func:`upsert_many_sql` takes them.
COLUMN_TYPES_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
   AND pg_table_is_visible(c.oid)
"""

_dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=64)
def upsert_sql(table: str, columns: tuple[str, ...]) -> str:
    """The ``INSERT ... ON CONFLICT`` statement for ``table`` with ``columns`` (+ trailer),
    positional ``%s`` parameters. Identifiers come from :mod:`chalicelib.core.normalize`, never from
    a payload, and are quoted anyway."""
    from psycopg import sql

    cols = (*columns, *TRAILER)
    values = sql.SQL("VALUES ({})").format(sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    return _upsert(table, cols, values)


@lru_cache(maxsize=64)
def upsert_many_sql(table: str, columns: tuple[str, ...], types: tuple[str, ...]) -> str:
    """:func:`upsert_sql` for many rows of distinct keys in one statement: one parameter per
    column (+ trailer), each an array of that column's values in binary (``types``: the columns' SQL
    types, as ``format_type`` gives them, trailer excluded). An array column (``text[]``)
    travels as ``jsonb[]`` (one JSON array or NULL per row): PostgreSQL arrays are
    rectangular, so an array of arrays could not hold rows of different lengths."""
    from psycopg import sql

    cols = (*columns, *TRAILER)
    kinds = (*types, "text", "timestamp with time zone")
    params, exprs = [], []
    for col, kind in zip(cols, kinds, strict=True):
        name = sql.Identifier(col)
        if kind.endswith("[]"):
            params.append(sql.SQL("%b::jsonb[]"))
            exprs.append(sql.SQL(
                "CASE WHEN x.{c} IS NULL THEN NULL ELSE ARRAY(SELECT "
                "jsonb_array_elements_text(x.{c}))::{k} END").format(c=name, k=sql.SQL(kind)))
        else:
            params.append(sql.SQL("%b::{}[]").format(sql.SQL(kind)))
            exprs.append(sql.SQL("x.{}").format(name))
    source = sql.SQL("SELECT {exprs} FROM unnest({params}) AS x({cols})").format(
        exprs=sql.SQL(", ").join(exprs), params=sql.SQL(", ").join(params),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols))
    return _upsert(table, cols, source)


def _upsert(table: str, cols: tuple[str, ...], source) -> str:
    """``INSERT INTO table AS t (cols) <source> ON CONFLICT ...``: the out-of-order rule."""
    from psycopg import sql

    ident = [sql.Identifier(c) for c in cols]
    key = sql.SQL(", ").join(sql.Identifier(c) for c in KEYS[table])
    head = sql.SQL("INSERT INTO {t} AS t ({cols}) {source} ON CONFLICT ({key}) ").format(
        t=sql.Identifier(table), cols=sql.SQL(", ").join(ident), source=source, key=key)
    if table in IMMUTABLE:
        return head.as_string(None) + "DO NOTHING"
    sets = []
    for col, name in zip(cols, ident, strict=True):
        if col in KEYS[table]:
            continue
        if col in ALWAYS_COPIED:
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
            payload_bytes: int, payload_text: str | None = None) -> Prepared:
    """Sanitize and normalize one delivery (fields as :meth:`AppDatabase.store` takes them).

    With ``payload_text`` (the JSON text ``payload`` was parsed from) the ledger gets that
    text, sanitized by :func:`sanitize_text` (numbers and strings exactly as written), and
    ``payload`` is walked by :func:`sanitize` only when the text needed it. Without it, the
    ledger gets ``payload`` sanitized and re-encoded (floats then lose digits); a payload
    that cannot be encoded raises :class:`~chalicelib.errors.PermanentDependencyError`."""
    (hook_id, delivery_id, event, action, priority), _ = sanitize(
        [hook_id or "", delivery_id, event, action, priority])
    if payload_text is None:
        clean, changed = sanitize(payload)
        try:
            text = _dumps(clean)
        except ENCODING_ERRORS as exc:  # e.g. nesting deeper than the recursion limit
            raise translate_pg_error(exc) from exc
    else:
        text, changed = sanitize_text(payload_text)
        clean = sanitize(payload)[0] if changed else payload
    seen_at = datetime.fromtimestamp(received_at, tz=UTC)
    ledger = (hook_id, delivery_id, event, action, priority, seen_at, receive_count,
              text, payload_bytes, changed)
    return Prepared((hook_id, delivery_id), ledger, normalize(event, clean), delivery_id,
                    seen_at)
