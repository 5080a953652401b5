"""Apply the SQL migrations of one database with yoyo-migrations.

``migrations/<which>/`` holds plain SQL files with ``-- depends:`` headers (yoyo's format).
``which`` is ``"app"`` (the application database the workers write) or any other folder, e.g.
``"queue"`` for the postgres backend's queues and state. Migration ids are file names without
``.sql``; yoyo keeps one registry of ids per process and one ``_yoyo_migration`` table per
database, so each folder prefixes its ids with its own name (``app_0001_ledger``).

Operator tooling: never imported by the Lambda handlers.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from spillway.paths import MIGRATIONS

#: yoyo's scheme for PostgreSQL through psycopg 3 (``postgresql://`` would load psycopg2).
YOYO_SCHEME = "postgresql+psycopg"


def yoyo_url(url: str) -> str:
    """Turn a libpq connection string into a yoyo URL for psycopg 3.

    ``url`` may be a libpq URI (``postgresql://user:pw@/db?host=/tmp/sock``, including unix
    sockets given by ``host=``) or a ``key=value`` conninfo string. Every parameter but ``dbname``
    goes into the query string, which yoyo passes to ``psycopg.connect`` unchanged, so socket
    directories and options survive. Raises ``psycopg.ProgrammingError`` on an unparsable string.
    """
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    dbname = params.pop("dbname", "")
    query = urlencode(sorted(params.items()))
    return f"{YOYO_SCHEME}:///{dbname}" + (f"?{query}" if query else "")


def migrations_dir(which: str) -> Path:
    """``migrations/<which>/`` of this repository. Raises ``FileNotFoundError`` if absent."""
    path = MIGRATIONS / which
    if not path.is_dir():
        raise FileNotFoundError(f"no migrations folder {path}")
    return path


def migrate(url: str, which: str = "app", *, lock_timeout_s: float = 60.0) -> list[str]:
    """Apply the pending migrations of ``migrations/<which>/`` to the database at ``url``.

    Holds yoyo's lock (table ``yoyo_lock``, waiting up to ``lock_timeout_s`` seconds) so
    concurrent callers apply each migration once. Returns the ids applied, in order; ``[]`` when
    the database was already up to date (idempotent).
    """
    import psycopg
    from yoyo import get_backend, read_migrations

    from chalicelib.errors import ConfigError, DependencyUnavailable

    migrations = read_migrations(str(migrations_dir(which)))
    try:
        target = yoyo_url(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(f"not a database URL: {_first_line(exc)}") from None
    try:
        backend = get_backend(target)
    except psycopg.OperationalError as exc:
        raise DependencyUnavailable(f"cannot reach the {which} database: "
                                    f"{_first_line(exc)}") from None
    try:
        with backend.lock(timeout=lock_timeout_s):
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
            return [m.id for m in pending]
    finally:
        backend.connection.close()


def _first_line(exc: Exception) -> str:
    """libpq's messages run over several lines (hints, per-address attempts): the first."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
