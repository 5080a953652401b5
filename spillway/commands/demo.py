"""``spillway demo [PATH...] [--json] [--backend aws|postgres] [--burst K] [--concurrency N]
[--chaos KIND=SECONDS ...] [--reconcile] [--report DIR] [--workdir DIR]
[--tier NAME] [--dashboard-port N | --no-dashboard]``: the main job end to end
(``spillway.demo``; the edge outage and the reconciler in ``spillway.demo_reconcile``, the tier
in ``spillway.demo_tier``); exit status 0 only when nothing is missing, lost or stored twice and
the queues drained."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spillway.chaos import add_chaos_argument
from spillway.commands.options import add_backend, add_dashboard, add_workdir, dashboard_port


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="the main job: local stack + replay + drain + summary")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="payload folders (default: the bundled sample deliveries)")
    add_backend(p)
    add_workdir(p)
    p.add_argument("--json", action="store_true", help="stdout is one JSON document, the summary (the text summary goes to stderr)")
    p.add_argument("--burst", type=int, default=1, metavar="K",
                   help="replay the payloads K times over, fresh delivery ids")
    p.add_argument("--concurrency", type=int, default=None,
                   help="sender threads (default 8; with --tier, the tier's burst)")
    add_chaos_argument(p, external=("edge-outage",))
    p.add_argument("--report", metavar="DIR",
                   help="write PNG plots and DIR/index.html of the run (spillway.report)")
    p.add_argument("--reconcile", action="store_true",
                   help="after the replay, run the reconciler against the GitHub stand-in "
                        "until nothing is missing or --reconcile-timeout passes")
    p.add_argument("--reconcile-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="time limit of --reconcile (default 120)")
    p.add_argument("--tier", metavar="NAME", choices=["free", "pro", "enterprise"],
                   help="run with that tier plan's concurrency, pools and database slots")
    add_dashboard(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.core.concurrency.plan import build_plan
    from spillway.demo import DemoOptions, main_demo

    concurrency = args.concurrency
    if concurrency is None:  # a tier is sized for its burst of concurrent requests
        concurrency = build_plan(args.tier).burst if args.tier else 8
    edge_outage = [c for c in args.chaos if c.kind == "edge-outage"]
    opts = DemoOptions(backend=args.backend, burst=max(1, args.burst), json_output=args.json,
                       concurrency=max(1, concurrency), report_dir=args.report,
                       chaos=[c for c in args.chaos if c.kind != "edge-outage"],
                       chaos_edge_outage_s=max((c.seconds for c in edge_outage), default=0.0),
                       reconcile=args.reconcile,
                       reconcile_timeout_s=max(1.0, args.reconcile_timeout),
                       tier=args.tier, dashboard_port=dashboard_port(args))
    if args.paths:
        opts.paths = args.paths
    if args.workdir:
        from spillway.local.stack import StackOptions

        opts.stack_options = StackOptions(backend=args.backend, workdir=Path(args.workdir))
    return main_demo(opts)
