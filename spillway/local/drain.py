"""Waiting for the local stack's workers to drain the work queues (demo, loadtest)."""

from __future__ import annotations

import sys
import time

from chalicelib.ports import WORK_QUEUES, QueuePort

#: Seconds between two looks at the queue depths.
POLL_S = 0.5
#: Seconds between two progress lines on stderr.
REPORT_EVERY_S = 2.0


def wait_drained(queue: QueuePort, timeout_s: float) -> float | None:
    """Wait until every work queue of ``queue`` (high, medium, low, heavy, batch; visible + in
    flight + delayed; the DLQ is not counted) is empty on two polls in a row, printing the depths to stderr every
    :data:`REPORT_EVERY_S` seconds. Returns the ``time.perf_counter()`` instant it was
    drained, or None after ``timeout_s`` seconds."""
    deadline = time.perf_counter() + timeout_s
    empty_polls, last_report = 0, 0.0
    while time.perf_counter() < deadline:
        depth = {q: queue.stats(q) for q in WORK_QUEUES}
        left = sum(s.total for s in depth.values())
        empty_polls = empty_polls + 1 if left == 0 else 0
        if empty_polls >= 2:
            return time.perf_counter()
        if time.perf_counter() - last_report > REPORT_EVERY_S:
            last_report = time.perf_counter()
            print("  draining: " + ", ".join(
                f"{p} {s.visible}+{s.in_flight}+{s.delayed}" for p, s in depth.items())
                + " (visible+in flight+delayed)", file=sys.stderr, flush=True)
        time.sleep(POLL_S)
    return None
