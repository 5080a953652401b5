"""``spillway demo``: the main job, end to end, on one machine.

Start the local stack, replay payloads as signed GitHub deliveries, wait until the queues
drain, then count what happened to every accepted delivery: stored in the ledger,
dead-lettered, or missing. Nothing may be missing or stored twice.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial

from chalicelib.core.concurrency.plan import build_plan
from chalicelib.core.concurrency.routing import TARGETS
from chalicelib.errors import ConfigError
from chalicelib.ports import DLQ, WORK_QUEUES
from spillway.chaos import ChaosSpec, breaker_trips, make_faults
from spillway.dashboard.local import attach
from spillway.demo_tier import format_tier, tier_stack_options, tier_summary
from spillway.json_output import print_json
from spillway.local.drain import wait_drained
from spillway.local.stack import LocalStack, StackOptions
from spillway.ops.dbwatch import ConnectionSampler
from spillway.paths import SAMPLES
from spillway.replay import SendResult, iter_payloads, replay
from spillway.report.recorder import Recorder
from spillway.report.thresholds import verdict


@dataclass
class DemoOptions:
    paths: list[str] = field(default_factory=lambda: [str(SAMPLES)])
    backend: str = "aws"
    burst: int = 1
    concurrency: int = 8
    chaos_db_outage_s: float = 0.0
    #: More planned faults (:class:`spillway.chaos.ChaosSpec`: db-outage, queue-outage, ...).
    chaos: list = field(default_factory=list)
    #: Seconds into the replay when the outage starts; 0 = before the first delivery is sent.
    chaos_after_s: float = 1.0
    #: Seconds the edge is unreachable from GitHub (spillway.demo_reconcile); 0 = none.
    chaos_edge_outage_s: float = 0.0
    #: Run the reconciler after the replay, for at most ``reconcile_timeout_s`` seconds.
    reconcile: bool = False
    reconcile_timeout_s: float = 120.0
    drain_timeout_s: float = 900.0
    json_output: bool = False
    #: Write plots and ``index.html`` here (:mod:`spillway.report`); None: no report.
    report_dir: str | None = None
    #: How to run the local stack (e.g. its ``workdir``); ``backend`` above always wins.
    stack_options: StackOptions | None = None
    #: Tier plan to run with (free / pro / enterprise); None = the stack's defaults.
    tier: str | None = None
    #: Serve the live dashboard on this port while the demo runs (0: any; None: no dashboard).
    dashboard_port: int | None = None


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_demo(opts: DemoOptions) -> dict:
    """Run the demo and return the summary dict (keys: sent, accepted, rejected, stored,
    dead_lettered, missing, duplicated, plus rates and latencies)."""
    payloads = list(iter_payloads(opts.paths))
    if not payloads:
        raise ConfigError(f"no payloads found under {', '.join(opts.paths)}")
    total = len(payloads) * opts.burst
    _progress(f"spillway demo: {len(payloads)} payloads x {opts.burst} = {total} deliveries, "
              f"backend {opts.backend}; starting the local stack ...")
    stack_options = dataclasses.replace(opts.stack_options or StackOptions(),
                                        backend=opts.backend)
    plan = build_plan(opts.tier) if opts.tier else None
    if plan is not None:
        stack_options = tier_stack_options(plan, stack_options)
    stack = LocalStack(stack_options)
    t0 = time.perf_counter()
    dashboard, interrupted, previous = None, False, None
    try:
        stack.start()
        _progress(f"  stack up in {time.perf_counter() - t0:.1f} s; webhook URL {stack.url}")
        dashboard = attach(stack, opts.dashboard_port, say=_progress)
        return _run(stack, payloads, opts, total, plan, dashboard)
    except KeyboardInterrupt:
        interrupted = True
        if threading.current_thread() is threading.main_thread():
            # a second Ctrl-C must not cut the cleanup short
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise
    finally:
        if dashboard is not None:
            dashboard.stop()
        stopped = stack.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if interrupted:
            _progress("spillway demo: interrupted; stopped the sender, "
                      + ("; ".join(stopped) if stopped else "nothing else was running") + ".")


def _run(stack: LocalStack, payloads, opts: DemoOptions, total: int, plan=None,
         dashboard=None) -> dict:
    from chalicelib import wiring
    from spillway import demo_reconcile
    from spillway.ops.ledger import account, counts_or_reason

    counter = {"n": 0, "ok": 0}
    lock = threading.Lock()

    def on_result(r: SendResult) -> None:
        with lock:
            counter["n"] += 1
            counter["ok"] += 200 <= r.status < 300
            n = counter["n"]
        if n % max(1, total // 10) == 0 or n == total:
            _progress(f"  sent {n}/{total}, accepted {counter['ok']}")

    specs = [*opts.chaos, ChaosSpec("db-outage", opts.chaos_db_outage_s)]
    faults = make_faults(stack, specs, opts.chaos_after_s)
    recorder = Recorder(stack, opts.report_dir, dashboard) if opts.report_dir else None
    sampler = ConnectionSampler(stack.env["DATABASE_URL"]) if plan else None
    if sampler:
        sampler.start()
    github = (demo_reconcile.GitHubDemo(stack, edge_outage_s=opts.chaos_edge_outage_s,
                                        reconcile=opts.reconcile,
                                        reconcile_timeout_s=opts.reconcile_timeout_s)
              if demo_reconcile.wanted(opts) else None)
    started = time.perf_counter()
    for fault in faults:
        fault.start()
    send = github.send if github else partial(replay, url=stack.url, secret=stack.secret)
    results = send(payloads, concurrency=opts.concurrency, repeat=opts.burst,
                   on_result=on_result)
    replay_s = time.perf_counter() - started
    for fault in faults:
        fault.join()
    queue = wiring.get_queue()
    if github:
        github.after_replay(queue, opts.drain_timeout_s)
    drained_at = wait_drained(queue, opts.drain_timeout_s)
    elapsed = time.perf_counter() - started
    if sampler:
        sampler.stop()

    accepted = [r for r in results if 200 <= r.status < 300]
    accepted_ids = {r.delivery_id for r in accepted}
    ledger, uncounted = counts_or_reason(wiring.app_pool, sorted(accepted_ids))
    dead = _dead_lettered_ids(queue)
    stored_ids = set(ledger.per_delivery) if ledger is not None else set()
    # answered requests only: an attempt GitHub could not deliver (status 0, the edge
    # unreachable) has no acknowledgement latency, and counting it as 0 ms flattered p50
    latencies = [r.elapsed_s for r in results if r.status]
    summary = {
        "sent": len(results),
        "accepted": len(accepted),
        "rejected": len(results) - len(accepted),
        # None: not counted (see "uncounted"), never a guess
        **(account(ledger, sorted(accepted_ids), sorted(dead)) if ledger is not None else
           {"stored": None, "dead_lettered": len(dead), "missing": None, "duplicated": None}),
        "backend": opts.backend,
        "replay_s": round(replay_s, 2),
        "drain_s": round(elapsed, 2),
        "accepted_per_s": round(len(accepted) / replay_s, 1) if replay_s else 0.0,
        "stored_per_s": round(len(stored_ids) / elapsed, 1) if elapsed else 0.0,
        "ack_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "ack_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "ack_max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "drained": drained_at is not None,
        # throttled invocations per worker function (reserved concurrency; 0 for a valid plan)
        "worker_throttles": stack.throttles(),
        # accepted deliveries per target and per work queue, as the edge classified them
        **target_split(accepted),
    }
    if plan is not None:
        summary.update(tier_summary(plan, [r.status for r in results], summary["ack_p95_ms"],
                                    sampler, stack.env["DATABASE_URL"], sorted(accepted_ids)))
    if uncounted is not None:
        summary["uncounted"] = {"deliveries": len(accepted_ids), "reason": uncounted}
    if github:
        summary.update(github.summary(dead))
    rejected = [r for r in results if not 200 <= r.status < 300]
    # A refused delivery must leave nothing behind (GitHub sends it again with the same id),
    # except where the refusal promises nothing: a 503 whose send timed out may have reached the
    # queue (README "After a 503"; stored once all the same), and a delivery GitHub's stand-in
    # redelivered later (the reconciler's recovery) was accepted then.
    later_ok = github.redelivered_ids() if github else set()
    refused_ids = sorted({r.delivery_id for r in rejected if r.status != 503}
                         - accepted_ids - later_ok)
    if refused_ids:
        refused, _ = counts_or_reason(wiring.app_pool, refused_ids)
        summary["half_stored"] = len(refused.per_delivery) if refused is not None else None
    else:
        summary["half_stored"] = 0
    if rejected:
        summary["rejected_examples"] = [
            {"source": r.source, "status": r.status, "response": r.response} for r in rejected[:5]]
    if faults:
        restored = [f.restored_at for f in faults]
        summary["chaos"] = [f"{f.kind}={f.outage_s:g}" for f in faults]
        summary["breaker_trips"] = breaker_trips()
        summary["recovery_s"] = (round(max(0.0, drained_at - max(restored)), 2)
                                 if drained_at is not None and None not in restored else None)
    # An edge made unreachable from GitHub on purpose fails those deliveries at GitHub (status
    # 0); the reconciler is what must close that gap, so they are judged by "lost", not as errors.
    summary.update(verdict(summary, results, faults,
                           excuse_unreachable=bool(github and github.outage)))
    if recorder:
        page = recorder.finish("Spillway demo", summary, faults=faults,
                               corpus=f"{', '.join(opts.paths)} ({len(payloads)} payloads x "
                                      f"{opts.burst})",
                               verdict="OK" if summary["ok"] else
                               "FAILED: " + "; ".join(summary["violations"]))
        summary["report"] = str(page)
    return summary


def _dead_lettered_ids(queue) -> set[str]:
    """Delivery ids of every message in the DLQ (received with a visibility timeout, not
    deleted: they stay for the operator's redrive)."""
    ids: set[str] = set()
    expected = queue.stats(DLQ).total
    for _ in range(max(1, expected // 10 + 5)):
        if len(ids) >= expected:
            break
        batch = queue.receive(DLQ, 10, 60, 0.0)
        if not batch:
            break
        for m in batch:
            ids.add(m.attributes.get("delivery_id") or m.message_id)
    return ids


def target_split(accepted: list[SendResult]) -> dict[str, dict[str, int]]:
    """``{"targets": {"light": n, "heavy": n, "batch": n}, "queues": {queue: n}}`` over the
    accepted deliveries, from the edge's answers (``target`` and ``queue``; a duplicate's
    answer carries them too). Every target and work queue is listed, 0 included."""
    targets = dict.fromkeys(TARGETS, 0)
    queues = dict.fromkeys(WORK_QUEUES, 0)
    for r in accepted:
        if r.response.get("target") in targets:
            targets[r.response["target"]] += 1
        if r.response.get("queue") in queues:
            queues[r.response["queue"]] += 1
    return {"targets": targets, "queues": queues}


def _ok(summary: dict) -> bool:
    """The run's verdict (:func:`spillway.report.thresholds.verdict`: nothing missing, lost,
    half-stored, uncounted or stored twice; drained; within the ack, error-rate and recovery
    thresholds)."""
    return bool(summary.get("ok"))


def format_summary(summary: dict) -> str:
    keys = ["sent", "accepted", "rejected", "stored", "dead_lettered", "missing", "duplicated"]
    lines = ["", "Spillway demo summary", "---------------------"]
    lines += [f"  {k:<14} {summary[k]}" for k in keys]
    lines.append(f"  throughput     {summary['accepted_per_s']} accepted/s, "
                 f"{summary['stored_per_s']} stored/s end to end")
    lines.append(f"  ack latency    p50 {summary['ack_p50_ms']} ms, p95 {summary['ack_p95_ms']} ms,"
                 f" max {summary['ack_max_ms']} ms (GitHub allows 10,000 ms)")
    if "targets" in summary:
        lines.append("  targets        " + ", ".join(
            f"{t} {n}" for t, n in summary["targets"].items()) + " (queues " + ", ".join(
            f"{q} {n}" for q, n in summary["queues"].items()) + ")")
    lines += format_tier(summary)
    throttled = {fn: n for fn, n in summary.get("worker_throttles", {}).items() if n}
    if throttled:
        lines.append(f"  worker throttles {throttled} (invocations over reserved concurrency)")
    if "breaker_trips" in summary:
        lines.append(f"  chaos          breaker trips {summary['breaker_trips']}, "
                     f"recovery {summary['recovery_s']} s")
    if "uncounted" in summary:
        lines.append(f"  not counted    {summary['uncounted']['deliveries']} accepted deliveries:"
                     f" the ledger could not be read ({summary['uncounted']['reason']})")
    if "lost" in summary:
        lines.append(f"  at GitHub      failed {summary['failed_at_github']}, redelivered "
                     f"{summary['redelivered']}, lost {summary['lost']}")
    lines.append("  result         " + ("OK: nothing lost, nothing stored twice, within "
                                       "the thresholds" if _ok(summary) else
                                       "FAILED: " + "; ".join(summary.get("violations", ()))))
    if "report" in summary:
        lines.append(f"  report         {summary['report']}")
    return "\n".join(lines)


def main_demo(opts: DemoOptions) -> int:
    """Run the demo and print its summary; exit status 0 (ok), 1 (failed) or 130 (Ctrl-C:
    nothing more sent, the stack stopped, what stopped said on stderr). With ``--json`` stdout
    is the one JSON document and the summary for people goes to stderr."""
    try:
        summary = run_demo(opts)
    except KeyboardInterrupt:
        return 130
    if opts.json_output:
        print(format_summary(summary), file=sys.stderr)
        print_json(json.dumps(summary, sort_keys=True))
    else:
        print(format_summary(summary))
    ok = _ok(summary)
    return 0 if ok else 1
