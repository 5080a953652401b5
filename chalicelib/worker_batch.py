"""The worker's store step for a whole SQS batch: one transaction for every record that can
be stored now (:meth:`chalicelib.appdb.AppDatabase.store_batch`), before the records are
handled one by one.

:func:`store_ahead` takes one circuit-breaker permit per record, in record order, exactly as
the one-at-a-time path would; the first refusal (``CircuitOpen``: open, or the half-open probe
already taken) ends the batch there, and that record and the rest take the one-at-a-time path
(which asks the breaker again, after the earlier outcomes were reported). Each outcome is then
reported by :meth:`chalicelib.worker.Worker.handle_record` as if the record had been stored at
that moment: the same metrics, the same breaker accounting (each permit gets its share of the
batch's duration), the same partial batch response, the same hold-back once the database was
unreachable. A record the store did not attempt gets its permit released and goes the
one-at-a-time path; so does every record whose envelope or payload cannot be read (the
one-at-a-time path dead-letters or retries it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core.envelope import Envelope, parse_envelope
from chalicelib.errors import CircuitOpen


@dataclass(frozen=True)
class Ahead:
    """One record stored ahead: its decoded ``payload``, the breaker ``permit`` (or None)
    still to be reported, the store's ``outcome`` (True stored, False duplicate, or the
    exception) and ``duration_s``, the record's share of the batch's store time (seconds)."""

    payload: Any
    permit: Any
    outcome: bool | Exception
    duration_s: float


def store_fields(envelope: Envelope, payload: Any, receive_count: int,
                 text: str | None = None) -> dict[str, Any]:
    """The keyword arguments of ``AppDatabase.store`` for one delivery: ``payload`` (parsed)
    and ``payload_text``, the document text GitHub sent (the ledger keeps it as written):
    ``text`` (a claim check's fetched body) or else the text the message carries inline."""
    return {"payload_text": text if text is not None else envelope.payload_json,
            "hook_id": envelope.hook_id, "delivery_id": envelope.delivery_id,
            "event": envelope.event, "action": envelope.action,
            "priority": envelope.priority, "received_at": envelope.received_at,
            "receive_count": receive_count, "payload": payload,
            "payload_bytes": envelope.body_bytes}


def store_ahead(records: list[dict], *, store: Any, breaker: Any,
                load_payload: Callable[[Envelope], tuple[Any, str]],
                clock: Callable[[], float]) -> dict[str, Ahead]:
    """Store ``records`` (Lambda's SQS event records) in one ``store.store_batch`` call;
    returns ``messageId -> Ahead`` for the records it attempted. Empty when the store has no
    ``store_batch``, or fewer than two records could go (nothing to gain)."""
    store_batch = getattr(store, "store_batch", None)
    if store_batch is None or len(records) < 2:
        return {}
    picked: list[tuple[str, Any, Any]] = []
    batch: list[dict[str, Any]] = []
    for record in records:
        message_id = record.get("messageId")
        try:
            envelope = parse_envelope(record["body"])
            payload, text = load_payload(envelope)
        except Exception:  # noqa: BLE001 -- the one-at-a-time path reports it
            continue
        if not message_id:
            continue
        try:
            permit = breaker.try_acquire() if breaker is not None else None
        except CircuitOpen:
            break
        receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount")
                            or 1)
        picked.append((message_id, payload, permit))
        batch.append(store_fields(envelope, payload, receive_count, text))
    if len(picked) < 2:
        _release(p for _, _, p in picked)
        return {}
    started = clock()
    try:
        outcomes = store_batch(batch)
    except Exception:  # noqa: BLE001 -- a store bug: the one-at-a-time path decides
        _release(p for _, _, p in picked)
        return {}
    share = (clock() - started) / len(picked)
    ahead: dict[str, Ahead] = {}
    for (message_id, payload, permit), outcome in zip(picked, outcomes, strict=True):
        if outcome is None:
            _release([permit])
        else:
            ahead[message_id] = Ahead(payload, permit, outcome, share)
    return ahead


def _release(permits) -> None:
    for permit in permits:
        if permit is not None:
            permit.release()
