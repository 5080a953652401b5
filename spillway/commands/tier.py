"""``spillway tier plan|set|lift|merge-template``: print a tier plan, write it for a Chalice
stage (audited), lift the run-time limits to another tier for a while (audited, reverts by
itself), or write a stage's merge template (lanes).

* ``spillway tier plan NAME [--set K=V ...] [--file F] [--json]``
* ``spillway tier set NAME --stage S --reason R [--by WHO] [--set K=V ...] [--file F]``
* ``spillway tier lift --to T --for 30m --reason R [--by WHO] [--from T0] [--set K=V ...]
  [--json]``
* ``spillway tier lift --end --reason R [--by WHO]``
* ``spillway tier docs [--write]`` -- check (or rewrite) the generated tables in the docs
  (:mod:`spillway.tier_docs`)

``--for`` takes ``90s``, ``30m``, ``2h`` (at most 24 h). A lift changes what workers decide at
run time -- the shared slots' limit and adaptive bounds, so admission and priority partitions --
within ``LIFT_CACHE_S`` (5 s); it cannot change reserved concurrency or a mapping's
MaximumConcurrency, which AWS fixes at deploy time (``spillway tier set`` + ``spillway deploy``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort
from spillway.commands.audited import add_who_why, parse_duration, when, wiring_state
from spillway.commands.options import command_hint
from spillway.json_output import print_json
from spillway.ops import tier as ops

LIFT_HELP = ("lift the run-time limits (shared DB slots, adaptive limit bounds, admission) to "
             "another tier for a while; reverts by itself. Reserved concurrency and mapping "
             "MaximumConcurrency are deploy-time on AWS: a lift cannot change them")


def _plan_knobs(q: argparse.ArgumentParser) -> None:
    from chalicelib.core.concurrency.plan import knob_names

    q.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a plan knob, e.g. edge_concurrency=20 (repeatable; the value "
                        "is read as JSON). Knobs: " + ", ".join(knob_names()))
    q.add_argument("--file", type=Path, help="JSON object of plan knobs to override")


def register(subparsers: Any, *, store_factory: Callable[[], StatePort] = wiring_state,
             clock: Callable[[], float] = time.time):
    """Add the ``tier`` command to ``subparsers``. ``store_factory()`` (default: the wiring's
    state store, that of ``--local`` or AWS) is called only by the audited verbs."""
    p = subparsers.add_parser("tier", help="tier plans: every concurrency setting from one plan")
    sub = p.add_subparsers(dest="tier_command", required=True)
    q = sub.add_parser("plan", help="print a tier's plan (refused with exit 2 if it breaks a rule)")
    q.add_argument("name", help="free, pro, enterprise or custom")
    _plan_knobs(q)
    q.add_argument("--json", action="store_true", help="print the plan as JSON")
    q.set_defaults(func=cmd_plan)

    q = sub.add_parser("set", help="write a tier's plan into a stage of .chalice/config.json "
                                   "(audited)")
    q.add_argument("name", help="free, pro, enterprise or custom")
    _plan_knobs(q)
    q.add_argument("--stage", required=True, help="Chalice stage, e.g. dev or prod")
    q.add_argument("--chalice-dir", type=Path, default=Path(".chalice"),
                   help="the Chalice project folder to write (default: %(default)s)")
    add_who_why(q)
    q.set_defaults(func=lambda args: cmd_set(args, store_factory))

    q = sub.add_parser("lift", help=LIFT_HELP, description=LIFT_HELP + ".")
    q.add_argument("--to", help="the tier to lift to (free, pro, enterprise or custom with --set)")
    q.add_argument("--for", dest="duration", type=parse_duration,
                   help=f"how long: 90s, 30m, 2h (at most {ops.MAX_LIFT_S // 3600} h)")
    q.add_argument("--from", dest="from_tier",
                   help="the tier deployed now (default: $SPILLWAY_TIER, else free); the lift "
                        "must raise its slot limit")
    q.add_argument("--end", action="store_true", help="end the active lift now")
    _plan_knobs(q)
    add_who_why(q)
    q.add_argument("--json", action="store_true", help="print the lift as JSON")
    q.set_defaults(func=lambda args: cmd_lift(args, store_factory, clock))
    m = sub.add_parser("merge-template", help="write the chalice package merge template of a "
                                              "stage's plan (lanes 2..N as aliases + mappings)")
    m.add_argument("--stage", required=True, help="Chalice stage (reads .chalice/tier-<stage>.json)")
    m.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    m.add_argument("--project-dir", type=Path, default=Path("."),
                   help="the Chalice project (default: %(default)s)")
    m.set_defaults(func=cmd_merge_template)
    d = sub.add_parser("docs", help="check (or --write) the tier and alarm tables that "
                                    "docs/DEPLOY.md and README.md print between markers")
    d.add_argument("--write", action="store_true",
                   help="rewrite the generated sections instead of checking them")
    d.set_defaults(func=cmd_docs)
    return p


def cmd_docs(args) -> int:
    """Exit 0 when every generated section is current (or was rewritten with ``--write``),
    1 when some are stale (listed on stderr)."""
    import sys

    from spillway.tier_docs import stale

    files = stale(write=args.write)
    if args.write:
        print(f"rewrote {', '.join(files)}" if files else "generated sections already current")
        return 0
    if files:
        print(f"stale generated sections in {', '.join(files)}: run "
              f"`{command_hint(args, 'tier docs --write')}`", file=sys.stderr)
        return 1
    print("generated sections current")
    return 0


def cmd_merge_template(args) -> int:
    from chalicelib.tier_plan import stage_plan
    from spillway.package import write_merge_template

    project = args.project_dir.resolve()
    plan = stage_plan({"SPILLWAY_STAGE": args.stage}, project_dir=project)
    path = write_merge_template(plan, args.out, app_file=project / "app.py")
    print(f"tier {plan.name} merge template for stage {args.stage}: {path}")
    return 0


def cmd_plan(args) -> int:
    doc = ops.plan_for(args.name, sets=args.sets, file=args.file).to_dict()
    if args.json:
        print_json(json.dumps(doc, indent=1))
        return 0
    print(f"tier {doc['tier']}: edge reserved concurrency {doc['edge']['reserved_concurrency']}, "
          f"burst {doc['api_gateway']['burst_limit']}, queue capacity {doc['queue_capacity']}")
    for name, w in doc["workers"].items():
        lanes = ", ".join(f"{m['lane']}={m['maximum_concurrency']}" for m in w["lanes"])
        print(f"  {name:14} queue {w['queue']:6} reserved {w['reserved_concurrency']:3} "
              f"lanes [{lanes}] batch {w['batch_size']} window {w['window_s']}s "
              f"timeout {w['timeout_s']}s visibility {w['visibility_timeout_s']}s")
    db = doc["database"]
    print(f"  database: budget {db['db_connection_budget']} <= limit {db['db_connection_limit']}")
    return 0


def cmd_set(args, store_factory: Callable[[], StatePort]) -> int:
    knobs = ops.knobs_for(args.name, sets=args.sets, file=args.file)
    paths = ops.write_stage(knobs, stage=args.stage, chalice_dir=args.chalice_dir,
                            audit_to=store_factory(), by=args.by, reason=args.reason)
    print(f"tier {args.name} written for stage {args.stage} (was {paths['from'] or 'unset'}): "
          f"{paths['config']}, {paths['tier_file']}")
    return 0


def cmd_lift(args, store_factory: Callable[[], StatePort], clock: Callable[[], float]) -> int:
    if args.end:
        if args.to or args.duration:
            raise ConfigError("--end takes no --to or --for")
        ended = ops.end_lift(store_factory(), by=args.by, reason=args.reason, clock=clock)
        if args.json:
            print_json(json.dumps({"ended": ended}, indent=2))
        else:
            print(f"lift to {ended['to']} ended; back to {ended['from']}" if ended
                  else "no active lift: nothing to end")
        return 0
    if not args.to or not args.duration:
        raise ConfigError("a lift needs --to TIER and --for DURATION (e.g. --to enterprise "
                          "--for 30m), or --end")
    new = ops.prepare_lift(to=args.to, duration_s=args.duration, by=args.by,
                           reason=args.reason, sets=args.sets, file=args.file,
                           from_tier=args.from_tier, now=clock())
    lift = ops.start_lift(store_factory(), new)
    slots_on = os.environ.get("SLOTS_ENABLED", "").strip().lower() in ("true", "1", "yes", "on")
    if getattr(args, "local", False) and not slots_on:
        # e.g. a `spillway local` started without --tier: the lift is recorded, acts on nothing
        print("note: shared database slots are off in this environment (SLOTS_ENABLED): the "
              "lift is recorded but limits nothing until they are on (`spillway local --tier "
              "<tier>` runs a plan with them)", file=sys.stderr)
    if args.json:
        print_json(json.dumps(lift, indent=2))
    else:
        print(f"lifted {lift['from']} -> {lift['to']} until {when(lift['until'])} (slot limit "
              f"up to {lift['slot_max_limit']}); reverts by itself, or "
              f"`{command_hint(args, 'tier lift --end --reason ...')}`")
    return 0
