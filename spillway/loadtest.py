"""``spillway loadtest``: the Locust suite (``loadtest/``) against a local stack on either
backend, then a loss check: after the queues drain, every delivery Locust saw accepted must be
in the ledger (or the dead-letter queue).

Locust runs as a child process (it monkey-patches the interpreter with gevent, which must not
touch the stack's threads).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
SCENARIOS = ("sustained", "ramp", "burst", "mix")
SUMMARY_RE = re.compile(r"^loadtest summary: (\{.*\})$", re.MULTILINE)


def locust_command(url: str, *, users: int | None, run_time: str | None,
                   html: str | None) -> list[str]:
    """The headless Locust command line for ``url`` (pure)."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, "--headless",
           "--only-summary"]
    if users:
        cmd += ["--users", str(users)]
    if run_time:
        cmd += ["--run-time", run_time]
    if html:
        cmd += ["--html", html]
    return cmd


def parse_summary(stderr: str) -> dict:
    """The JSON ``loadtest summary`` line the locustfile prints at exit (``{}`` if none)."""
    found = SUMMARY_RE.findall(stderr)
    return json.loads(found[-1]) if found else {}


def run_loadtest(*, backend: str, scenario: str, users: int | None, run_time: str | None,
                 html: str | None, workdir: Path | None = None) -> dict:
    """Start the stack, run Locust, wait for the drain, count the ledger. Returns the Locust
    summary plus ``ledger_rows_added`` (rows the run added; it can exceed Locust's count by the
    requests in flight when Locust stopped, which the edge still accepted), ``dead_lettered``,
    ``drained`` and ``exit_code`` (Locust's: 1 when a threshold was violated)."""
    from chalicelib import wiring
    from chalicelib.ports import DLQ
    from spillway.demo import wait_drained
    from spillway.ops.ledger import ledger_counts_at
    from spillway.runtime.stack import LocalStack, StackOptions

    options = StackOptions(backend=backend)
    if workdir:
        options.workdir = workdir
    with LocalStack(options) as stack:
        before = ledger_counts_at(stack.env["DATABASE_URL"]).rows
        env = {**os.environ, "GITHUB_WEBHOOK_SECRET": stack.secret,
               "LOADTEST_SCENARIO": scenario}
        print(f"spillway loadtest: {scenario} on the {backend} backend at {stack.url}",
              file=sys.stderr, flush=True)
        proc = subprocess.run(locust_command(stack.url, users=users, run_time=run_time,
                                             html=html),
                              env=env, capture_output=True, text=True, check=False)
        summary = parse_summary(proc.stderr)
        drained = wait_drained(wiring.get_queue(), 600) is not None
        summary.update({
            "backend": backend, "exit_code": proc.returncode, "drained": drained,
            "ledger_rows_added": ledger_counts_at(stack.env["DATABASE_URL"]).rows - before,
            "dead_lettered": wiring.get_queue().stats(DLQ).total,
        })
        if not summary.get("requests"):
            summary["locust_output"] = proc.stderr[-2000:]
    return summary


def register(subparsers, add_backend) -> None:
    """Add ``spillway loadtest`` to the CLI."""
    p = subparsers.add_parser("loadtest", help="Locust scenarios against a local stack, "
                                               "then check nothing was lost")
    add_backend(p)
    p.add_argument("--scenario", choices=SCENARIOS, default="burst")
    p.add_argument("--users", type=int, help="peak users (default: the scenario's)")
    p.add_argument("--run-time", help="e.g. 30s, 2m (default: the scenario's)")
    p.add_argument("--html", help="write Locust's HTML report here")
    p.add_argument("--workdir", default=os.environ.get("SPILLWAY_WORKDIR"))
    p.set_defaults(func=cmd_loadtest)


def cmd_loadtest(args) -> int:
    summary = run_loadtest(backend=args.backend, scenario=args.scenario, users=args.users,
                           run_time=args.run_time, html=args.html,
                           workdir=Path(args.workdir) if args.workdir else None)
    accepted = summary.get("requests", 0) - summary.get("failures", 0)
    # Every 2xx is a new delivery here (fresh ids): each must be a ledger row or dead-lettered.
    missing = max(0, accepted - summary["ledger_rows_added"] - summary["dead_lettered"])
    summary["accepted"], summary["missing"] = accepted, missing
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary["exit_code"] == 0 and missing == 0 and summary["drained"] else 1
