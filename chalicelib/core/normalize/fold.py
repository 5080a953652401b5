"""Folding a batch's repeated normalized rows into as few upserts as today's precedence rules
allow (:func:`fold`), with exactly the end state of upserting every row one at a time.

Writing one delivery after another, a row of key K receives an upsert per delivery that
carries it, in batch order; each is applied only when its version key is ``>=`` the stored
one (:mod:`chalicelib.core.normalize.precedence`), and then copies its columns: the
:data:`~chalicelib.appdb.statements.CLEARABLE` ones, ``updated_at`` and the trailer always,
every other column only when not NULL (``coalesce``). Immutable tables keep their first row.

Whatever the stored row is, an upsert whose key is below an earlier one of the batch is
never applied (the stored key has by then reached at least that earlier key), so only the
*records* (each ``>=`` every earlier key) matter, and they are applied as a suffix. A record
can be left out when every later record copies over whatever it would have left: each of its
columns is written by a later record (always-copied) or non-NULL in a later record. Left
over, a key's rows go in *rounds* (round n: the n-th remaining row of each key), each
round one statement per table and column set. When two rows of one key tie on every part of
the version key but the delivery id (compared by the database's collation), the key is not
folded: all its rows go, in batch order, one round each.

Pure: the standard library and this package only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.normalize.precedence import VERSIONED, version_key
from chalicelib.core.normalize.rows import KEYS


@dataclass(frozen=True)
class Upsert:
    """One normalized row to write: ``table``, ``row`` (column -> value, no trailer), and the
    trailer of the delivery that carries it (``delivery_id``, ``seen_at``)."""

    table: str
    row: dict
    delivery_id: str
    seen_at: datetime


def fold(upserts: Iterable[Upsert], always_copied: frozenset[str]) -> list[list[Upsert]]:
    """Rounds of upserts (each round holds a key at most once) whose execution, round after
    round, leaves every table exactly as executing ``upserts`` one by one in the given
    (batch) order. ``always_copied``: the columns an applied upsert copies even when NULL."""
    by_key: dict[tuple, list[Upsert]] = {}
    for item in upserts:
        key = (item.table, *(item.row[c] for c in KEYS[item.table]))
        by_key.setdefault(key, []).append(item)
    rounds: list[list[Upsert]] = []
    for items in by_key.values():
        if len(items) == 1:
            kept = items
        elif items[0].table not in VERSIONED:
            kept = items[:1]  # immutable: the first writer wins
        else:
            kept = _fold_versions(items, always_copied)
        for n, item in enumerate(kept):
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(item)
    return rounds


def _fold_versions(items: list[Upsert], always_copied: frozenset[str]) -> list[Upsert]:
    keys = [version_key(i.table, i.row, i.seen_at) for i in items]
    if len(set(keys)) < len(keys):  # a tie only the delivery id (collation) would decide
        return items
    records: list[Upsert] = []
    top = None
    for item, key in zip(items, keys, strict=True):
        if top is None or key > top:
            records.append(item)
            top = key
    kept: list[Upsert] = []
    written: set[str] = set()   # columns a later kept record always copies
    filled: set[str] = set()    # columns a later kept record holds non-NULL
    for item in reversed(records):
        row = item.row
        if kept and all(c in written or c in filled or (row[c] is None and c in _later(kept))
                        for c in row):
            continue
        kept.append(item)
        written.update(c for c in row if c in always_copied)
        filled.update(c for c, v in row.items() if v is not None)
    kept.reverse()
    return kept


def _later(kept: list[Upsert]) -> set[str]:
    """The columns some later kept record writes at all (its column set)."""
    return {c for item in kept for c in item.row}
