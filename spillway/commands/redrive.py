"""``spillway redrive``: move dead-lettered messages back to their own queues (their priority
queue, or ``heavy`` / ``batch`` by their target), filtered, paced and audited.

``spillway redrive [--event NAME] [--since D] [--error TEXT] [--max N] [--rate N/s]
[--dry-run] [--json] --reason TEXT [--by WHO]``

``--event``: only that GitHub event (``issues``); ``--since``: only messages sent within a
duration (``2h``) or after an ISO instant; ``--error``: only those whose dead-letter reason
contains TEXT (case-insensitive); ``--max`` (default 1000) and ``--rate`` (messages per second,
``5/s``; default: unpaced) bound the move. ``--dry-run`` lists what would move and moves
nothing (no ``--reason`` needed). A real move writes an audit record (``spillway audit``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from spillway.commands.audited import Since, add_who_why, parse_rate, when, wiring_state
from spillway.json_output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("redrive", help="move dead-lettered messages back to their queues "
                                              "(filtered, paced, audited)")
    p.add_argument("--event", help="only deliveries of this GitHub event (e.g. issues)")
    p.add_argument("--since", type=Since, help="only messages sent within D (2h) or after an "
                                               "ISO instant")
    p.add_argument("--error", help="only messages whose dead-letter reason contains this text")
    p.add_argument("--max", type=int, default=1000, help="move at most N (default %(default)s)")
    p.add_argument("--rate", type=parse_rate, help="at most N messages per second (5/s)")
    p.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_who_why(p, reason_required=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from chalicelib.errors import ConfigError
    from chalicelib.ports import MessageFilter
    from spillway.ops import moves

    if args.max < 1:
        raise ConfigError(f"--max must be at least 1, got {args.max}")
    match = MessageFilter(event=args.event, error=args.error,
                          since=args.since.at(time.time()) if args.since else None)
    if args.dry_run:
        found = moves.preview(wiring.get_queue(), match=match, max_messages=args.max)
        if args.json:
            print_json(json.dumps({"dry_run": True, "filter": match.to_dict(), "would_move": found},
                             indent=2))
        else:
            for m in found:
                print(f"{m['message_id']}  {m['event'] or '-':<22} {m['delivery_id'] or '-':<38}"
                      f" -> {m['priority'] or 'low':<6} sent {when(m['sent_at'])}"
                      f"  {m['error'] or ''}")
            print(f"dry run: {len(found)} message(s) would be redriven; nothing moved")
        return 0
    if not (args.reason or "").strip():
        raise ConfigError("--reason is required to redrive (kept in the audit record); "
                          "add --dry-run to only list")
    progress = None if args.json else (
        lambda n: print(f"\r  moved {n}", end="", file=sys.stderr, flush=True))
    entry = moves.redrive(wiring.get_queue(), wiring_state(), match=match,
                          max_messages=args.max, rate_per_s=args.rate, by=args.by,
                          reason=args.reason, progress=progress if args.rate else None)
    if args.json:
        print_json(json.dumps(entry, indent=2))
    else:
        if args.rate:
            print(file=sys.stderr)
        print(f"redrove {entry['details']['moved']} message(s) from the dead-letter queue "
              f"(audit {entry['id']})")
    return 0
