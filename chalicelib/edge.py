"""The edge tier's logic: verify, deduplicate, classify, enqueue (claim check when too large), acknowledge.

``app.py``'s route is two lines that call :meth:`Edge.handle`. Everything here answers within
milliseconds: the edge never touches the application database (protecting it is the point), and
GitHub gives a delivery 10 s before recording it as failed (GitHub docs, "Best practices for
using webhooks").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from chalicelib import logs
from chalicelib.core.classify import Classification, classify
from chalicelib.core.delivery import Delivery, parse_delivery
from chalicelib.core.edge_window import EdgeWindow
from chalicelib.core.envelope import build_envelope
from chalicelib.core.queues import message_bytes
from chalicelib.errors import (
    DedupUnavailable,
    DeliveryInProgress,
    DeliveryRejected,
    SignatureInvalid,
    SpillwayError,
    is_retryable,
)
from chalicelib.metrics import count_metric, latency_metric, rejected_metric
from chalicelib.ports import BlobPort, QueuePort

log = logging.getLogger("spillway.edge")

#: Room left in a queue message for the envelope's own fields and attributes, in bytes.
ENVELOPE_HEADROOM_BYTES = 8 * 1024


def claim_check_key(delivery: Delivery) -> str:
    """The blob key of ``delivery``'s claim check: its idempotency key ``<hook_id>:<delivery_id>``
    percent-encoded (``:`` kept). One key per (hook, delivery): the hook id never holds ``:``
    and ``/`` is escaped, so hook ``a/b`` + delivery ``c`` and hook ``a`` + delivery ``b/c``
    (or hook ``""`` and hook ``-``) can never overwrite each other's payload."""
    return quote(delivery.idempotency_key, safe=":")


def _error(status: int, code: str, message: str, **extra: Any) -> EdgeResponse:
    return EdgeResponse(status, {"error": code, "message": message, **extra})


@dataclass(frozen=True)
class EdgeResponse:
    """What the route answers: HTTP ``status`` and a JSON-serialisable ``body``."""

    status: int
    body: dict[str, Any]


