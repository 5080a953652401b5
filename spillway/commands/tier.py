"""``spillway tier plan|set``: print a tier plan, or write it for a Chalice stage."""

from __future__ import annotations

import json
from pathlib import Path

from spillway.ops import tier as ops


def register(subparsers):
    """Add the ``tier`` command to ``subparsers``."""
    p = subparsers.add_parser("tier", help="tier plans: every concurrency setting from one plan")
    sub = p.add_subparsers(dest="tier_command", required=True)
    for verb, text in (("plan", "print a tier's plan (refused with exit 2 if it breaks a rule)"),
                       ("set", "write a tier's plan into a stage of .chalice/config.json")):
        q = sub.add_parser(verb, help=text)
        q.add_argument("name", help="free, pro, enterprise or custom")
        q.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                       help="override a plan knob, e.g. edge_concurrency=20 (repeatable)")
        q.add_argument("--file", type=Path, help="JSON object of plan knobs to override")
        if verb == "plan":
            q.add_argument("--json", action="store_true", help="print the plan as JSON")
            q.set_defaults(func=cmd_plan)
        else:
            q.add_argument("--stage", required=True, help="Chalice stage, e.g. dev or prod")
            q.add_argument("--chalice-dir", type=Path, default=Path(".chalice"),
                           help="the Chalice project folder to write (default: %(default)s)")
            q.set_defaults(func=cmd_set)
    m = sub.add_parser("merge-template", help="write the chalice package merge template of a "
                                              "stage's plan (lanes 2..N as aliases + mappings)")
    m.add_argument("--stage", required=True, help="Chalice stage (reads .chalice/tier-<stage>.json)")
    m.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    m.add_argument("--project-dir", type=Path, default=Path("."),
                   help="the Chalice project (default: %(default)s)")
    m.set_defaults(func=cmd_merge_template)
    return p


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
        print(json.dumps(doc, indent=1))
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


def cmd_set(args) -> int:
    knobs = ops.knobs_for(args.name, sets=args.sets, file=args.file)
    paths = ops.write_stage(knobs, stage=args.stage, chalice_dir=args.chalice_dir)
    print(f"tier {args.name} written for stage {args.stage}: {paths['config']}, "
          f"{paths['tier_file']}")
    return 0
