"""``spillway ledger [--event E] [--since D] [--limit N] [--json]``: the most recent deliveries
the workers stored (status, attempts, delay from acceptance to storage), newest first."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.errors import ConfigError
from spillway.json_output import print_json
from spillway.terminal import printable

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``"10m"``, ``"2h"``, ``"1d"``, ``"30s"`` (that long ago) or an ISO 8601 instant
    (``2026-12-02T19:00``, UTC unless it names its offset) -> an aware datetime;
    ``argparse.ArgumentTypeError`` otherwise."""
    match = _AGO.match(value.strip())
    if match:
        now = now or datetime.now(UTC)
        try:
            return now - timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
        except (OverflowError, ValueError):  # further back than a datetime can say
            raise argparse.ArgumentTypeError(f"{value!r} reaches before the year 1") from None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected a duration (30s, 10m, 2h, 1d) or an ISO 8601 time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cell(text: str, width: int) -> str:
    """``text`` padded to ``width`` characters, or cut to ``width`` with a final ``…`` that
    says so (``--json`` has every name whole)."""
    text = printable(text, limit=10 * width)  # escape sequences shown, never run
    return f"{text:<{width}}" if len(text) <= width else text[:width - 1] + "…"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ledger", help="recent deliveries stored in the application "
                                             "database (status, attempts, delay)")
    p.add_argument("--event", metavar="E", help="only deliveries of this X-GitHub-Event")
    p.add_argument("--since", type=parse_since, metavar="D",
                   help="only deliveries received since D: 30s, 10m, 2h, 1d or an ISO 8601 time")
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="at most N rows (default: %(default)s)")
    p.add_argument("--json", action="store_true",
                   help='one JSON document: {"rows", "distinct", "deliveries": [...]}')
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from chalicelib.adapters.postgres.pool import make_pool
    from spillway.local.lifecycle import spillway_executable
    from spillway.ops.ledger import ledger_counts, recent_deliveries

    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    url = wiring.get_settings().database_url
    if not url:
        raise ConfigError("no application database: set DATABASE_URL, or use "
                          f"`{spillway_executable()} --local ledger` with a local stack running")
    with make_pool(url, max_size=1) as pool:
        rows = recent_deliveries(pool, event=args.event, since=args.since, limit=args.limit)
        total = ledger_counts(pool)
    if args.json:  # one document: the totals and the rows shown
        print_json(json.dumps({"rows": total.rows, "distinct": total.distinct, "deliveries": rows},
                         default=str, sort_keys=True))
        return 0
    print(f"ledger: {total.rows} rows, {total.distinct} distinct deliveries; "
          f"showing {len(rows)} most recent" + (f" {args.event}" if args.event else "")
          + (f" since {args.since:%Y-%m-%d %H:%M:%S} UTC" if args.since else ""))
    if rows:
        print(f"  {'received (UTC)':<19}  {'event':<22} {'action':<14} {'prio':<6} "
              f"{'status':<8} {'tries':>5} {'delay':>8}  repository")
    for r in rows:
        print(f"  {r['received_at'].astimezone(UTC):%Y-%m-%d %H:%M:%S}  {cell(r['event'], 22)} "
              f"{cell(r['action'] or '-', 14)} {r['priority']:<6} {r['status']:<8} "
              f"{r['attempts']:>5} {r['delay_s']:>7.2f}s  {printable(r['repository'] or '-')}")
    return 0
