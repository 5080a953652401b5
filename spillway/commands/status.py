"""``spillway status [--json]``: queue depths (and breaker state) of the configured backend."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status",
                              help="queue depths (and breaker state) of the configured backend")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.ops.status import status as read_status

    status = read_status()
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        for name, s in status["queues"].items():
            print(f"{name:<7} visible {s['visible']:>6}  in flight {s['in_flight']:>6}  "
                  f"delayed {s['delayed']:>6}  oldest {s['oldest_age_s']:>7.1f} s")
        if "breaker" in status:
            print(f"breaker {status['breaker'].get('state')}")
    return 0
