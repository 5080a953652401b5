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
                   html: str | None, csv_prefix: str | None = None) -> list[str]:
    """The headless Locust command line for ``url`` (pure)."""
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, "--headless",
           "--only-summary"]
    if users:
        cmd += ["--users", str(users)]
    if run_time:
        cmd += ["--run-time", run_time]
    if html:
        cmd += ["--html", html]
    if csv_prefix:  # PREFIX_stats_history.csv: per-second percentiles for the report
        cmd += ["--csv", csv_prefix, "--csv-full-history"]
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

    from chalicelib.ports import WORK_QUEUES

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
        depth = sum(queue.stats(q).total for q in WORK_QUEUES)
        print(f"  locust running: {time.perf_counter() - started:.0f} s, {depth} messages "
              "queued", file=sys.stderr, flush=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.get("stdout", ""),
                                       out.get("stderr", ""))


def run_loadtest(*, backend: str, scenario: str, users: int | None, run_time: str | None,
                 html: str | None, workdir: Path | None = None,
                 dashboard_port: int | None = None, chaos: list | None = None,
                 report_dir: str | None = None, handler_timeout_s: int | None = None) -> dict:
    """Start the stack, run Locust (with the planned faults of ``chaos``, a list of
    :class:`spillway.chaos.ChaosSpec`, starting 1 s in), wait for the drain, count the ledger.
    Returns the Locust summary plus ``ledger_rows_added`` (rows the run added; it can exceed
    Locust's count by the requests in flight when Locust stopped, which the edge still
    accepted), ``duplicated`` (rows beyond the first per delivery id), ``dead_lettered``,
    ``drained``, ``exit_code`` (Locust's: 1 when a threshold was violated), ``recovery_s``
    (seconds from the last fault's end to the drain, when faults ran) and ``report`` (the
    ``index.html`` written into ``report_dir``, Locust's HTML report beside it). The live
    dashboard is served on ``dashboard_port`` while it runs (None: not served)."""
    from spillway.dashboard.local import attach
    from spillway.local.stack import LocalStack, StackOptions

    options = StackOptions(backend=backend)
    if workdir:
        options.workdir = workdir
    if handler_timeout_s:
        options.handler_timeout_s = handler_timeout_s
    with LocalStack(options) as stack:
        dashboard = attach(stack, dashboard_port,
                           say=lambda line: print(line, file=sys.stderr, flush=True))
        try:
            return _measure(stack, backend, scenario, users, run_time, html, chaos or [],
                            report_dir, dashboard)
        finally:
            if dashboard is not None:
                dashboard.stop()


def _measure(stack, backend: str, scenario: str, users: int | None, run_time: str | None,
             html: str | None, chaos: list, report_dir: str | None, dashboard=None) -> dict:
    from chalicelib import wiring
    from chalicelib.ports import DLQ
    from spillway.chaos import breaker_trips, make_faults
    from spillway.local.drain import wait_drained
    from spillway.ops.ledger import ledger_counts_at
    from spillway.report.recorder import Recorder

    csv_prefix = None
    if report_dir:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        html = html or str(Path(report_dir) / "locust.html")
        csv_prefix = str(Path(report_dir) / "locust")
    before = ledger_counts_at(stack.env["DATABASE_URL"])
    faults = make_faults(stack, chaos)
    recorder = Recorder(stack, report_dir, dashboard) if report_dir else None
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": stack.secret,
           "LOADTEST_SCENARIO": scenario}
    print(f"spillway loadtest: {scenario} on the {backend} backend at {stack.url}",
          file=sys.stderr, flush=True)
    for fault in faults:
        fault.start()
    proc = _run_with_progress(locust_command(stack.url, users=users, run_time=run_time,
                                             html=html, csv_prefix=csv_prefix),
                              env, wiring.get_queue())
    for fault in faults:
        fault.join()
    summary = parse_summary(proc.stderr)
    drained_at = wait_drained(wiring.get_queue(), 600)
    after = ledger_counts_at(stack.env["DATABASE_URL"])
    summary.update({
        "backend": backend, "scenario": scenario, "exit_code": proc.returncode,
        "drained": drained_at is not None,
        "ledger_rows_added": after.rows - before.rows,
        "duplicated": after.duplicates - before.duplicates,
        "dead_lettered": wiring.get_queue().stats(DLQ).total,
    })
    if faults:
        restored = [f.restored_at for f in faults]
        summary["chaos"] = [f"{f.kind}={f.outage_s:g}" for f in faults]
        summary["breaker_trips"] = breaker_trips()
        summary["planned_503"] = any(f.planned_503 for f in faults)
        from spillway.report.thresholds import recovery_limit_s

        summary["recovery_limit_s"] = recovery_limit_s(faults)
        summary["recovery_s"] = (round(max(0.0, drained_at - max(restored)), 2)
                                 if drained_at is not None and None not in restored else None)
    if html:
        summary["html"] = str(Path(html).resolve())
    if not summary.get("requests"):
        summary["locust_output"] = proc.stderr[-2000:]
    if recorder:
        judge(summary)
        from spillway.report.locust_history import latency_history

        page = recorder.finish(
            f"Spillway load test: {scenario} on {backend}", summary, faults=faults,
            links={"Locust report": Path(html).name}, verdict=_verdict_text(summary),
            corpus=f"Locust scenario {scenario}",
            latency=latency_history(f"{csv_prefix}_stats_history.csv"))
        summary["report"] = str(page)
    return summary


def judge(summary: dict) -> dict:
    """Add ``accepted``, ``missing``, ``ack_p95_ms``, ``violations`` and ``ok`` to a
    :func:`run_loadtest` summary (issue 11's thresholds, :mod:`spillway.report.thresholds`,
    plus Locust's own exit code) and return it. Every 2xx is a new delivery here (fresh ids):
    each must be a ledger row or dead-lettered."""
    from spillway.report.thresholds import RECOVERY_LIMIT_S, violations

    accepted = summary.get("requests", 0) - summary.get("failures", 0)
    summary["accepted"] = accepted
    summary["missing"] = max(0, accepted - summary["ledger_rows_added"]
                             - summary["dead_lettered"])
    summary["ack_p95_ms"] = round(summary.get("p95_s", 0.0) * 1000, 1)
    # Locust counts every non-2xx as a failure; during a planned queue outage those are 503s
    # by design, which the thresholds leave aside (the rate then reflects the run before).
    rate = 0.0 if summary.get("planned_503") else summary.get("error_rate", 0.0)
    found = violations(summary, rate, summary.get("recovery_limit_s", RECOVERY_LIMIT_S))
    if summary.get("exit_code", 1) != 0 and not summary.get("planned_503"):
        found.append(f"locust exit code {summary.get('exit_code')}: "
                     f"{summary.get('violations') or 'see its output'}")
    summary["threshold_violations"], summary["ok"] = found, not found
    return summary


def _verdict_text(summary: dict) -> str:
    return ("OK: nothing lost, nothing stored twice, within the thresholds" if summary["ok"]
            else "FAILED: " + "; ".join(summary["threshold_violations"]))
