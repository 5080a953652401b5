"""The normalized tables' rows (:class:`NormalizedRows`), their keys (:data:`KEYS`, as in
``migrations/app/``) and the :class:`Collector` merging duplicate rows by key.

Pure: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from chalicelib.core.normalize.precedence import VERSIONED, precedence


@dataclass(frozen=True)
class NormalizedRows:
    """Rows per normalized table, each a tuple of dicts (column -> value)."""

    repositories: tuple[dict, ...] = ()
    users: tuple[dict, ...] = ()
    pull_requests: tuple[dict, ...] = ()
    issues: tuple[dict, ...] = ()
    reviews: tuple[dict, ...] = ()
    comments: tuple[dict, ...] = ()
    pushes: tuple[dict, ...] = ()
    commits: tuple[dict, ...] = ()
    stars: tuple[dict, ...] = ()

    def tables(self) -> list[tuple[str, tuple[dict, ...]]]:
        """``(table, rows)`` pairs in a fixed order, non-empty tables only."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]

    def count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())


#: Primary key columns of each table (must match ``migrations/app/``).
KEYS: dict[str, tuple[str, ...]] = {
    "repositories": ("id",),
    "users": ("id",),
    "pull_requests": ("id",),
    "issues": ("id",),
    "reviews": ("id",),
    "comments": ("kind", "id"),
    "pushes": ("repository_id", "ref", "before_sha", "after_sha"),
    "commits": ("repository_id", "sha"),
    "stars": ("repository_id", "user_id"),
}


class Collector:
    """Accumulates rows per table, merging duplicates by key (first non-None value wins)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[tuple, dict]] = {name: {} for name in KEYS}

    def add(self, table: str, row: dict | None) -> None:
        if row is None:
            return
        key = tuple(row.get(col) for col in KEYS[table])
        if any(part is None for part in key):
            return
        existing = self.rows[table].get(key)
        if existing is None:
            self.rows[table][key] = row
        else:
            for col, value in row.items():
                if existing.get(col) is None:
                    existing[col] = value

    def result(self) -> NormalizedRows:
        """The rows, sorted by key; versioned rows get their tie rank (``precedence``)."""
        for table in VERSIONED:
            for row in self.rows[table].values():
                row["precedence"] = precedence(table, row)
        return NormalizedRows(**{
            table: tuple(rows[k] for k in sorted(rows, key=_sort_key))
            for table, rows in self.rows.items()
        })


def _sort_key(key: tuple) -> tuple:
    return tuple((0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in key)


