"""``spillway db migrate|housekeep``: database tasks.

* ``spillway db migrate [--url URL] [--which app|queue]`` -- apply the yoyo SQL migrations
  (``spillway.migrate``); prints the ids applied. ``--url`` defaults to $DATABASE_URL
  (``--which queue``: $QUEUE_DATABASE_URL), read when the verb runs so ``--local`` counts; an
  unreachable database is one line on stderr and exit 1.
* ``spillway db housekeep [--batch N] [--blob-days D]`` -- postgres backend: delete expired
  idempotency records, state items and old claim checks (``spillway.housekeeping``); prints
  the counts as one JSON object. Run it from cron.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from chalicelib.errors import ConfigError
from spillway.json_output import print_json


def _queue_pool() -> Any:
    """The postgres backend's pool on the queue database (QUEUE_DATABASE_URL)."""
    from spillway.ops.status import queue_pool

    return queue_pool()


def register(subparsers: Any, *, pool_factory: Callable[[], Any] = _queue_pool,
             clock: Callable[[], float] = time.time) -> None:
    """Add ``db`` with ``migrate`` and ``housekeep``. ``pool_factory()`` (called only when
    ``housekeep`` runs) returns a ``psycopg_pool.ConnectionPool`` on the queue database; the
    pool is not closed (the factory owns it). ``clock``: epoch seconds."""
    from spillway.housekeeping import RETENTION_DAYS

    p = subparsers.add_parser("db", help="database tasks")
    verbs = p.add_subparsers(dest="db_command", required=True)
    m = verbs.add_parser("migrate", help="apply SQL migrations (yoyo)")
    # No default read here: ``spillway --local db migrate`` loads the stack's environment
    # after parsing, so $DATABASE_URL is read when the verb runs.
    m.add_argument("--url", help="the database to migrate (default: $DATABASE_URL; with "
                                 "--local the stack's application or queue database)")
    m.add_argument("--which", choices=("app", "queue"), default="app",
                   help="app: the ledger and models; queue: the postgres backend's queues and "
                        "state (default: %(default)s)")
    m.set_defaults(func=migrate)

    h = verbs.add_parser(
        "housekeep", help="delete expired idempotency records, old claim-check blobs and "
                          "expired state items (postgres backend)")
    h.add_argument("--batch", type=int, default=10_000,
                   help="rows per DELETE statement (default: %(default)s)")
    h.add_argument("--blob-days", type=float, default=RETENTION_DAYS,
                   help="keep claim-check blobs this many days (default: %(default)s, "
                        "as the S3 lifecycle rule)")

    def housekeep(args: argparse.Namespace) -> int:
        from spillway.housekeeping import housekeep

        counts = housekeep(pool_factory(), clock, args.batch,
                           blob_retention_days=args.blob_days)
        print_json(json.dumps(counts, sort_keys=True))
        return 0

    h.set_defaults(func=housekeep)


def migrate(args: argparse.Namespace) -> int:
    from spillway.migrate import migrate

    variable = "DATABASE_URL" if args.which == "app" else "QUEUE_DATABASE_URL"
    url = args.url or os.environ.get(variable)
    if not url:
        raise ConfigError(f"--url or {variable} is required")
    applied = migrate(url, args.which)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}")
    return 0
