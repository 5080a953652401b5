"""``spillway demo [PATH...] [--json] [--backend aws|postgres] [--burst K] [--concurrency N]
[--chaos db-outage=SECONDS] [--workdir DIR] [--tier NAME]
[--dashboard-port N | --no-dashboard]``: the main job end to end (``spillway.demo``);
exit status 0 only when nothing is missing or stored twice and the queues drained."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spillway.commands.options import add_backend, add_dashboard, add_workdir, dashboard_port


def parse_chaos(value: str) -> float:
    """``"db-outage=20"`` -> 20.0 (seconds); argparse.ArgumentTypeError for anything else."""
    name, _, seconds = value.partition("=")
    if name != "db-outage" or not seconds:
        raise argparse.ArgumentTypeError("expected db-outage=SECONDS")
    try:
        return float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError("db-outage takes a number of seconds") from None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="the main job: local stack + replay + drain + summary")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="payload folders (default: the bundled sample deliveries)")
    add_backend(p)
    add_workdir(p)
    p.add_argument("--json", action="store_true", help="last line of stdout is a JSON summary")
    p.add_argument("--burst", type=int, default=1, metavar="K",
                   help="replay the payloads K times over, fresh delivery ids")
    p.add_argument("--concurrency", type=int, default=None,
                   help="sender threads (default 8; with --tier, the tier's burst)")
    p.add_argument("--chaos", type=parse_chaos, default=0.0, metavar="db-outage=SECONDS",
                   help="stop the application PostgreSQL for SECONDS during the replay")
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
    opts = DemoOptions(backend=args.backend, burst=max(1, args.burst), json_output=args.json,
                       concurrency=max(1, concurrency), chaos_db_outage_s=args.chaos,
                       tier=args.tier, dashboard_port=dashboard_port(args))
    if args.paths:
        opts.paths = args.paths
    if args.workdir:
        from spillway.local.stack import StackOptions

        opts.stack_options = StackOptions(backend=args.backend, workdir=Path(args.workdir))
    return main_demo(opts)
