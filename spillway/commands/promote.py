"""``spillway promote medium|low [--max N] --reason TEXT [--by WHO] [--json]``: move queued
work to the high-priority queue; audited (``spillway audit``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from spillway.commands.audited import add_who_why, wiring_state
from spillway.json_output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("promote", help="move queued work from a queue to high priority")
    p.add_argument("source", choices=("medium", "low"),
                   help="the queue whose waiting messages move up to high")
    p.add_argument("--max", type=int, default=1000,
                   help="move at most this many messages (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_who_why(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from spillway.ops import moves

    entry = moves.promote(wiring.get_queue(), wiring_state(), source=args.source,
                          max_messages=args.max, by=args.by, reason=args.reason)
    if args.json:
        print_json(json.dumps(entry, indent=2))
    else:
        print(f"promoted {entry['details']['moved']} message(s) from {args.source} to high "
              f"(audit {entry['id']})")
    return 0
