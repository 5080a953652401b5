"""The worker tier's logic: drain a work queue into PostgreSQL, one SQS batch at a time.

``app.py`` has one ``@app.on_sqs_message`` handler per work queue (the three priority queues
``high`` / ``medium`` / ``low`` and the ``heavy`` and ``batch`` target queues); each is two lines that
call :meth:`Worker.handle_batch`. Per record:

* the envelope is parsed and the payload fetched (claim check) if it was too big for SQS;
* the circuit breaker for ``postgres`` is asked first; while it is open the record is *held
  back*: re-sent to its queue with a delay (DelaySeconds ≤ 900, the SQS limit) and the original
  deleted, so no receive count is burnt and nothing reaches the DLQ because the breaker was open;
* the delivery is stored in one transaction, idempotent on (hook id, delivery id): a
  redelivered message never stores twice;
* a transient failure sets the message's visibility timeout to an exponential backoff and is
  reported in ``batchItemFailures`` (partial batch response), so only that record is retried;
  after ``maxReceiveCount`` receives SQS redrives it to the dead-letter queue;
* a permanent failure (the message itself is unusable) goes straight to the DLQ with its reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import logs
from chalicelib.batch_slots import acquire_for_batch, release_after_batch
from chalicelib.core.backoff import backoff_s
from chalicelib.core.envelope import Envelope, parse_envelope
from chalicelib.errors import (
    CircuitOpen,
    DependencyError,
    DependencyUnavailable,
    MalformedPayload,
    is_retryable,
)
from chalicelib.metrics import count_metric, latency_metric
from chalicelib.ports import DLQ, BlobPort, QueuePort
from chalicelib.worker_batch import Ahead, store_ahead, store_fields

log = logging.getLogger("spillway.worker")

#: SQS DelaySeconds maximum (AWS SQS quotas).
MAX_DELAY_S = 900


@dataclass
class BatchState:
    """What the records of one batch share: ``hold_back_s`` is set (seconds) once the database
    could not be reached or the breaker refused; the remaining records are held back that long."""

    hold_back_s: float | None = None
    #: Retryable database errors seen in this batch, and whether one said "unreachable".
    database_failures: int = 0
    database_unreachable: bool = False


class Worker:
    """Processes SQS batches for any of the five work queues (one instance per worker function).

    ``store`` has ``store(**delivery fields) -> bool`` (see ``chalicelib.appdb``);
    ``breaker`` (optional) has ``try_acquire() -> permit`` raising ``CircuitOpen``, and the permit
    has ``success(duration_s)`` / ``failure(exc, duration_s)``. ``slots`` (optional) is the
    :class:`~chalicelib.shared_slots.SharedSlots`: a lease per batch is taken before the batch
    touches the database, and a refused batch is held back whole. ``lanes`` (optional) has
    ``record(function, invoked_function_arn, ok)``: the
    :class:`~chalicelib.lane_outcomes.LaneOutcomes` each batch's outcome goes to (what counts:
    that module's docstring). ``retry_base_s`` and ``retry_max_s`` shape the backoff (seconds).
    """

    def __init__(self, *, queue: QueuePort, blobs: BlobPort | None, store: Any,
                 breaker: Any = None, slots: Any = None, lanes: Any = None,
                 retry_base_s: float = 60.0,
                 retry_max_s: float = 3600.0, metrics: Any = None,
                 clock: Callable[[], float] = time.monotonic):
        self._queue = queue
        self._blobs = blobs
        self._store = store
        self._breaker = breaker
        self._slots = slots
        self._lanes = lanes
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._metrics = metrics
        self._clock = clock

    def handle_batch(self, event: dict, context: Any, *, queue: str) -> dict:
        """Process an SQS event (Lambda's shape); returns ``{"batchItemFailures": [...]}``.

        A fresh Powertools ``BatchProcessor`` per call: it keeps per-batch state, and the local
        runtime calls this from several threads at once.
        """
        from aws_lambda_powertools.utilities.batch import (
            BatchProcessor,
            EventType,
            process_partial_response,
        )

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        batch = BatchState()
        lease, batch.hold_back_s = acquire_for_batch(self._slots, event, queue, self._metrics)
        refused, ok = batch.hold_back_s is not None, False
        started = self._clock()
        try:
            result = self._process(process_partial_response, processor, event, context, queue,
                                   batch)
            ok = not result.get("batchItemFailures") and batch.hold_back_s is None
            return result
        finally:
            release_after_batch(lease, self._clock() - started, batch.database_failures)
            if self._breaker is not None:
                # Outcomes are aggregated locally and written at most once a second; failures
                # are written before Lambda may freeze (or reap) this instance, successes
                # can wait for the next batch.
                with contextlib.suppress(Exception):
                    self._breaker.flush(force=batch.database_failures > 0)
            if self._lanes is not None and not refused:  # a refused lease is no lane's fault
                self._lanes.record(f"worker_{queue}", getattr(context, "invoked_function_arn",
                                                              None), ok)

    def _process(self, process_partial_response, processor, event, context, queue,
                 batch: BatchState) -> dict:
        # A batch held back already (its slot lease was refused) never touches the database.
        ahead = {} if batch.hold_back_s is not None else store_ahead(
            event.get("Records") or [], store=self._store, breaker=self._breaker,
            load_payload=self._load_payload, clock=self._clock)
        return process_partial_response(
            event=event, processor=processor, context=context,
            record_handler=lambda record: self.handle_record(
                body=record.body, receipt_handle=record.receipt_handle,
                receive_count=int(record.attributes.approximate_receive_count or 1),
                attributes={k: v.string_value for k, v in record.message_attributes.items()
                            if v.string_value is not None},
                queue=queue, batch=batch, stored=ahead.get(record.message_id)),
        )

    def handle_record(self, *, body: str, receipt_handle: str, receive_count: int,
                      attributes: dict[str, str], queue: str,
                      batch: BatchState | None = None, stored: Ahead | None = None) -> None:
        """Process one message; raises to report it failed (it will be retried).

        ``batch`` carries what earlier records of the same batch learnt: once the database
        could not be reached or the breaker refused, the rest of the batch is held back
        without touching the database (one pool timeout per batch at most, not one per record).
        Records ``ProcessingLatency`` (ms, this record) and logs with the delivery id as
        correlation id.
        ``stored``: this record's outcome when the batch was stored ahead in one transaction
        (:func:`chalicelib.worker_batch.store_ahead`); accounted for here exactly as if the
        record had been stored now.
        """
        batch = batch if batch is not None else BatchState()
        started = self._clock()
        try:
            envelope = parse_envelope(body)
        except Exception as exc:  # unusable message: keep it, with its reason, in the DLQ
            self._dead_letter(body, attributes, reason=f"bad envelope: {exc}")
            return
        try:
            with logs.delivery(envelope.delivery_id):
                self._handle_envelope(envelope, body, receipt_handle, receive_count, attributes,
                                      queue, batch, stored)
        finally:
            latency_metric(self._metrics, "ProcessingLatency", self._clock() - started)

    def _handle_envelope(self, envelope: Envelope, body: str, receipt_handle: str,
                         receive_count: int, attributes: dict[str, str], queue: str,
                         batch: BatchState, stored: Ahead | None = None) -> None:
        """:meth:`handle_record` once the envelope is parsed (``ProcessingLatency`` and the
        correlation id are the caller's)."""
        if batch.hold_back_s is not None and stored is None:
            self._hold_back(queue, body, attributes, batch.hold_back_s)
            return
        try:
            payload, text = ((stored.payload, None) if stored is not None
                             else self._load_payload(envelope))
            self._store_with_breaker(envelope, payload, text, receive_count, batch, stored)
        except CircuitOpen as exc:
            batch.hold_back_s = exc.retry_after_s
            self._hold_back(queue, body, attributes, exc.retry_after_s)
            return
        except Exception as exc:
            if not is_retryable(exc):
                self._dead_letter(body, attributes, reason=f"{type(exc).__name__}: {exc}")
                return
            if batch.database_unreachable:  # the database itself, not this record
                batch.hold_back_s = float(self._retry_base_s)
            delay = backoff_s(receive_count, base_s=self._retry_base_s, max_s=self._retry_max_s)
            log.warning("delivery %s failed (receive %d), retry in %d s: %s",
                        envelope.delivery_id, receive_count, delay, exc)
            try:
                self._queue.change_visibility(queue, receipt_handle, delay)
            except Exception:  # the visibility timeout still brings it back
                log.exception("could not set backoff for %s", envelope.delivery_id)
            self._count("DeliveriesRetried")
            raise

    def _hold_back(self, queue: str, body: str, attributes: dict[str, str], delay_s: float) -> None:
        """Re-send the message with a delay (≤ 900 s, the SQS DelaySeconds limit); the original
        is then deleted as a success, so no receive count is burnt while it waits."""
        delay = min(MAX_DELAY_S, max(1, math.ceil(delay_s)))
        self._queue.send(queue, body, attributes, delay_s=delay)
        self._count("DeliveriesHeldBack")

    def _load_payload(self, envelope: Envelope) -> tuple[dict, str]:
        """``(payload, text)``: the delivery's payload parsed, and its document text as GitHub
        sent it (the ledger keeps the text), fetched from the claim check if it was too big for
        the queue. Raises NotFound (blob gone), MalformedPayload (not UTF-8 JSON; permanent) or
        the blob store's DependencyError. None of these touch, or count against, the database."""
        raw = envelope.payload_json
        try:
            if raw is None:
                raw = self._blobs.get(envelope.payload_ref).decode("utf-8")
            return json.loads(raw), raw
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedPayload(f"payload of {envelope.delivery_id} is not UTF-8 JSON") from exc

    def _store_with_breaker(self, envelope: Envelope, payload: dict, text: str | None,
                            receive_count: int, batch: BatchState,
                            ahead: Ahead | None = None) -> None:
        """Store one delivery under the circuit breaker (or take its outcome from ``ahead``).
        Raises CircuitOpen (not attempted) or the store's errors (after reporting them to the
        breaker, and to ``batch``)."""
        if ahead is not None:
            permit, started, duration = ahead.permit, 0.0, ahead.duration_s
        else:
            permit = self._breaker.try_acquire() if self._breaker is not None else None
            started, duration = self._clock(), None
        try:
            if ahead is not None:
                if isinstance(ahead.outcome, Exception):
                    raise ahead.outcome
                stored = ahead.outcome
            else:
                stored = self._store.store(**store_fields(envelope, payload, receive_count,
                                                          text))
        except Exception as exc:
            if permit is not None:
                permit.failure(exc, duration if duration is not None
                               else self._clock() - started)
            if isinstance(exc, DependencyError) and exc.retryable:
                batch.database_failures += 1
                batch.database_unreachable |= isinstance(exc, DependencyUnavailable)
            raise
        if permit is not None:
            permit.success(duration if duration is not None else self._clock() - started)
        self._count("DeliveriesStored" if stored else "DuplicatesSkipped")

    def _dead_letter(self, body: str, attributes: dict[str, str], *, reason: str) -> None:
        log.error("dead-lettering a message: %s", reason)
        self._queue.send(DLQ, body, {**attributes, "error": reason[:256]})
        self._count("DeliveriesDeadLettered")

    def _count(self, name: str) -> None:
        count_metric(self._metrics, name)
