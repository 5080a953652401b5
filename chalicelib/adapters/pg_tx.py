"""One transaction on a pooled PostgreSQL connection, with psycopg errors translated into
:mod:`chalicelib.errors` -- the boundary every ``pg_*`` adapter goes through.

Translation (SQLSTATE classes, PostgreSQL docs appendix A):

* pool exhausted (``PoolTimeout``), ``53300`` too_many_connections, class ``53`` ->
  :class:`Throttled`
* class ``08`` (connection), ``57P0x`` (shutdown), ``57014`` (statement timeout), any other
  ``OperationalError`` -> :class:`DependencyUnavailable`
* classes ``22`` (data, e.g. U+0000 in text/jsonb), ``23`` (integrity), ``42`` (syntax or
  undefined object) -> :class:`PermanentDependencyError`
* everything else (``40001`` serialization, ``40P01`` deadlock, ...) -> :class:`DependencyError`
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from chalicelib.errors import (
    DependencyError,
    DependencyUnavailable,
    PermanentDependencyError,
    SpillwayError,
    Throttled,
)


def translate(exc: psycopg.Error, what: str) -> SpillwayError:
    """The Spillway error for ``exc`` raised while doing ``what`` (to ``raise ... from exc``)."""
    state = getattr(exc, "sqlstate", None) or ""
    message = f"{what}: {type(exc).__name__}: {exc}".strip()
    if isinstance(exc, PoolTimeout) or state.startswith("53"):
        return Throttled(message)
    if state.startswith("08") or state.startswith("57"):
        return DependencyUnavailable(message)
    if state[:2] in ("22", "23", "42"):
        return PermanentDependencyError(message)
    if isinstance(exc, psycopg.OperationalError) and not state:
        return DependencyUnavailable(message)
    return DependencyError(message)


@contextmanager
def transaction(pool: Any, what: str) -> Iterator[psycopg.Connection]:
    """Borrow a connection from ``pool`` (a ``psycopg_pool.ConnectionPool``) for one
    transaction: committed on normal exit, rolled back on an exception. psycopg errors become
    :mod:`chalicelib.errors` (see the module docstring); other exceptions pass through."""
    try:
        with pool.connection() as conn:
            yield conn
    except psycopg.Error as exc:
        raise translate(exc, what) from exc
