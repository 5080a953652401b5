"""``spillway demo --chaos edge-outage=SECONDS [--reconcile]``: loss *before* the edge.

When either flag is given the demo sends through the local stack's GitHub stand-in
(:mod:`spillway.local.github_hook`), so GitHub's delivery log records every attempt:

* :class:`EdgeOutage` makes the edge unreachable from GitHub for ``SECONDS`` (the hook's URL
  points at a port nothing listens on: connection refused, status 0, as when a deploy or a
  region problem takes the endpoint away) from the moment a quarter of the deliveries have
  been sent. GitHub records those attempts as failed and never retries by itself;
* ``--reconcile`` then runs the reconciler (:mod:`chalicelib.reconcile`, the same code as the
  scheduled function) in rounds, each followed by a drain, until no GUID that failed at GitHub
  is missing from Spillway or ``reconcile_timeout_s`` passes;
* :meth:`GitHubDemo.summary` adds ``failed_at_github`` (GUIDs whose first attempt failed),
  ``redelivered`` (GUIDs a redelivery brought in), ``lost`` (GUIDs GitHub sent that are
  neither stored nor dead-lettered at the end: the strict count), ``reconcile_rounds``, and
  recounts ``stored`` / ``duplicated`` over every GUID GitHub sent.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.errors import ConfigError
from spillway.local.drain import wait_drained
from spillway.local.embedded import free_port
from spillway.replay import Payload, SendResult

#: Seconds between two redelivery requests for one GUID during the demo (the deployed
#: default, ``RECONCILE_COOLDOWN_S``, is 15 minutes; a demo round is seconds long).
DEMO_COOLDOWN_S = 5.0


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wanted(opts: Any) -> bool:
    """Whether the demo ``opts`` (a ``DemoOptions``) need GitHub's view of the deliveries."""
    return opts.chaos_edge_outage_s > 0 or opts.reconcile


class EdgeOutage(threading.Thread):
    """Points ``hook`` at a dead port for ``outage_s`` seconds once :meth:`trigger` is called
    (the demo calls it when a quarter of the deliveries are out), then back at the edge."""

    def __init__(self, hook: Any, outage_s: float):
        super().__init__(name="edge-outage", daemon=True)
        self.hook, self.outage_s = hook, outage_s
        self.edge_url = hook.url
        self._go = threading.Event()
        self._lock = threading.Lock()
        self.restored_at: float | None = None

    def trigger(self) -> None:
        """Take the edge away now (every later attempt fails); idempotent."""
        with self._lock:
            if self._go.is_set():
                return
            self.hook.url = f"http://127.0.0.1:{free_port()}/webhooks/github"
            self._go.set()
        _progress(f"  chaos: the edge is unreachable from GitHub for {self.outage_s:g} s")

    def run(self) -> None:
        self._go.wait()
        time.sleep(self.outage_s)
        self.hook.url = self.edge_url
        self.restored_at = time.perf_counter()
        _progress("  chaos: the edge is reachable again")


