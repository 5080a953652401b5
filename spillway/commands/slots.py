"""``spillway slots status|release``: the shared database slots' holders, and freeing a dead
holder's leases (:mod:`spillway.ops.slots`).

* ``spillway slots status [--json]`` -- limit, slots in use, each lease's holder, age and
  expiry, the waiters
* ``spillway slots release (--holder H ... | --all) --reason TEXT [--by WHO] [--json]`` -- free
  them now (audited: ``spillway audit --verb slots``)

The pool is the application database's (``slots#postgres``), the one the workers share.

With ``--local`` they read and change the running local stack's state store; otherwise the
configured backend's (the DynamoDB state table on AWS).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from chalicelib.ports import StatePort
from spillway.commands.audited import add_who_why, when, wiring_state
from spillway.json_output import print_json
from spillway.ops import slots as ops


def _max_limit() -> int | None:
    from chalicelib.settings import get_settings

    return get_settings().slot_max_limit


def register(subparsers: Any, *, store_factory: Callable[[], StatePort] = wiring_state,
             clock: Callable[[], float] = time.time) -> None:
    """Add ``slots`` and its verbs to ``subparsers``; ``store_factory`` runs only when a verb
    does."""
    parser = subparsers.add_parser("slots", help="show or release the shared database slots")
    verbs = parser.add_subparsers(dest="slots_command", required=True)

    status = verbs.add_parser("status", help="holders of the slots, their ages and expiries")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=lambda args: _status(store_factory(), args, clock))

    release = verbs.add_parser("release", help="free leases now (a dead holder's), audited")
    who = release.add_mutually_exclusive_group(required=True)
    who.add_argument("--holder", action="append", metavar="H",
                     help="holder to free, as `spillway slots status` lists it (repeatable)")
    who.add_argument("--all", action="store_true", help="free every lease")
    add_who_why(release)
    release.add_argument("--json", action="store_true")
    release.set_defaults(func=lambda args: _release(store_factory(), args, clock))


def _status(store: StatePort, args: argparse.Namespace, clock: Callable[[], float]) -> int:
    found = ops.status(store, max_limit=_max_limit(), clock=clock)
    if args.json:
        print_json(json.dumps(found, sort_keys=True))
        return 0
    print("\n".join(describe(found)))
    return 0


def describe(found: dict) -> list[str]:
    """Text lines of :func:`spillway.ops.slots.status`."""
    lines = [f"slots#{found['name']}  {found['in_use']} in use of limit {found['limit']} "
             f"(max {found['max_limit'] if found['max_limit'] is not None else '?'}), "
             f"{len(found['holders'])} lease(s), {len(found['waiting'])} waiting"]
    if not found["exists"]:
        lines.append("  no worker has asked for a slot yet")
    if found["holders"]:
        lines.append(f"  {'holder':<44} {'priority':<8} {'slots':>5} {'age s':>8}  expires")
    for x in found["holders"]:
        expiry = (f"expired {-x['expires_in_s']:.1f} s ago (freed at the next decision)"
                  if x["expired"] else f"in {x['expires_in_s']:.1f} s ({when(x['expires_at'])})")
        lines.append(f"  {x['holder']:<44} {x['priority']:<8} {x['count']:>5} "
                     f"{x['age_s']:>8.1f}  {expiry}")
    for w in found["waiting"]:
        lines.append(f"  waiting: {w['holder']} ({w['priority']}, {w['count']} slot(s)) for "
                     f"{w['waiting_s']:.1f} s")
    return lines


def _release(store: StatePort, args: argparse.Namespace, clock: Callable[[], float]) -> int:
    found = ops.release(store, holders=None if args.all else args.holder,
                        by=args.by, reason=args.reason, clock=clock)
    if args.json:
        print_json(json.dumps(found, sort_keys=True))
        return 0
    if not found["released"]:
        print(f"slots#{found['name']}: no lease was held; nothing released")
        return 0
    print(f"slots#{found['name']}: released {found['slots']} slot(s) of "
          f"{', '.join(found['released'])} (audited as {found['audit']['id']})")
    return 0
