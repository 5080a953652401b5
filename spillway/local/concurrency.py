"""A worker function's reserved concurrency, enforced locally as Lambda enforces it.

On AWS, reserved concurrency caps the concurrent executions of a *function*: every version,
alias and event source mapping of it shares the one limit (AWS Lambda docs,
"configuration-concurrency"). An invocation over the limit is throttled: it is *not run*. For an
SQS event source the poller has already received the batch, so the throttled receive still
counts toward the queue's ``maxReceiveCount``; the records reappear after the visibility timeout
and, once the count is spent, the redrive policy moves valid messages to the dead-letter queue
unprocessed (AWS re:Post knowledge-center "lambda-sqs-scaling"; AWS Compute Blog "Introducing
maximum concurrency of AWS Lambda functions when using Amazon SQS as an event source", 2023).

One :class:`ReservedConcurrency` per worker function, passed to every
:class:`~spillway.local.event_source.EventSourceMapping` (lane) of that function.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("spillway.local")


class ReservedConcurrency:
    """At most ``capacity`` concurrent invocations of ``function_name``.

    :meth:`invocation` admits or throttles one invocation. Counters (read them any time):
    ``invocations`` (admitted), ``throttles`` (refused: Lambda's ``Throttles`` metric),
    ``in_flight`` (running now) and ``peak`` (most running at once). :meth:`take_interval`
    gives one reader (the dashboard's sampler) the most running at once *since its last call*:
    a reading of ``in_flight`` once a second misses the short invocations of a fast worker,
    and Lambda's ``ConcurrentExecutions`` is a per-period maximum too. Thread-safe.
    Raises ValueError for a ``capacity`` below 0 (0 is AWS's "throttle everything").
    """

    def __init__(self, function_name: str, capacity: int):
        if capacity < 0:
            raise ValueError(f"reserved concurrency of {function_name} must be >= 0, "
                             f"got {capacity}")
        self.function_name = function_name
        self.capacity = capacity
        self.invocations = 0
        self.throttles = 0
        self.in_flight = 0
        self.peak = 0
        self._interval_peak = 0
        self._interval_invocations = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one execution if the function is under its limit (True); else count a
        throttle and return False."""
        with self._lock:
            if self.in_flight >= self.capacity:
                self.throttles += 1
                return False
            self.in_flight += 1
            self.invocations += 1
            self.peak = max(self.peak, self.in_flight)
            self._interval_peak = max(self._interval_peak, self.in_flight)
            self._interval_invocations += 1
            return True

    def release(self) -> None:
        """Give back an execution taken by :meth:`try_acquire`."""
        with self._lock:
            if self.in_flight <= 0:
                raise RuntimeError(f"{self.function_name}: release without an acquire")
            self.in_flight -= 1

    @contextmanager
    def invocation(self) -> Iterator[bool]:
        """``with limiter.invocation() as admitted:`` -- run the handler only if ``admitted``;
        the execution is given back on leaving the block. A throttle is logged as an
        EMF-style line (:func:`throttle_emf`), as Lambda's ``AWS/Lambda Throttles``."""
        admitted = self.try_acquire()
        if not admitted:
            log.info("%s", throttle_emf(self.function_name))
        try:
            yield admitted
        finally:
            if admitted:
                self.release()

    def take_interval(self) -> dict[str, int]:
        """``{"in_flight", "peak", "invocations", "reserved_concurrency"}``: running now, the
        most running at once and the invocations admitted since the previous call (the first
        call: since creation); then starts the next interval (its peak starts at ``in_flight``).
        One reader only: a second one would split the intervals between them."""
        with self._lock:
            out = {"in_flight": self.in_flight, "peak": self._interval_peak,
                   "invocations": self._interval_invocations,
                   "reserved_concurrency": self.capacity}
            self._interval_peak, self._interval_invocations = self.in_flight, 0
        return out

    def snapshot(self) -> dict[str, int]:
        """``{"reserved_concurrency", "invocations", "throttles", "in_flight", "peak"}``."""
        with self._lock:
            return {"reserved_concurrency": self.capacity, "invocations": self.invocations,
                    "throttles": self.throttles, "in_flight": self.in_flight,
                    "peak": self.peak}


def throttle_emf(function_name: str, now_s: float | None = None) -> str:
    """One CloudWatch embedded-metric-format line: ``Throttles`` = 1 (Count) in namespace
    ``AWS/Lambda`` with dimension ``FunctionName`` (the metric Lambda itself publishes; AWS docs
    "Lambda metrics", "Embedded metric format specification"). ``now_s``: epoch seconds."""
    stamp = int((time.time() if now_s is None else now_s) * 1000)
    return json.dumps({
        "_aws": {"Timestamp": stamp, "CloudWatchMetrics": [{
            "Namespace": "AWS/Lambda", "Dimensions": [["FunctionName"]],
            "Metrics": [{"Name": "Throttles", "Unit": "Count"}]}]},
        "FunctionName": function_name, "Throttles": 1}, separators=(",", ":"))