class GitHubDemo:
    """GitHub's side of one demo run on a started ``stack`` (its ``github`` stand-in and
    ``github_hook``). ``edge_outage_s``: seconds of outage, 0 for none; ``reconcile``: run
    the reconciler after the replay for at most ``reconcile_timeout_s`` seconds."""

    def __init__(self, stack: Any, *, edge_outage_s: float = 0.0, reconcile: bool = False,
                 reconcile_timeout_s: float = 120.0):
        if stack.github is None:
            raise ConfigError("the local stack runs no GitHub stand-in")
        self.stack, self.standin, self.hook = stack, stack.github, stack.github_hook
        self.reconcile, self.reconcile_timeout_s = reconcile, reconcile_timeout_s
        self.outage = EdgeOutage(self.hook, edge_outage_s) if edge_outage_s > 0 else None
        self.rounds = 0

    def send(self, payloads: list[Payload], *, repeat: int, concurrency: int,
             on_result: Any) -> list[SendResult]:
        """Deliver every payload ``repeat`` times through the stand-in, fresh GUIDs,
        ``concurrency`` at a time; returns what the edge answered to each first attempt."""
        import uuid

        work = [p for _ in range(repeat) for p in payloads]
        quarter = max(1, len(work) // 4)
        done = {"n": 0}
        lock = threading.Lock()
        if self.outage:
            self.outage.start()

        def one(p: Payload) -> SendResult:
            attempt = self.standin.deliver(self.hook, p, str(uuid.uuid4()))
            answer = self.hook.responses.get(attempt["id"])
            result = SendResult(attempt["guid"], p.event, p.source, attempt["status_code"],
                                {**(answer if isinstance(answer, dict) else {}),
                                 "github": attempt["status"]}, attempt["duration"])
            with lock:
                done["n"] += 1
                if self.outage and done["n"] == quarter:
                    self.outage.trigger()
            on_result(result)
            return result

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            results = list(pool.map(one, work))
        return results

    def after_replay(self, queue: Any, drain_timeout_s: float) -> None:
        """Wait for the outage to end, then (with ``reconcile``) reconcile in rounds."""
        if self.outage:
            self.outage.join()
        if self.reconcile:
            self._reconcile(queue, drain_timeout_s)

    def _reconcile(self, queue: Any, drain_timeout_s: float) -> None:
        from chalicelib.reconcile.runner import RunOptions
        from chalicelib.reconcile.wiring import build_reconciler

        reconciler, settings = build_reconciler(metrics=None)
        options = RunOptions(cooldown_s=DEMO_COOLDOWN_S, max_requests=5000, rate_reserve=0)
        wait_drained(queue, drain_timeout_s)  # what was accepted is in the ledger first
        deadline = time.perf_counter() + self.reconcile_timeout_s
        while True:
            self.rounds += 1
            reports = reconciler.run(settings.hooks, options)
            gap = sum(r["gap"] for r in reports)
            asked = sum(r["redelivery_requested"] for r in reports)
            errors = [r["error"] for r in reports if r["error"]]
            _progress(f"  reconcile round {self.rounds}: checked "
                      f"{sum(r['checked'] for r in reports)}, failed at GitHub "
                      f"{sum(r['failed_at_github'] for r in reports)}, gap {gap}, "
                      f"redelivery requested {asked}" + (f", error {errors[0]}" if errors
                                                         else ""))
            if gap == 0:
                return
            self.standin.wait_idle()
            tally = self.standin.tally(self.hook)
            _progress(f"  redeliveries: {len(tally['redelivered'])} succeeded, "
                      f"{len(tally['never_ok'])} GUIDs not yet through")
            left = deadline - time.perf_counter()
            if left <= 0:
                _progress(f"  reconcile: time limit ({self.reconcile_timeout_s:g} s) reached")
                return
            wait_drained(queue, min(left, drain_timeout_s))
            if asked == 0:  # every gap is in its cool-down: wait it out
                time.sleep(min(DEMO_COOLDOWN_S, max(0.0, deadline - time.perf_counter())))

    def redelivered_ids(self) -> set[str]:
        """The GUIDs a redelivery brought through (accepted by the edge on a later attempt)."""
        self.standin.wait_idle()
        return set(self.standin.tally(self.hook)["redelivered"])

    def summary(self, dead: set[str]) -> dict:
        """The GitHub-side counts (see the module docstring); ``dead``: dead-lettered ids."""
        from chalicelib import wiring
        from spillway.ops.ledger import ledger_counts

        self.standin.wait_idle()
        tally = self.standin.tally(self.hook)
        sent = tally["sent"]
        # through the stack's own pool: no second pool competing for connection slots
        counts = ledger_counts(wiring.app_pool(), sorted(sent)).per_delivery
        out = {
            "failed_at_github": len(tally["failed_first"]),
            "redelivered": len(tally["redelivered"]),
            "lost": len(sent - set(counts) - dead),
            "stored": sum(counts.values()),
            "duplicated": sum(c - 1 for c in counts.values() if c > 1),
            "reconcile_rounds": self.rounds,
        }
        if self.outage:
            out["edge_outage_s"] = self.outage.outage_s
        return out
