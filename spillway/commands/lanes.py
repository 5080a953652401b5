"""``spillway lanes status|disable|enable``: the lanes (aliases ``lane-1..lane-N``) of each
worker function, from the tier plan and the shared lane items (:mod:`spillway.ops.lanes`).

* ``spillway lanes status [FUNCTION] [--json]``
* ``spillway lanes disable FUNCTION LANE --reason TEXT [--by WHO] [--force]`` -- out of the
  rotation; the function's last enabled lane only with ``--force``
* ``spillway lanes enable FUNCTION LANE --reason TEXT [--by WHO]``  -- back, window emptied

Both changes are audited (``spillway audit --verb lanes``). With ``--local`` they reach the
running local stack's pollers through the state store; on AWS they also switch the lane's event
source mapping (``Enabled``) of the stage ``SPILLWAY_STAGE`` (default ``dev``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan
from chalicelib.ports import StatePort
from spillway.commands.audited import add_who_why, when, wiring_state
from spillway.json_output import print_json
from spillway.ops import lanes as ops


def _stage_plan() -> TierPlan:
    from chalicelib.tier_plan import stage_plan

    return stage_plan()


def register(subparsers: Any, *, store_factory: Callable[[], StatePort] = wiring_state,
             plan_factory: Callable[[], TierPlan] = _stage_plan,
             mappings_factory: Callable[[], ops.LaneMappings | None] = ops.aws_mappings,
             clock: Callable[[], float] = time.time) -> None:
    """Add ``lanes`` and its verbs to ``subparsers``; the factories run only when a verb does."""
    parser = subparsers.add_parser("lanes", help="show, disable or enable worker lanes (aliases)")
    verbs = parser.add_subparsers(dest="lanes_command", required=True)

    status = verbs.add_parser("status", help="each lane: healthy, disabled or ejected")
    status.add_argument("function", nargs="?", help="one worker function (default: all)")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=lambda args: _status(store_factory(), plan_factory(), args, clock))

    for verb, text in (("disable", "take a lane out of the rotation (and its mapping on AWS)"),
                       ("enable", "put a lane back in the rotation (clears an ejection)")):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("function", help="worker function, e.g. worker_high")
        sub.add_argument("lane", help="lane, e.g. lane-2 (as `spillway lanes status` lists)")
        add_who_why(sub)
        if verb == "disable":
            sub.add_argument("--force", action="store_true",
                             help="disable the function's last enabled lane too (it then "
                                  "consumes nothing until a lane is enabled)")
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(func=_changer(getattr(ops, verb), store_factory, plan_factory,
                                       mappings_factory, clock))


def _changer(change: Callable, store_factory: Callable[[], StatePort],
             plan_factory: Callable[[], TierPlan],
             mappings_factory: Callable[[], ops.LaneMappings | None],
             clock: Callable[[], float]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        plan = plan_factory()
        ops.worker(plan, args.function, args.lane)  # a typo is refused before any I/O
        extra = {"force": args.force} if hasattr(args, "force") else {}
        found = change(store_factory(), plan, args.function, args.lane, reason=args.reason,
                       by=args.by, mappings=mappings_factory(), clock=clock, **extra)
        if args.json:
            print_json(json.dumps(found, indent=2))
            return 0
        print("\n".join(describe(found)))
        return 0

    return run


def _status(store: StatePort, plan: TierPlan, args: argparse.Namespace,
            clock: Callable[[], float]) -> int:
    from chalicelib.settings import get_settings

    found = ops.status(store, plan, args.function, config=get_settings().lane_config,
                       clock=clock)
    if args.json:
        print_json(json.dumps({"tier": plan.name, "functions": found}, indent=2))
        return 0
    print(f"tier {plan.name}")
    for item in found:
        print("\n".join(describe(item)))
    return 0


def describe(item: dict) -> list[str]:
    """Text lines of one function's :func:`spillway.ops.lanes.function_status`."""
    lines = [f"{item['function']}  (reserved concurrency {item['reserved_concurrency']})"]
    for lane in item["lanes"]:
        state = lane["state"]
        if state == "disabled":
            state += f" ({lane['reason']})"
        elif state == "ejected":
            state += f" until {when(lane['ejected_until'])}"
        lines.append(f"  {lane['lane']:<7} max concurrency {lane['maximum_concurrency']:>3}  "
                     f"{lane['calls']:>4} calls {lane['errors']:>4} errors  {state}")
    if item.get("mappings"):
        lines.append(f"  event source mappings switched: {', '.join(item['mappings'])}")
    return lines
