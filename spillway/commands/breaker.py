"""``spillway breaker status|open|close|reset``: operator verbs for the shared circuit breakers.

``register(subparsers)`` adds the ``breaker`` command to an argparse subparsers object; each
verb sets ``args.func(args) -> int`` (exit code). ``store_factory()`` (default: the wiring's
:class:`~chalicelib.ports.StatePort`, DynamoState or PgState from settings) is called only when
a verb runs.

* ``spillway breaker status [NAME] [--json]``
* ``spillway breaker open NAME [--for DURATION] --reason TEXT [--by WHO]``  (FORCED_OPEN)
* ``spillway breaker close NAME [--for DURATION] --reason TEXT [--by WHO]`` (FORCED_CLOSED)
* ``spillway breaker reset NAME --reason TEXT [--by WHO]``                  (back to CLOSED)

DURATION is a number with an optional unit ``s`` (default), ``m``, ``h`` or ``d``: ``30s``,
``5m``, ``1h``. Without ``--for`` a forced state holds until changed by hand.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from chalicelib.ports import StatePort
from spillway.commands.audited import add_who_why, parse_duration, when, wiring_state
from spillway.json_output import print_json
from spillway.ops import breaker

__all__ = ["parse_duration", "register"]

def register(subparsers: Any, *, store_factory: Callable[[], StatePort] = wiring_state,
             clock: Callable[[], float] = time.time) -> None:
    """Add ``breaker`` and its verbs to ``subparsers``."""
    parser = subparsers.add_parser("breaker", help="show or change shared circuit breakers")
    verbs = parser.add_subparsers(dest="breaker_command", required=True)

    status = verbs.add_parser("status", help="state of one breaker, or of all")
    status.add_argument("name", nargs="?", help="the breaker's name (default: every breaker)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=lambda args: _status(store_factory, args, clock))

    for verb, state, text in (("open", "FORCED_OPEN", "force open: refuse every call"),
                              ("close", "FORCED_CLOSED", "force closed: allow every call")):
        sub = verbs.add_parser(verb, help=text)
        _common(sub)
        sub.add_argument("--for", dest="duration", type=parse_duration,
                         help="hold the forced state this long, then return to automatic "
                              "operation (30s, 5m, 1h; default: until changed by hand)")
        sub.set_defaults(func=_forcer(store_factory, state, clock))

    reset = verbs.add_parser("reset", help="back to CLOSED with an empty window")
    _common(reset)
    reset.set_defaults(func=lambda args: _print_change(
        breaker.reset(_checked_store(store_factory, args), args.name, by=args.by,
                      reason=args.reason, clock=clock), args))


def _checked_store(store_factory: Callable[[], StatePort],
                   args: argparse.Namespace) -> StatePort:
    """The store, once ``args.name`` is a known breaker (else ConfigError, exit 2, before
    any store is opened: an unknown name is refused, never created). No name: every one."""
    if args.name is not None:
        breaker.check_name(args.name)
    return store_factory()


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("name", help="the breaker's name (as `spillway breaker status` lists)")
    add_who_why(sub)
    sub.add_argument("--json", action="store_true", help="machine-readable output")


def _forcer(store_factory: Callable[[], StatePort], state: str,
            clock: Callable[[], float]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = _checked_store(store_factory, args)
        until = clock() + args.duration if args.duration else None
        new = breaker.force(store, args.name, state, reason=args.reason, by=args.by,
                            until=until, clock=clock)
        return _print_change(new, args)

    return run


def _print_change(new: Any, args: argparse.Namespace) -> int:
    data = new.to_dict()
    data.pop("buckets", None)
    if args.json:
        print_json(json.dumps({"name": args.name, **data}, indent=2))
    else:
        until = f" until {when(new.forced.until)}" if new.forced and new.forced.until else ""
        print(f"{args.name}: {new.state.value}{until}")
    return 0


def _status(store_factory: Callable[[], StatePort], args: argparse.Namespace,
            clock: Callable[[], float]) -> int:
    store = _checked_store(store_factory, args)
    found = ([breaker.status(store, args.name, clock=clock)] if args.name
             else breaker.status_all(store, clock=clock))
    if args.json:
        print_json(json.dumps(found[0] if args.name else found, indent=2))
        return 0
    if not found:
        print("no breaker items yet (all CLOSED)")
    for item in found:
        print(_describe(item))
    return 0


def _describe(item: dict) -> str:
    window = item["window"]
    lines = [f"{item['name']}: {item['state']}  (trips: {item['trips']}, version {item['version']})",
             f"  window: {window['calls']} calls, {window['failure_rate']:.1f} % failed, "
             f"{window['slow_call_rate']:.1f} % slow"]
    if item["state"] == "OPEN":
        lines.append(f"  open until {when(item['open_until'])} "
                     f"({item['retry_after_s']:.0f} s left)")
    if item["state"] == "HALF_OPEN":
        lines.append(f"  probe lease: {item['lease_holder']} until {when(item['lease_until'])}")
    forced = item.get("forced")
    if forced:
        until = when(forced["until"]) if forced.get("until") else "changed by hand"
        lines.append(f"  set by {forced['by']}: {forced['reason']!r}, until {until}")
    for record in item.get("audit", []):
        lines.append(f"  audit {when(record['at'])} {record['by']}: {record['action']} "
                     f"{record['from']} -> {record['to']} ({record['reason']})")
    return "\n".join(lines)
