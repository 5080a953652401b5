"""PostgreSQL connection pool for the workers, and the translation of psycopg errors into ours.

A Lambda execution environment is frozen between invocations; a pooled connection can be dead
when it thaws (server restart, idle timeout, ``pg_terminate_backend``). The pool therefore
checks each connection before lending it (``psycopg_pool`` docs, ``check`` argument) and
replaces broken ones. psycopg is imported inside the functions: nothing here does I/O or heavy
imports at module import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chalicelib.errors import (
    DependencyUnavailable,
    PermanentDependencyError,
    SpillwayError,
    Throttled,
)

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

#: SQLSTATEs meaning "the server is too busy, come back later" (PostgreSQL docs, Appendix A).
THROTTLE_SQLSTATES = frozenset({
    "53300",  # too_many_connections
    "57P03",  # cannot_connect_now (starting up, or too many connections at startup)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout)
})

#: SQLSTATE classes meaning "this request can never succeed": data exceptions (22, e.g. 22P05
#: untranslatable character, 22021 bad UTF-8), integrity violations (23), program limits (54,
#: e.g. nesting too deep).
PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})

#: Class 42 errors that mean "schema not migrated yet": transient from the worker's view.
SCHEMA_NOT_READY = frozenset({"42P01", "42703", "42883"})


#: Server messages of 53300 / 57P03 when libpq gives no SQLSTATE for a failed connection.
_THROTTLE_MESSAGES = ("too many clients", "connection slots are reserved",
                      "the database system is starting up")

#: Raised by the JSON dumper while psycopg adapts a parameter: the payload can never be stored
#: (a lone surrogate, nesting deeper than Python's recursion limit).
ENCODING_ERRORS: tuple[type[Exception], ...] = (UnicodeError, RecursionError)


def make_pool(url: str, *, min_size: int = 0, max_size: int = 4, timeout_s: float = 5.0,
              name: str = "spillway-app") -> ConnectionPool:
    """A ``psycopg_pool.ConnectionPool`` on ``url`` (libpq URI or ``key=value`` conninfo).

    ``min_size``/``max_size``: connections kept / at most open (one Lambda instance handles one
    batch at a time, so a few suffice). ``timeout_s``: seconds :meth:`connection` waits for a
    free connection before ``PoolTimeout`` (translated to :class:`Throttled`). Connections are
    checked before use (``ConnectionPool.check_connection``). With ``min_size=0`` the pool opens
    no connection until first used. Connect timeout is ``timeout_s`` too.
    """
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        check=ConnectionPool.check_connection,
        kwargs={"connect_timeout": max(1, int(timeout_s))},
        # psycopg_pool retries a failed connect with exponential backoff for up to
        # reconnect_timeout (default 5 min); after a 20 s outage its next attempt could be a
        # minute away while callers time out. The circuit breaker already paces retries, so
        # give up quickly and let the next borrower start a fresh attempt.
        reconnect_timeout=max(1.0, timeout_s),
        name=name,
        open=True,
    )


@contextmanager
def pooled(pool: ConnectionPool) -> Iterator[Connection]:
    """Borrow a connection from ``pool`` for one transaction (committed on normal exit, rolled
    back on error, as ``ConnectionPool.connection``).

    Database errors raised while borrowing, inside the block or at commit -- ``psycopg.Error``
    (``psycopg_pool.PoolTimeout`` is one) and the payload encoding errors listed in
    :func:`translate_pg_error` -- leave as Spillway errors, ``from`` the original. A
    ``PoolTimeout`` during which the pool failed to open connections means the server is
    unreachable (:class:`DependencyUnavailable`), not busy (:class:`Throttled`). Every other
    exception (a Spillway error, or a bug such as ``KeyError``/``TypeError``) is re-raised
    unchanged: it says nothing about the database's health.
    """
    import psycopg

    errors_before = _connect_errors(pool)
    try:
        with pool.connection() as conn:
            yield conn
    except (psycopg.Error, *ENCODING_ERRORS) as exc:
        raise translate_pg_error(
            exc, connect_failed=_connect_errors(pool) > errors_before) from exc


def _connect_errors(pool: ConnectionPool) -> int:
    return pool.get_stats().get("connections_errors", 0)


def translate_pg_error(exc: BaseException, *, connect_failed: bool = False) -> SpillwayError:
    """Map a psycopg / psycopg_pool exception to a Spillway error (caller raises it ``from exc``).

    * ``PoolTimeout`` while ``connect_failed`` (the pool could not connect meanwhile)
      -> :class:`DependencyUnavailable`
    * ``PoolTimeout`` otherwise (every connection busy); both ``PoolTimeout`` cases carry
      ``timed_out = True`` (:func:`chalicelib.errors.waited_out`)
    * SQLSTATE 53300, 57P03, 40001, 40P01, 55P03, 57014 -> :class:`Throttled`
    * data errors (class 22), integrity (23), program limits (54), other class 42 (a bug in
      our SQL), errors psycopg raises before sending anything (``ProgrammingError``,
      ``DataError``, ``NotSupportedError`` without a SQLSTATE: wrong number of parameters, a
      value it cannot adapt), and payloads Python cannot encode (:data:`ENCODING_ERRORS`)
      -> :class:`PermanentDependencyError` (not retryable, never trips a breaker)
    * everything else (connection refused or lost, ``OperationalError``, ``InterfaceError``,
      missing tables 42P01) -> :class:`DependencyUnavailable`
    An error that already is a :class:`SpillwayError` is returned unchanged.
    """
    if isinstance(exc, SpillwayError):
        return exc
    from psycopg_pool import PoolTimeout

    message = f"postgres: {type(exc).__name__}: {exc}".strip()
    if isinstance(exc, PoolTimeout):
        error = DependencyUnavailable(message) if connect_failed else Throttled(message)
        error.timed_out = True  # the caller waited the pool's whole timeout
        return error
    if isinstance(exc, ENCODING_ERRORS):
        return PermanentDependencyError(message)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if not sqlstate and _is_client_side_bug(exc):
        return PermanentDependencyError(message)
    if sqlstate in THROTTLE_SQLSTATES:
        return Throttled(message)
    if sqlstate in SCHEMA_NOT_READY:
        return DependencyUnavailable(message)
    if sqlstate[:2] in PERMANENT_SQLSTATE_CLASSES or sqlstate[:2] == "42":
        return PermanentDependencyError(message)
    if not sqlstate and any(text in str(exc) for text in _THROTTLE_MESSAGES):
        # A refused connection may come as OperationalError without a SQLSTATE.
        return Throttled(message)
    return DependencyUnavailable(message)


def _is_client_side_bug(exc: BaseException) -> bool:
    """True for the psycopg classes that, raised client-side (the caller checked there is no
    SQLSTATE), mean our request is wrong: wrong number of parameters, a type that cannot be
    adapted, a NUL in a text field. Retrying the same request can never succeed."""
    from psycopg import DataError, NotSupportedError, ProgrammingError

    return isinstance(exc, ProgrammingError | DataError | NotSupportedError)
