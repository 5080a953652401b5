"""``spillway audit [--since D] [--verb V] [--limit N] [--json]``: the operator actions
recorded by the audited verbs (breaker force/reset, promote, redrive), oldest first, from the
state store (:mod:`spillway.ops.audit`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from spillway.commands.audited import Since, when, wiring_state
from spillway.json_output import print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("audit", help="who changed what, when and why (runbook verbs)")
    p.add_argument("--since", type=Since, help="within D (2h, 1d) or after an ISO instant")
    p.add_argument("--verb", help="only this verb (breaker, breaker force, promote, redrive)")
    p.add_argument("--limit", type=int, default=50, help="the last N (default %(default)s)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError
    from spillway.ops import audit

    if args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    found = audit.list_actions(wiring_state(), limit=args.limit, verb=args.verb,
                               since=args.since.at(time.time()) if args.since else None)
    if args.json:
        print_json(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no audited actions" + (" in that window" if args.since else ""))
    for r in found:
        details = ", ".join(f"{k}={_short(k, v)}" for k, v in sorted(r["details"].items())
                            if v is not None)
        print(f"{when(r['at'])}  {r['by']:<12} {r['verb']:<14} {r['reason']!r}  {details}")
    return 0


def _short(key: str, value: Any) -> str:
    if key in ("until", "since") and isinstance(value, (int, float)):
        return when(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)
