"""``spillway redrive [--max N]``: move dead-lettered messages back to their queues."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("redrive", help="move dead-lettered messages back to their queues")
    p.add_argument("--max", type=int, default=1000,
                   help="move at most this many messages (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from chalicelib.ports import DLQ

    moved = wiring.get_queue().move(DLQ, None, args.max)
    print(f"redrove {moved} message(s) from the dead-letter queue")
    return 0
