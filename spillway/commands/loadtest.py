"""``spillway loadtest [--backend aws|postgres] [--scenario burst|sustained|ramp|mix]
[--users N] [--run-time T] [--html FILE] [--chaos KIND=SECONDS ...] [--report DIR]
[--handler-timeout S] [--workdir DIR] [--json] [--dashboard-port N | --no-dashboard]``: the
Locust suite against a fresh local stack (``spillway.loadtest``, progress on stderr), then a loss
check; prints a human summary (the JSON with ``--json``) and the path of every report written;
exit status 0 only when Locust's and issue 11's thresholds held
(:func:`spillway.loadtest.judge`), the queues drained and nothing is missing or stored twice."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spillway.chaos import add_chaos_argument
from spillway.commands.options import (
    add_backend,
    add_dashboard,
    add_workdir,
    dashboard_port,
)
from spillway.json_output import print_json
from spillway.loadtest import SCENARIOS


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("loadtest", help="Locust scenarios against a local stack, "
                                               "then check nothing was lost")
    add_backend(p)
    p.add_argument("--scenario", choices=SCENARIOS, default="burst",
                   help="the Locust load shape (loadtest/locustfile.py; default: %(default)s)")
    p.add_argument("--users", type=int, help="peak users (default: the scenario's)")
    p.add_argument("--run-time", help="e.g. 30s, 2m (default: the scenario's)")
    p.add_argument("--html", help="write Locust's HTML report here")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    add_chaos_argument(p)
    p.add_argument("--report", metavar="DIR",
                   help="write PNG plots, Locust's HTML report and DIR/index.html")
    p.add_argument("--handler-timeout", type=int, metavar="S",
                   help="the local worker functions' timeout in seconds; each queue's visibility "
                        "timeout is 6x it plus the batching window (default: the stack's)")
    add_workdir(p)
    add_dashboard(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spillway.loadtest import judge, run_loadtest

    summary = run_loadtest(backend=args.backend, scenario=args.scenario, users=args.users,
                           run_time=args.run_time, html=args.html,
                           workdir=Path(args.workdir) if args.workdir else None,
                           dashboard_port=dashboard_port(args), chaos=args.chaos,
                           report_dir=args.report, handler_timeout_s=args.handler_timeout)
    if "ok" not in summary:
        judge(summary)  # accepted, missing, ack_p95_ms, threshold_violations, ok
    print_json(json.dumps(summary, sort_keys=True) if args.json else format_summary(summary))
    # with --json the last stdout line stays the JSON summary: the paths go to stderr
    paths_to = sys.stderr if args.json else sys.stdout
    if summary.get("html"):
        print(f"HTML report: {summary['html']}", file=paths_to)
    if "report" in summary:
        print(f"spillway loadtest: report {summary['report']}", file=paths_to)
    return 0 if summary["ok"] else 1


def format_summary(summary: dict) -> str:
    """The human summary of a load test, figures rounded (latencies in ms, rates per second)."""
    def ms(key: str) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{value * 1000:,.0f} ms"

    ok = summary["ok"] if "ok" in summary else (
        summary["exit_code"] == 0 and summary["missing"] == 0 and summary["drained"])
    lines = ["", f"Spillway load test summary ({summary.get('scenario', '?')}, "
                 f"{summary.get('backend', '?')} backend)", "-" * 40,
             f"  requests       {summary.get('requests', 0):,} "
             f"({summary.get('rps', 0):,.0f}/s), failures {summary.get('failures', 0):,} "
             f"({summary.get('error_rate', 0) * 100:.1f} %)",
             f"  ack latency    p50 {ms('p50_s')}, p95 {ms('p95_s')} "
             "(GitHub allows 10,000 ms)",
             f"  accepted       {summary['accepted']:,}",
             f"  stored         {summary.get('ledger_rows_added', 0):,} ledger rows added",
             f"  dead_lettered  {summary.get('dead_lettered', 0):,}",
             f"  missing        {summary['missing']:,}",
             f"  duplicated     {summary.get('duplicated', 0):,}",
             f"  drained        {'yes' if summary['drained'] else 'no'}"]
    if summary.get("budget_done_in_s") is not None:
        lines.append(f"  budget done in {summary['budget_done_in_s']:.1f} s")
    if "chaos" in summary:
        lines.append(f"  chaos          {', '.join(summary['chaos'])}: breaker trips "
                     f"{summary.get('breaker_trips')}, recovery {summary.get('recovery_s')} s")
    for violation in summary.get("threshold_violations") or ():
        lines.append(f"  threshold      {violation}")
    lines.append("  result         " + ("OK: thresholds held, nothing lost" if ok
                                       else "FAILED: see the lines above"))
    return "\n".join(lines)
