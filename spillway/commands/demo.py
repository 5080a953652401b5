"""``spillway demo [PATH...] [--json] [--backend aws|postgres] [--burst K] [--concurrency N]
[--chaos KIND=SECONDS ...] [--report DIR] [--workdir DIR]``: the main job end to end
(``spillway.demo``); exit status 0 only when nothing is missing or stored twice, the queues
drained and the thresholds held (:mod:`spillway.report.thresholds`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spillway.chaos import add_chaos_argument
from spillway.commands.options import add_backend, add_workdir


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="the main job: local stack + replay + drain + summary")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="payload folders (default: the bundled sample deliveries)")
    add_backend(p)
    add_workdir(p)
    p.add_argument("--json", action="store_true", help="last line of stdout is a JSON summary")
    p.add_argument("--burst", type=int, default=1, metavar="K",
                   help="replay the payloads K times over, fresh delivery ids")
    p.add_argument("--concurrency", type=int, default=8, help="sender threads")
    add_chaos_argument(p)
    p.add_argument("--report", metavar="DIR",
                   help="write PNG plots and DIR/index.html of the run (spillway.report)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.demo import DemoOptions, main_demo

    opts = DemoOptions(backend=args.backend, burst=max(1, args.burst), json_output=args.json,
                       concurrency=max(1, args.concurrency), chaos=args.chaos,
                       report_dir=args.report)
    if args.paths:
        opts.paths = args.paths
    if args.workdir:
        from spillway.local.stack import StackOptions

        opts.stack_options = StackOptions(backend=args.backend, workdir=Path(args.workdir))
    return main_demo(opts)
