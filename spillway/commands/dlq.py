"""``spillway dlq [--limit N] [--json]``: what waits in the dead-letter queue, grouped by
reason, without deleting anything (``spillway.ops.dlq`` says how each backend is read)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

from chalicelib.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("dlq", help="what waits in the dead-letter queue, by reason")
    p.add_argument("--limit", type=int, default=1000, metavar="N",
                   help="look at N messages at most (default: %(default)s)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: messages, counts by reason, how they were read")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.commands.options import command_hint
    from spillway.json_output import print_json
    from spillway.ops.dlq import by_reason, dead_letters_of_environment

    if args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    letters, how = dead_letters_of_environment(args.limit)
    groups = by_reason(letters)
    if args.json:
        print_json(json.dumps({"messages": [dataclasses.asdict(m) for m in letters],
                          "by_reason": dict(groups), "read": how}, sort_keys=True))
        return 0
    print(f"DLQ: {len(letters)} message{'' if len(letters) == 1 else 's'} ({how})")
    now = time.time()
    for reason, count in groups:
        print(f"  {count:>6}  {reason}")
        for m in [m for m in letters if m.reason == reason][:3]:
            age = f"{(now - m.sent_at) / 60:.0f} min ago" if m.sent_at else "?"
            print(f"          e.g. {m.event or '?'} {m.delivery_id or m.message_id} "
                  f"({m.priority or '?'}, received {m.receive_count}x, sent {age})")
    if letters:
        print(f"Redrive them to their queues with `{command_hint(args, 'redrive --reason ...')}`"
              " once the cause is fixed (`--dry-run` first shows what would move).")
    return 0
