"""``spillway replay PATH... --url URL --secret S [--concurrency N] [--repeat K]``: send payload
files as signed GitHub deliveries; prints ``{"sent", "accepted", "rejected"}`` as JSON, exit
status 0 only when every delivery got a 2xx."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from chalicelib.errors import ConfigError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("replay", help="send payload files as signed GitHub deliveries")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="payload files or folders laid out as <event>/<name>.json")
    p.add_argument("--url", default=os.environ.get("SPILLWAY_URL"), required=False,
                   help="the webhook URL (default: $SPILLWAY_URL)")
    p.add_argument("--secret", default=os.environ.get("GITHUB_WEBHOOK_SECRET"),
                   help="the webhook secret to sign with (default: $GITHUB_WEBHOOK_SECRET)")
    p.add_argument("--concurrency", type=int, default=8, help="sender threads")
    p.add_argument("--repeat", type=int, default=1, help="send the set this many times")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.replay import iter_payloads, replay

    if not args.url or not args.secret:
        raise ConfigError("--url and --secret are required (or SPILLWAY_URL and "
                          "GITHUB_WEBHOOK_SECRET)")
    try:
        results = replay(list(iter_payloads(args.paths)), args.url, args.secret,
                         concurrency=args.concurrency, repeat=args.repeat)
    except ValueError as exc:  # a bad URL or a file that is not a JSON payload
        raise ConfigError(str(exc)) from None
    ok = sum(200 <= r.status < 300 for r in results)
    for r in results:
        if not 200 <= r.status < 300:
            print(f"{r.status} {r.source}: {r.response}", file=sys.stderr)
    print(json.dumps({"sent": len(results), "accepted": ok, "rejected": len(results) - ok}))
    return 0 if ok == len(results) else 1
