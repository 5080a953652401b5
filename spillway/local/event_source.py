"""A local SQS event source mapping: polls a queue and invokes a worker handler as Lambda does.

Semantics kept from AWS (Lambda docs, "Using Lambda with Amazon SQS"): batches of up to
``batch_size`` records; at most ``maximum_concurrency`` concurrent invocations; the records of a
batch stay invisible for the queue's visibility timeout; with ReportBatchItemFailures, records
named in ``batchItemFailures`` are left on the queue and the rest are deleted; a handler that
raises leaves the whole batch to reappear; redrive to the DLQ after ``maxReceiveCount`` is the
queue's job (SQS redrive policy, or the PostgreSQL queue's equivalent). Reserved concurrency
(:mod:`spillway.local.concurrency`): a batch received while the function is at its limit is
throttled -- not run, left on the queue with its receive count spent -- and the poller backs off.

Lanes: the local stack runs one mapping per lane (alias ``lane-k``) of each worker function, as
``spillway deploy`` does on AWS; ``paused`` reads the shared lane state
(:meth:`chalicelib.shared_lanes.SharedLanes.paused`: the lane disabled, or ejected) and stops the
lane's pollers from receiving, as a disabled mapping does. Each invocation's context carries
the alias ARN Lambda would pass (``invoked_function_arn``), so the worker counts the batch for
or against its lane by the one rule it applies on Lambda (:mod:`chalicelib.lane_outcomes`: any
failed or held-back record, or the worker raising); ``on_outcome(False)`` reports only a
handler that raised, which a worker that never ran could not count itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chalice.local import LambdaContext

from chalicelib.ports import QueueMessage, QueuePort
from spillway.local.concurrency import ReservedConcurrency

log = logging.getLogger("spillway.local")


def sqs_event(messages: list[QueueMessage], queue_arn: str, region: str = "us-east-1") -> dict:
    """Lambda's SQS event for ``messages`` (each record with its own messageId, unlike
    ``chalice.test``'s generator; DESIGN.md 2)."""
    records = []
    for m in messages:
        records.append({
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {
                "ApproximateReceiveCount": str(m.receive_count),
                "SentTimestamp": str(int(m.sent_at * 1000)),
                "SenderId": "spillway-local",
                "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            },
            "messageAttributes": {
                k: {"stringValue": v, "stringListValues": [], "binaryListValues": [],
                    "dataType": "String"} for k, v in m.attributes.items()},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        })
    return {"Records": records}


class EventSourceMapping:
    """Polls ``queue_name`` on ``queue`` and calls ``handler(event, context)``.

    ``visibility_timeout_s`` (seconds) hides received records while the handler runs;
    ``wait_s`` is the long-poll wait (seconds). ``paused`` (a callable) lets an operator or the
    circuit breaker disable the mapping without stopping it: while it returns True the pollers
    receive nothing and look again every ``pause_poll_s`` seconds. ``limiter`` is the
    function's reserved concurrency, shared by all its mappings (None: unlimited); a throttled
    poller waits ``throttle_backoff_s`` seconds before it polls again. ``lane`` names the
    function's alias this mapping invokes, and ``invoked_function_arn`` the ARN its contexts
    carry (default: an unqualified-free local ARN ending in ``:<lane>``); ``on_outcome(False)``
    is called after an invocation whose handler raised (a returned one was counted by the
    handler itself; a throttled batch is no invocation). ``on_handled(messages, started_at)``
    gets the records of each returned batch that were not reported failed (``started_at``:
    epoch s of the invocation), e.g. for :class:`~spillway.local.delivery_feed.DeliveryFeed`.
    """

    def __init__(self, queue: QueuePort, queue_name: str, handler: Callable[[dict, Any], Any], *,
                 function_name: str, queue_arn: str, batch_size: int = 10,
                 maximum_batching_window_s: float = 0.0,
                 maximum_concurrency: int = 2, visibility_timeout_s: int = 180,
                 wait_s: float = 1.0, timeout_s: int = 30,
                 limiter: ReservedConcurrency | None = None, throttle_backoff_s: float = 1.0,
                 lane: str = "lane-1", paused: Callable[[], bool] | None = None,
                 on_outcome: Callable[[bool], None] | None = None, pause_poll_s: float = 0.5,
                 invoked_function_arn: str | None = None,
                 on_handled: Callable[[list[QueueMessage], float], None] | None = None):
        self.queue = queue
        self.queue_name = queue_name
        self.handler = handler
        self.function_name = function_name
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.maximum_batching_window_s = maximum_batching_window_s
        self.maximum_concurrency = maximum_concurrency
        self.visibility_timeout_s = visibility_timeout_s
        self.wait_s = wait_s
        self.timeout_s = timeout_s
        self.limiter = limiter
        self.throttle_backoff_s = throttle_backoff_s
        self.lane = lane
        self.paused = paused
        self.on_outcome = on_outcome
        self.pause_poll_s = pause_poll_s
        self.on_handled = on_handled
        self.invoked_function_arn = invoked_function_arn or (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:{lane}")
        #: Invocations that ran (throttled ones excluded), per this mapping.
        self.invocations = 0
        #: Pollers parked by ``paused`` right now (all ``maximum_concurrency`` of them: the
        #: lane receives nothing until it is resumed).
        self.parked = 0
        self._count_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> EventSourceMapping:
        for i in range(self.maximum_concurrency):
            t = threading.Thread(target=self._run, name=f"esm-{self.queue_name}-{self.lane}-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._paused():
                with self._count_lock:
                    self.parked += 1
                self._stop.wait(self.pause_poll_s)
                with self._count_lock:
                    self.parked -= 1
                continue
            try:
                messages = self._gather()
            except Exception as exc:
                log.warning("receive from %s failed: %s", self.queue_name, exc)
                self._stop.wait(1.0)
                continue
            if messages and self.limiter is None:
                self._invoke(messages)
            elif messages:
                with self.limiter.invocation() as admitted:
                    if admitted:
                        self._invoke(messages)
                if not admitted:  # not run, not deleted: back after the visibility timeout
                    self._stop.wait(self.throttle_backoff_s)

    def _paused(self) -> bool:
        if self.paused is None:
            return False
        try:
            return bool(self.paused())
        except Exception as exc:  # a broken pause check never stops the lane
            log.warning("pause check of %s %s failed: %s", self.function_name, self.lane, exc)
            return False

    def _gather(self) -> list[QueueMessage]:
        """One batch: the first receive long-polls; then, as Lambda does with
        MaximumBatchingWindowInSeconds, keep gathering until the batch is full or the window
        (counted from the first message) has passed."""
        messages = self.queue.receive(self.queue_name, self.batch_size,
                                      self.visibility_timeout_s, self.wait_s)
        if not messages or self.maximum_batching_window_s <= 0:
            return messages
        deadline = time.monotonic() + self.maximum_batching_window_s
        while len(messages) < self.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = self.queue.receive(self.queue_name, self.batch_size - len(messages),
                                      self.visibility_timeout_s, min(left, self.wait_s))
            if not more:  # a short wait rounds to no long polling: don't spin
                self._stop.wait(min(left, 0.2))
            messages += more
        return messages

    def _invoke(self, messages: list[QueueMessage]) -> None:
        with self._count_lock:
            self.invocations += 1
        ok = False
        try:
            ok = self._run_handler(messages)
        finally:
            if not ok and self.on_outcome is not None:
                try:
                    self.on_outcome(ok)
                except Exception as exc:
                    log.warning("recording %s %s failed: %s", self.function_name, self.lane, exc)

    def _run_handler(self, messages: list[QueueMessage]) -> bool:
        context = LambdaContext(self.function_name, 512, self.timeout_s * 1000)
        context.invoked_function_arn = self.invoked_function_arn  # the lane's alias
        started_at = time.time()
        try:
            response = self.handler(sqs_event(messages, self.queue_arn), context) or {}
        except Exception:
            log.exception("%s %s raised; the whole batch returns after its visibility timeout",
                          self.function_name, self.lane)
            return False
        failed = {f.get("itemIdentifier") for f in response.get("batchItemFailures", [])}
        done = [m.receipt_handle for m in messages if m.message_id not in failed]
        if done and self.on_handled is not None:
            try:
                self.on_handled([m for m in messages if m.message_id not in failed], started_at)
            except Exception as exc:  # a report, never the batch's outcome
                log.warning("reporting %s %s's batch failed: %s", self.function_name,
                            self.lane, exc)
        if done:
            try:
                self.queue.delete(self.queue_name, done)
            except Exception as exc:  # they reappear and are deduplicated by the worker
                log.warning("delete on %s failed: %s", self.queue_name, exc)
        return True