class Edge:
    """Acknowledges GitHub deliveries fast and hands them to the priority queues.

    ``secret`` returns the webhook secret (cached by the caller, e.g. Powertools Parameters);
    ``dedupe`` wraps a function so it runs once per idempotency key -- built by
    :func:`chalicelib.dedup.make_dedupe` from Powertools idempotency. ``clock`` gives epoch
    seconds.
    """

    def __init__(self, *, queue: QueuePort, blobs: BlobPort | None,
                 secret: Callable[[], str], max_body_bytes: int,
                 dedupe: Callable[[Callable[..., dict]], Callable[..., dict]],
                 metrics: Any = None, clock: Callable[[], float] = time.time):
        self._queue = queue
        self._blobs = blobs
        self._secret = secret
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        self._clock = clock
        self._enqueue_once = dedupe(self._enqueue)
        #: This process's requests, errors, in-flight peak and latencies, read by the local
        #: stack's collector (``chalicelib.collector``); on AWS CloudWatch has them.
        self.window = EdgeWindow()

    def handle(self, headers: Mapping[str, str], body: bytes | None) -> EdgeResponse:
        """Handle one POST (see :meth:`_handle` for the answers). Records ``ConcurrencyInUse``
        (requests in flight in this process, this one included) and ``AckLatency`` (ms, from
        receipt to answer), and logs with the ``X-GitHub-Delivery`` id as correlation id."""
        started = self._clock()
        count_metric(self._metrics, "ConcurrencyInUse", self.window.started())
        status = 500
        try:
            with logs.delivery(_header(headers, "X-GitHub-Delivery")):
                response = self._handle(headers, body, started)
            status = response.status
            return response
        finally:
            elapsed = self._clock() - started
            self.window.finished(status, elapsed)
            latency_metric(self._metrics, "AckLatency", elapsed)

    def _handle(self, headers: Mapping[str, str], body: bytes | None,
                started: float) -> EdgeResponse:
        """Handle one POST. Never raises: every outcome is an HTTP answer with a JSON body
        ``{"error": code, "message": text}`` (or the accepted delivery).

        202 queued, 200 duplicate (already accepted), 4xx rejected (nothing stored),
        409 the same delivery is being accepted right now, 503 a dependency (the secret, the
        queue) is unavailable and 500 an unexpected error -- in both cases nothing is stored,
        GitHub shows the delivery as failed and it can be redelivered. If only the dedup store
        fails, the delivery is still accepted (metric ``DedupStoreFailures``).
        """
        try:
            secret = self._secret()
        except Exception as exc:  # SSM throttled or down at a cold start, or no secret set
            log.error("webhook secret unavailable: %s", exc)
            self._count("SecretUnavailable")
            return _error(503, "unavailable", "webhook secret unavailable; redeliver later")
        try:
            delivery = parse_delivery(headers, body or b"", secret=secret,
                                      max_body_bytes=self._max_body_bytes, received_at=started)
        except DeliveryRejected as exc:
            return self._rejected(exc)
        cls = classify(delivery.event, delivery.action, delivery.body_bytes)
        try:
            result = self._accept(delivery, cls)
        except DeliveryRejected as exc:
            return self._rejected(exc)
        except DeliveryInProgress:
            return _error(409, "in_progress", "this delivery is being accepted right now",
                          delivery=delivery.delivery_id)
        except Exception as exc:
            retryable = is_retryable(exc) and isinstance(exc, SpillwayError)
            log.error("could not accept delivery %s: %r", delivery.delivery_id, exc,
                      exc_info=not isinstance(exc, SpillwayError))
            self._count("EnqueueFailed")
            if retryable:
                return _error(503, "unavailable", "queue unavailable; redeliver later",
                              delivery=delivery.delivery_id)
            return _error(500, "internal", "the delivery could not be accepted",
                          delivery=delivery.delivery_id)
        self._count("DeliveriesAccepted")
        status = 200 if result.get("duplicate") else 202
        return EdgeResponse(status, result)

    def _accept(self, delivery: Delivery, cls: Classification) -> dict:
        """Enqueue once per (hook id, delivery id). Raises DeliveryInProgress, DeliveryRejected,
        or the queue's errors; a failing dedup store is logged and bypassed."""
        key = {"hook_id": delivery.hook_id, "delivery_id": delivery.delivery_id}
        outcome: dict[str, Any] = {}
        try:
            return self._enqueue_once(key=key, delivery=delivery, cls=cls, outcome=outcome)
        except DedupUnavailable as exc:
            # Dedup only saves work: the workers are idempotent on the same key, so accept the
            # delivery rather than lose it (and don't send it twice if the send already ran).
            log.warning("dedup store failed for %s, accepting without it: %s",
                        delivery.delivery_id, exc)
            self._count("DedupStoreFailures")
            return outcome.get("result") or self._enqueue(key=key, delivery=delivery, cls=cls,
                                                          outcome=outcome)

    def register_context(self, context: Any) -> None:
        """Give Powertools idempotency the Lambda context, so an in-progress dedup record
        expires when this invocation would have timed out (a crash never blocks redelivery)."""
        config = getattr(self._enqueue_once, "config", None)
        if config is not None:
            config.register_lambda_context(context)

    def _enqueue(self, *, key: dict, delivery: Delivery, cls: Classification,
                 outcome: dict) -> dict:
        """Send ``delivery`` to its priority queue (claim check if too big); ``outcome``
        receives the result too, so a dedup-store failure *after* the send is not sent twice."""
        envelope = build_envelope(delivery, cls)
        body, attributes = envelope.to_message()
        limit = self._queue.max_message_bytes - ENVELOPE_HEADROOM_BYTES
        claim_check = False
        if message_bytes(body) > limit:
            if self._blobs is None:
                raise DeliveryRejected("payload too large for the queue and no claim-check store")
            ref = self._blobs.put(claim_check_key(delivery),
                                  delivery.payload_json.encode("utf-8"))
            body, attributes = envelope.with_claim_check(ref).to_message()
            claim_check = True
        self._queue.send(cls.priority, body, attributes)
        outcome["result"] = {"delivery": delivery.delivery_id, "event": delivery.event,
                             "priority": cls.priority, "target": cls.target, "queued": True,
                             "claim_check": claim_check}
        return outcome["result"]

    def _rejected(self, exc: DeliveryRejected) -> EdgeResponse:
        """The answer to a refused delivery; counts ``DeliveriesRejected``,
        ``Rejected_<code>`` and, for a bad signature, ``SignatureFailures``."""
        self._count("DeliveriesRejected")
        self._count(rejected_metric(exc.code))
        if isinstance(exc, SignatureInvalid):
            self._count("SignatureFailures")
        log.info("rejected a delivery (%s): %s", exc.code, exc.message)
        return _error(exc.status, exc.code, exc.message)

    def _count(self, name: str) -> None:
        count_metric(self._metrics, name)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` whatever its case (Chalice's mapping is case-insensitive, a dict is
    not), or None."""
    found = headers.get(name) or headers.get(name.lower())
    if found is None:
        found = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return found
