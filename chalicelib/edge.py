"""The edge tier's logic: verify, deduplicate, classify, enqueue (claim check when too large), acknowledge.

``app.py``'s route is two lines that call :meth:`Edge.handle`. Everything here answers within
milliseconds: the edge never touches the application database (protecting it is the point), and
GitHub gives a delivery 10 s before recording it as failed (GitHub docs, "Best practices for
using webhooks").
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from chalicelib import logs
from chalicelib.core.classify import Classification, classify
from chalicelib.core.concurrency.routing import items_of
from chalicelib.core.delivery import Delivery, parse_delivery
from chalicelib.core.edge_window import EdgeWindow
from chalicelib.core.envelope import build_envelope
from chalicelib.core.queues import message_bytes
from chalicelib.dedup import (
    DUPLICATE,
    IN_PROGRESS,
    RESEND,
    REUSED,
    DedupStore,
    fingerprint,
    record_id,
    verdict,
)
from chalicelib.errors import (
    DeadlineExceeded,
    DedupUnavailable,
    DeliveryIdReused,
    DeliveryInProgress,
    DeliveryRejected,
    DependencyUnavailable,
    SignatureInvalid,
    SpillwayError,
    is_retryable,
    waited_out,
)
from chalicelib.metrics import count_metric, latency_metric, rejected_metric
from chalicelib.ports import BlobPort, QueuePort
from chalicelib.settings import DEFAULT_IDEMPOTENCY_TTL_S

log = logging.getLogger("spillway.edge")

#: Room left in a queue message for the envelope's own fields and attributes, in bytes.
ENVELOPE_HEADROOM_BYTES = 8 * 1024

#: Dependency calls one delivery makes in sequence at most: dedup record claimed, claim check
#: stored, message sent, dedup record released (after a failed send).
EDGE_DEPENDENCY_CALLS = 4
#: ``Retry-After`` of a 503, seconds (GitHub does not retry by itself; a redelivery, by hand or
#: by the reconciler, should come no sooner).
RETRY_AFTER_S = 60


def call_timeouts(deadline_s: float) -> tuple[float, float]:
    """``(connect_s, read_s)`` of one edge dependency call (one attempt, no retry), so that
    :data:`EDGE_DEPENDENCY_CALLS` calls that each time out still end within ``deadline_s``
    seconds: a third of a call's share to connect, two thirds to read. At 5 s: 0.42 s, 0.83 s."""
    share = deadline_s / EDGE_DEPENDENCY_CALLS
    return share / 3, share * 2 / 3


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
    """What the route answers: HTTP ``status``, a JSON-serialisable ``body`` and extra
    ``headers`` (``Retry-After`` on a 503)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _accepted(delivery: Delivery, cls: Classification) -> dict[str, Any]:
    """The body of a 202 (200 with ``"duplicate": true``), without ``claim_check``."""
    return {"delivery": delivery.delivery_id, "event": delivery.event, "priority": cls.priority,
            "target": cls.target, "queue": cls.queue, "queued": True}


def _unavailable(code: str, message: str, **extra: Any) -> EdgeResponse:
    return EdgeResponse(503, {"error": code, "message": message, **extra},
                        {"Retry-After": str(RETRY_AFTER_S)})


class Edge:
    """Acknowledges GitHub deliveries fast and hands them to the work queues (a light delivery
    to its priority queue, a heavy or batch one to that target's queue).

    ``secret`` returns the webhook secret (cached by the caller, e.g. Powertools Parameters);
    ``dedup`` holds the dedup records (:class:`chalicelib.dedup.DedupStore`; one conditional
    write per delivery, records live ``ttl_s`` seconds). ``clock`` gives epoch
    seconds, ``monotonic`` seconds for the deadline.

    ``deadline_s``: every answer is due this many seconds after receipt (``EDGE_DEADLINE_S``;
    GitHub gives up at 10 s, GitHub docs, "Best practices for using webhooks"). The
    dependency clients are sized by :func:`call_timeouts` so their calls fit in it, and no
    dependency call starts once it has passed (503 ``deadline``). ``shared_store``: the dedup
    records live in the queue's own store (postgres backend), so once the dedup step waited
    out its timeout on it (:func:`~chalicelib.errors.waited_out`: a pool wait) the edge
    answers 503 at once instead of waiting for it again to enqueue.
    """

    def __init__(self, *, queue: QueuePort, blobs: BlobPort | None,
                 secret: Callable[[], str], max_body_bytes: int,
                 dedup: DedupStore, ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S,
                 metrics: Any = None, clock: Callable[[], float] = time.time,
                 deadline_s: float = 5.0, shared_store: bool = False,
                 monotonic: Callable[[], float] = time.monotonic):
        self._queue = queue
        self._blobs = blobs
        self._secret = secret
        self._max_body_bytes = max_body_bytes
        self._metrics = metrics
        self._clock = clock
        self._deadline_s = deadline_s
        self._shared_store = shared_store
        self._monotonic = monotonic
        self._dedup = dedup
        self._ttl_s = ttl_s
        self._context: Any = None
        #: This process's requests, errors, in-flight peak and latencies, read by the local
        #: stack's collector (``chalicelib.collector``); on AWS CloudWatch has them.
        self.window = EdgeWindow()

    def handle(self, headers: Mapping[str, str], body: bytes | None) -> EdgeResponse:
        """Handle one POST (see :meth:`_handle` for the answers). Records ``AckLatency`` (ms,
        from receipt to answer) and, in :attr:`window`, the requests in flight in this process
        (no metric: on Lambda always 1, the function-wide figure is AWS/Lambda
        ``ConcurrentExecutions``), and logs with the ``X-GitHub-Delivery`` id as correlation
        id."""
        started = self._clock()
        due = self._monotonic() + self._deadline_s
        self.window.started()
        status = 500
        try:
            with logs.delivery(_header(headers, "X-GitHub-Delivery")):
                response = self._handle(headers, body, started, due)
            status = response.status
            return response
        finally:
            elapsed = self._clock() - started
            self.window.finished(status, elapsed)
            latency_metric(self._metrics, "AckLatency", elapsed)

    def _handle(self, headers: Mapping[str, str], body: bytes | None,
                started: float, due: float) -> EdgeResponse:
        """Handle one POST. Never raises: every outcome is an HTTP answer with a JSON body
        ``{"error": code, "message": text}`` (or the accepted delivery).

        202 queued, 200 duplicate (already accepted: sent again when the first edge's
        in-progress window has passed, since one dedup write cannot say whether that edge sent
        it -- see :mod:`chalicelib.dedup`), 4xx rejected (nothing stored), 409 the same
        delivery is being accepted, or was within the deadline, 503 a dependency (the secret, the
        queue) is unavailable or (``"error": "deadline"``) the deadline passed first, both
        with ``Retry-After``, and 500 an unexpected error. After a 503 or 500 the delivery is
        either not enqueued, or (a send that timed out may still have reached the queue) it is
        enqueued and its redelivery is stored once: the dedup record is released (deleted on
        failure, or its in-progress state expires with the deadline) so the redelivery is
        sent again, and the workers store each (hook id, delivery id) once. If only the dedup
        store fails, the delivery is still accepted (metric ``DedupStoreFailures``), unless
        that store is the queue's own (postgres) and the dedup step timed out on it: then 503
        at once.
        """
        try:
            secret = self._secret()
        except Exception as exc:  # SSM throttled or down at a cold start, or no secret set
            log.error("webhook secret unavailable: %s", exc)
            self._count("SecretUnavailable")
            return _unavailable("unavailable", "webhook secret unavailable; redeliver later")
        try:
            delivery = parse_delivery(headers, body or b"", secret=secret,
                                      max_body_bytes=self._max_body_bytes, received_at=started)
        except DeliveryRejected as exc:
            return self._rejected(exc)
        cls = classify(delivery.event, delivery.action, delivery.body_bytes,
                       items_of(delivery.event, delivery.payload))
        try:
            self._check(due)
            result = self._accept(delivery, cls, due)
        except DeliveryRejected as exc:
            return self._rejected(exc)
        except DeliveryInProgress:
            return _error(409, "in_progress", "this delivery is being accepted right now",
                          delivery=delivery.delivery_id)
        except DeadlineExceeded as exc:
            log.error("deadline passed for delivery %s: %s", delivery.delivery_id, exc)
            self._count("EnqueueFailed")
            self._count("EdgeDeadlineExceeded")
            return _unavailable("deadline", f"not accepted within the edge's {self._deadline_s:g} "
                                "s deadline; redeliver later", delivery=delivery.delivery_id)
        except Exception as exc:
            retryable = is_retryable(exc) and isinstance(exc, SpillwayError)
            log.error("could not accept delivery %s: %r", delivery.delivery_id, exc,
                      exc_info=not isinstance(exc, SpillwayError))
            self._count("EnqueueFailed")
            if retryable:
                return _unavailable("unavailable", "queue unavailable; redeliver later",
                                    delivery=delivery.delivery_id)
            return _error(500, "internal", "the delivery could not be accepted",
                          delivery=delivery.delivery_id)
        self._count("DeliveriesAccepted")
        status = 200 if result.get("duplicate") else 202
        return EdgeResponse(status, result)

    def _accept(self, delivery: Delivery, cls: Classification, due: float) -> dict:
        """Claim the dedup record (one conditional write), then send once per claim. Raises
        DeliveryInProgress, DeliveryRejected (DeliveryIdReused), DeadlineExceeded, or the
        queue's errors; a failing dedup store is logged and bypassed (unless it is the queue's
        own store and the claim waited out its pool)."""
        validation = fingerprint(hashlib.sha256(
            delivery.payload_json.encode("utf-8", "surrogatepass")).hexdigest())
        rid = record_id(delivery.hook_id, delivery.delivery_id)
        now = self._clock()
        try:
            claim = self._dedup.claim(rid, validation=validation, now=now,
                                      in_progress_s=self._in_progress_s(), ttl_s=self._ttl_s)
        except DedupUnavailable as exc:
            self._count("DedupStoreFailures")
            if self._shared_store and waited_out(exc):  # the queue's store: no second wait
                raise DependencyUnavailable(f"queue store unavailable: {exc}") from exc
            # Dedup only saves work: the workers are idempotent on the same key, so accept the
            # delivery rather than lose it.
            log.warning("dedup store failed for %s, accepting without it: %s",
                        delivery.delivery_id, exc)
            return self._enqueue(delivery, cls, due)
        found = verdict(claim, validation, now)
        if found == REUSED:
            raise DeliveryIdReused("this delivery id was already accepted with a different "
                                   "payload; a redelivery carries the same bytes")
        if found == IN_PROGRESS:
            raise DeliveryInProgress(f"dedup record {rid} is in progress")
        if found == DUPLICATE:  # a record completed after its send (the Powertools edge)
            return {**_accepted(delivery, cls), "duplicate": True, "queued": False}
        try:
            result = self._enqueue(delivery, cls, due)
        except Exception:
            self._release(rid)
            raise
        return {**result, "duplicate": True} if found == RESEND else result

    def _release(self, rid: str) -> None:
        """Delete the dedup record after a failed send, so a redelivery is sent (if this fails
        too, the record's in-progress window ends with the deadline all the same)."""
        try:
            self._dedup.release(rid)
        except Exception as exc:
            self._count("DedupStoreFailures")
            log.warning("could not release dedup record %s: %s", rid, exc)

    def register_context(self, context: Any) -> None:
        """The Lambda context (or None): a record's in-progress window is the time left,
        capped at the deadline, so it ends when this request has been answered (a crash or a
        503 never blocks redelivery for the Lambda function's whole timeout)."""
        self._context = context

    def _in_progress_s(self) -> float:
        """Seconds a claimed record stays in progress: the deadline, or less if Lambda has
        less time left."""
        remaining = getattr(self._context, "get_remaining_time_in_millis", None)
        return min(self._deadline_s, remaining() / 1000) if remaining else self._deadline_s

    def _check(self, due: float) -> None:
        """Raise :class:`DeadlineExceeded` once the deadline ``due`` (monotonic s) has passed."""
        late = self._monotonic() - due
        if late >= 0:
            raise DeadlineExceeded(f"deadline passed {late:.3f} s ago")

    def _enqueue(self, delivery: Delivery, cls: Classification, due: float) -> dict:
        """Send ``delivery`` to its classified queue (``cls.queue``: its priority queue when
        light, else ``heavy`` / ``batch``; claim check if too big) as a v2 message. Starts no
        call once ``due`` (monotonic s) has passed."""
        self._check(due)
        envelope = build_envelope(delivery, cls)
        body, attributes = envelope.to_message(strict_json=True)  # parse_delivery checked it
        limit = self._queue.max_message_bytes - ENVELOPE_HEADROOM_BYTES
        claim_check = False
        if message_bytes(body) > limit:
            if self._blobs is None:
                raise DeliveryRejected("payload too large for the queue and no claim-check store")
            ref = self._blobs.put(claim_check_key(delivery),
                                  delivery.payload_json.encode("utf-8"))
            body, attributes = envelope.with_claim_check(ref).to_message()
            claim_check = True
            self._check(due)
        self._queue.send(cls.queue, body, attributes)
        return {**_accepted(delivery, cls), "claim_check": claim_check}

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
