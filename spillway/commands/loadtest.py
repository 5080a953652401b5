"""``spillway loadtest [--backend aws|postgres] [--scenario burst|sustained|ramp|mix]
[--users N] [--run-time T] [--html FILE] [--chaos KIND=SECONDS ...] [--report DIR]
[--workdir DIR]``: the Locust suite against a fresh local stack (``spillway.loadtest``), then a
loss check; prints the summary as JSON (and the report's path on stderr), exit status 0 only
when Locust's and issue 11's thresholds held (:func:`spillway.loadtest.judge`), the queues
drained and nothing is missing or stored twice."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spillway.chaos import add_chaos_argument
from spillway.commands.options import add_backend, add_workdir
from spillway.loadtest import SCENARIOS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("loadtest", help="Locust scenarios against a local stack, "
                                               "then check nothing was lost")
    add_backend(p)
    p.add_argument("--scenario", choices=SCENARIOS, default="burst")
    p.add_argument("--users", type=int, help="peak users (default: the scenario's)")
    p.add_argument("--run-time", help="e.g. 30s, 2m (default: the scenario's)")
    p.add_argument("--html", help="write Locust's HTML report here")
    add_chaos_argument(p)
    p.add_argument("--report", metavar="DIR",
                   help="write PNG plots, Locust's HTML report and DIR/index.html")
    p.add_argument("--visibility-timeout", type=int, metavar="S",
                   help="the queues' visibility timeout in seconds (default: the stack's)")
    add_workdir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.loadtest import judge, run_loadtest

    summary = run_loadtest(backend=args.backend, scenario=args.scenario, users=args.users,
                           run_time=args.run_time, html=args.html,
                           workdir=Path(args.workdir) if args.workdir else None,
                           chaos=args.chaos, report_dir=args.report,
                           visibility_timeout_s=args.visibility_timeout)
    if "ok" not in summary:
        judge(summary)
    print(json.dumps(summary, sort_keys=True))
    if "report" in summary:
        print(f"spillway loadtest: report {summary['report']}", file=sys.stderr)
    return 0 if summary["ok"] else 1
