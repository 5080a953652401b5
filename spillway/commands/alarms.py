"""``spillway alarms [--json] [--states] [--prefix P]``: the CloudWatch alarms of
``infra/template.yaml`` -- name, metric, statistic, threshold, period and the runbook verb
that answers each (RUNBOOK.md) -- and, with ``--states``, their current state: CloudWatch's
``DescribeAlarms`` on AWS, evaluated from the collector's rows with ``spillway --local``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from spillway.json_output import print_json

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
        print_json(json.dumps({"alarms": alarms}, indent=1, sort_keys=True))
        return 0
    print("\n".join(table(alarms, states=args.states)))
    return 0


#: Characters of a metric shown in the table (``--json`` has all of it).
METRIC_WIDTH = 48


def table(alarms: list[dict[str, Any]], *, states: bool = False) -> list[str]:
    """Text rows of :func:`spillway.ops.alarms.alarm_definitions` (with ``state`` when
    ``states``), every column as wide as its widest cell. ``watches`` is what the alarm's
    dimensions name (the queue of a queue-depth alarm, the function of a Lambda one); the
    metric is shown without them, cut at :data:`METRIC_WIDTH` characters."""
    header = ["alarm", "watches", "metric", "statistic", "threshold", "period", "runbook"]
    rows = []
    for a in alarms:
        metric = a["metric"].split(" (", 1)[0] if a.get("dimensions") else a["metric"]
        if len(metric) > METRIC_WIDTH:
            metric = metric[:METRIC_WIDTH - 3] + "..."
        rows.append([a["name"], ", ".join((a.get("dimensions") or {}).values()) or "-", metric,
                     a["statistic"],
                     f"{_OPS.get(a['comparison'], a['comparison'])} {a['threshold']:g}",
                     f"{a['evaluation_periods']} x {a['period_s']:g} s",
                     f"spillway {a['runbook']}" if a["runbook"] else "-"]
                    + ([str(a.get("state", "?"))] if states else []))
    header += ["state"] if states else []
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {"threshold", "period"}
    return ["  ".join((cell.rjust(w) if name in right else cell.ljust(w))
                      for name, cell, w in zip(header, row, widths, strict=True)).rstrip()
            for row in [header, *rows]]
