"""``spillway loadtest``: the Locust suite (``loadtest/``) against a local stack on either
backend, then a loss check: after the queues drain, every delivery Locust saw accepted must be
in the ledger (or the dead-letter queue).

Locust runs as a child process (it monkey-patches the interpreter with gevent, which must not
touch the stack's threads). The command line is ``spillway.commands.loadtest``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from spillway.paths import ROOT

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
    from spillway.local.drain import wait_drained
    from spillway.local.stack import LocalStack, StackOptions
    from spillway.ops.ledger import ledger_counts_at

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


