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


#: Seconds between two progress lines while Locust runs.
PROGRESS_EVERY_S = 10.0


def _run_with_progress(cmd: list[str], env: dict, queue) -> subprocess.CompletedProcess:
    """Run Locust (output captured) and print elapsed time and queue depth to stderr every
    :data:`PROGRESS_EVERY_S` seconds until it exits."""
    import threading
    import time

    from chalicelib.ports import PRIORITIES

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out: dict[str, str] = {}
    def read() -> None:
        out["stdout"], out["stderr"] = proc.communicate()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.perf_counter()
    while True:
        reader.join(PROGRESS_EVERY_S)
        if not reader.is_alive():
            break
        depth = sum(queue.stats(p).total for p in PRIORITIES)
        print(f"  locust running: {time.perf_counter() - started:.0f} s, {depth} messages "
              "queued", file=sys.stderr, flush=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.get("stdout", ""),
                                       out.get("stderr", ""))


def run_loadtest(*, backend: str, scenario: str, users: int | None, run_time: str | None,
                 html: str | None, workdir: Path | None = None,
                 dashboard_port: int | None = None) -> dict:
    """Start the stack, run Locust, wait for the drain, count the ledger. Returns the Locust
    summary plus ``ledger_rows_added`` (rows the run added; it can exceed Locust's count by the
    requests in flight when Locust stopped, which the edge still accepted), ``dead_lettered``,
    ``drained`` and ``exit_code`` (Locust's: 1 when a threshold was violated). The live
    dashboard is served on ``dashboard_port`` while it runs (None: not served)."""
    from spillway.dashboard.local import attach
    from spillway.local.stack import LocalStack, StackOptions

    options = StackOptions(backend=backend)
    if workdir:
        options.workdir = workdir
    with LocalStack(options) as stack:
        dashboard = attach(stack, dashboard_port,
                           say=lambda line: print(line, file=sys.stderr, flush=True))
        try:
            return _measure(stack, backend, scenario, users, run_time, html)
        finally:
            if dashboard is not None:
                dashboard.stop()


def _measure(stack, backend: str, scenario: str, users: int | None, run_time: str | None,
             html: str | None) -> dict:
    from chalicelib import wiring
    from chalicelib.ports import DLQ
    from spillway.local.drain import wait_drained
    from spillway.ops.ledger import ledger_counts_at

    before = ledger_counts_at(stack.env["DATABASE_URL"]).rows
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": stack.secret,
           "LOADTEST_SCENARIO": scenario}
    print(f"spillway loadtest: {scenario} on the {backend} backend at {stack.url}",
          file=sys.stderr, flush=True)
    proc = _run_with_progress(locust_command(stack.url, users=users, run_time=run_time,
                                             html=html), env, wiring.get_queue())
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


