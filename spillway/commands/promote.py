"""``spillway promote medium|low [--max N]``: move queued work to the high-priority queue."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("promote", help="move queued work from a queue to high priority")
    p.add_argument("source", choices=("medium", "low"),
                   help="the queue whose waiting messages move up to high")
    p.add_argument("--max", type=int, default=1000,
                   help="move at most this many messages (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib import wiring

    moved = wiring.get_queue().move(args.source, "high", args.max)
    print(f"promoted {moved} message(s) from {args.source} to high")
    return 0
