"""``spillway alarms [--json] [--states] [--prefix P]``: the CloudWatch alarms of
``infra/template.yaml`` -- name, metric, statistic, threshold, period and the runbook verb
that answers each (RUNBOOK.md) -- and, with ``--states``, their current state: CloudWatch's
``DescribeAlarms`` on AWS, evaluated from the collector's rows with ``spillway --local``."""

from __future__ import annotations

import argparse
import json
from typing import Any

_OPS = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=",
        "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<="}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("alarms", help="the alarms, their thresholds and runbook verbs")
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument("--states", action="store_true",
                   help="add each alarm's state (CloudWatch; evaluated locally with --local)")
    p.add_argument("--prefix", help="resource prefix (default SPILLWAY_QUEUE_PREFIX or spillway)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError
    from chalicelib.settings import queue_prefix
    from spillway.ops.alarms import alarm_definitions, alarm_states

    try:
        prefix = queue_prefix({"SPILLWAY_QUEUE_PREFIX": args.prefix} if args.prefix else None)
        alarms = alarm_definitions(prefix=prefix)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.states:
        source = "local" if getattr(args, "local", False) else "cloudwatch"
        states = {s["name"]: s for s in alarm_states(alarms, source=source)}
        for alarm in alarms:
            alarm["state"] = states[alarm["name"]]["state"]
            alarm["state_reason"] = states[alarm["name"]]["reason"]
    if args.json:
        print(json.dumps({"alarms": alarms}, indent=1, sort_keys=True))
        return 0
    print(f"{'alarm':<30} {'metric':<58} {'statistic':<10} {'threshold':>11} {'period':>11}  "
          f"runbook" + ("  state" if args.states else ""))
    for a in alarms:
        metric = a["metric"] if len(a["metric"]) <= 58 else a["metric"][:55] + "..."
        threshold = f"{_OPS.get(a['comparison'], a['comparison'])} {a['threshold']:g}"
        period = f"{a['evaluation_periods']} x {a['period_s']:g} s"
        line = (f"{a['name']:<30} {metric:<58} {a['statistic']:<10} {threshold:>11} "
                f"{period:>11}  spillway {a['runbook'] or '-'}")
        print(line + (f"  {a['state']}" if args.states else ""))
    return 0
