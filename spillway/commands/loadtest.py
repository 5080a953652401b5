"""``spillway loadtest [--backend aws|postgres] [--scenario burst|sustained|ramp|mix]
[--users N] [--run-time T] [--html FILE] [--workdir DIR]``: the Locust suite against a fresh
local stack (``spillway.loadtest``), then a loss check; prints the summary as JSON, exit
status 0 only when Locust's thresholds held, the queues drained and nothing is missing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    add_workdir(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.loadtest import run_loadtest

    summary = run_loadtest(backend=args.backend, scenario=args.scenario, users=args.users,
                           run_time=args.run_time, html=args.html,
                           workdir=Path(args.workdir) if args.workdir else None)
    accepted = summary.get("requests", 0) - summary.get("failures", 0)
    # Every 2xx is a new delivery here (fresh ids): each must be a ledger row or dead-lettered.
    missing = max(0, accepted - summary["ledger_rows_added"] - summary["dead_lettered"])
    summary["accepted"], summary["missing"] = accepted, missing
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary["exit_code"] == 0 and missing == 0 and summary["drained"] else 1
