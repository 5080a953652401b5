"""The dashboard's snapshot: a pure function of timed source readings (no I/O, no clock).

A :class:`Sampler <spillway.dashboard.sampler.Sampler>` reads its sources once a step (1 s)
into a :class:`Sample`; :func:`build_snapshot` turns the rolling window of samples into the
JSON-ready dict served at ``/api/status`` and printed by ``spillway status --json``.

Snapshot shape (version :data:`SNAPSHOT_VERSION`; instants are epoch seconds, durations
seconds unless the name ends in ``_ms``; ``null`` wherever a source gave no reading):

* ``version`` (int), ``generated_at`` (s), ``step_s``, ``window_s`` (s), ``labels`` (str->str:
  backend, webhook URL, ... as injected);
* ``queues``: per queue of :data:`~chalicelib.ports.QUEUES` (high, medium, low, heavy, batch, dlq):
  ``visible``, ``in_flight``, ``delayed``, ``total`` (messages), ``oldest_age_s`` -- the latest
  reading, a superset of what ``wiring.status()`` printed before;
* ``breaker``: ``state`` (resilience4j name: CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, ...),
  ``since`` (s, last change), ``trips`` (count since the item was created), ``retry_after_s``,
  ``forced`` (a forced state's ``reason``, ``by``, ``at``, ``until`` -- epoch s, None: until
  changed by hand -- or None);
* ``slots``: per pool (``edge``, ``worker_high``, ...): ``in_use`` (at the last reading),
  ``peak`` (most in use at once during the last step: :attr:`SlotReading.busiest`),
  ``started`` (invocations started during the last step, or null), ``limit`` (or null);
* ``rates``: ``accepted_per_s``, ``stored_per_s`` of the last step;
* ``ack``: ``p50_ms``, ``p95_ms``, ``max_ms``, ``count`` of the last step with acknowledgements;
* ``totals``: ``accepted``, ``rejected`` (edge answers since the feed started, 2xx vs other),
  ``stored`` (ledger rows in the database);
* ``series``: columns over the window, oldest first, aligned on ``t`` (s): ``accepted_per_s``,
  ``stored_per_s``, ``ack_p50_ms``, ``ack_p95_ms``, ``depth`` (queue -> total messages),
  ``slots`` (pool -> most in use at once during each step), ``breaker_state`` (state name);
* ``transitions``: breaker state changes seen in the window, ``{"at", "from", "to"}``;
* ``recent``: the last deliveries stored, newest first: ``delivery_id``, ``event``, ``action``,
  ``repository`` (``owner/name`` or null), ``priority``, ``attempts``, ``status``,
  ``received_at``, ``stored_at`` (s), ``delay_s`` (= stored_at - received_at);
* ``errors``: source name -> error text, for the sources that failed at the last step;
* ``stale``: source name -> why, for the sources that did not answer within the step's budget
  (the dashboard's own probe timing out on a loaded machine, not a failure of the stack): the
  page shows their last reading, greyed, and no error;
* one key per **status section** the sources name (``spillway.ops.status.SECTIONS``: ``tier``,
  ``lanes``, ``alarms``, ...): the section's latest reading, a dict; and one per **derived
  section** (``spillway.ops.status.DERIVED``: ``concurrency``, ``health``), computed from the
  snapshot built so far, in order. A section without a reading is
  ``{"available": false, "reason": "..."}`` (the source's error, or why it has none); no
  number is ever made up for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.ports import QUEUES, QueueStats

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class BreakerReading:
    """One read of the shared circuit breaker (from :func:`spillway.ops.breaker.status`).
    ``changed_at``/``retry_after_s`` in seconds; ``forced`` the forced state's ``{"reason", "by",
    "at", "until"}`` or None."""

    state: str
    changed_at: float = 0.0
    trips: int = 0
    retry_after_s: float = 0.0
    forced: Mapping[str, Any] | None = None

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> BreakerReading:
        """From the dict :func:`spillway.ops.breaker.status` returns."""
        return cls(state=str(status.get("state", "CLOSED")),
                   changed_at=float(status.get("changed_at") or 0.0),
                   trips=int(status.get("trips") or 0),
                   retry_after_s=float(status.get("retry_after_s") or 0.0),
                   forced=dict(status["forced"]) if status.get("forced") else None)


@dataclass(frozen=True)
class SlotReading:
    """Execution environments (edge copies, worker invocations) in use out of ``limit``:
    ``in_use`` at the instant of the reading; ``peak`` the most in use at once since the
    previous reading and ``started`` the invocations started since then (None when the meter
    cannot tell). Charts use ``peak``: an instantaneous reading once a second shows a worker
    whose invocations last milliseconds as idle while it stores a hundred deliveries a second."""

    in_use: int
    limit: int | None = None
    peak: int | None = None
    started: int | None = None

    @property
    def busiest(self) -> int:
        """``peak`` when known (never below ``in_use``), else ``in_use``."""
        return self.in_use if self.peak is None else max(self.peak, self.in_use)


def peak_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The most of ``spans`` (``(start, end)`` instants, any unit) open at once; 0 for none.
    A span ending exactly when another starts does not overlap it."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    peak = open_now = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


@dataclass(frozen=True)
class LedgerRow:
    """One stored delivery (a ``webhook_deliveries`` row; ``repository`` comes from the
    payload's ``repository.full_name``). Instants in epoch seconds."""

    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    priority: str
    attempts: int
    status: str
    received_at: float
    stored_at: float

    @property
    def delay_s(self) -> float:
        """Seconds from the edge's acceptance to the row being written."""
        return self.stored_at - self.received_at


@dataclass(frozen=True)
class LedgerReading:
    """``stored_total``: rows in the ledger; ``recent``: the last rows stored, newest first."""

    stored_total: int
    recent: tuple[LedgerRow, ...] = ()


@dataclass(frozen=True)
class AckTally:
    """The edge's answers during one step: counts, and latency percentiles in milliseconds
    (None when no answer was recorded); ``*_total`` count since the feed started."""

    accepted: int = 0
    rejected: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    accepted_total: int = 0
    rejected_total: int = 0

    @property
    def count(self) -> int:
        return self.accepted + self.rejected

    @classmethod
    def of(cls, latencies_ms: Sequence[float], accepted: int, rejected: int,
           accepted_total: int, rejected_total: int) -> AckTally:
        """Summarise one step's latencies: nearest-rank percentiles (a measured value, never
        an interpolation), as ``spillway demo`` computes its own."""
        if not latencies_ms:
            return cls(accepted, rejected, None, None, None, accepted_total, rejected_total)
        ordered = sorted(latencies_ms)
        return cls(accepted, rejected, nearest_rank(ordered, 0.50), nearest_rank(ordered, 0.95),
                   ordered[-1], accepted_total, rejected_total)


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of the sorted, non-empty ``ordered``: the value at rank
    ``round(q * (n - 1))``."""
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass(frozen=True)
class Sample:
    """Every source's reading at instant ``t`` (epoch s); None where a source is absent,
    failed (``errors`` then names it) or did not answer in time (``stale`` names it). ``acks``
    covers the step that ends at ``t``."""

    t: float
    queues: Mapping[str, QueueStats] | None = None
    breaker: BreakerReading | None = None
    slots: Mapping[str, SlotReading] | None = None
    ledger: LedgerReading | None = None
    acks: AckTally | None = None
    errors: Mapping[str, str] = field(default_factory=dict)
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    stale: Mapping[str, str] = field(default_factory=dict)


def _latest(samples: Sequence[Sample], attr: str) -> Any:
    for sample in reversed(samples):
        value = getattr(sample, attr)
        if value is not None:
            return value
    return None


def _rate(count: float | None, dt: float | None) -> float | None:
    if count is None or dt is None or dt <= 0 or count < 0:
        return None
    return round(count / dt, 3)


def _series(samples: Sequence[Sample]) -> dict[str, Any]:
    queues = list(QUEUES)
    pools = sorted({name for s in samples for name in (s.slots or {})})
    out: dict[str, Any] = {
        "t": [s.t for s in samples], "accepted_per_s": [], "stored_per_s": [],
        "ack_p50_ms": [], "ack_p95_ms": [], "breaker_state": [],
        "depth": {q: [] for q in queues}, "slots": {p: [] for p in pools},
    }
    prev: Sample | None = None
    for s in samples:
        dt = s.t - prev.t if prev is not None else None
        out["accepted_per_s"].append(_rate(s.acks.accepted if s.acks else None, dt))
        stored = None
        if prev is not None and s.ledger is not None and prev.ledger is not None:
            stored = s.ledger.stored_total - prev.ledger.stored_total
        out["stored_per_s"].append(_rate(stored, dt))
        out["ack_p50_ms"].append(s.acks.p50_ms if s.acks else None)
        out["ack_p95_ms"].append(s.acks.p95_ms if s.acks else None)
        out["breaker_state"].append(s.breaker.state if s.breaker else None)
        for q in queues:
            stats = (s.queues or {}).get(q)
            out["depth"][q].append(stats.total if stats is not None else None)
        for p in pools:
            slot = (s.slots or {}).get(p)
            out["slots"][p].append(slot.busiest if slot is not None else None)
        prev = s
    return out


def transitions(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """Breaker state changes between consecutive readings, oldest first. ``at`` is the
    breaker's own ``changed_at`` when it falls within the step, else the sample instant."""
    out: list[dict[str, Any]] = []
    last: tuple[float, BreakerReading] | None = None
    for s in samples:
        if s.breaker is None:
            continue
        if last is not None and s.breaker.state != last[1].state:
            at = s.breaker.changed_at
            if not last[0] < at <= s.t:
                at = s.t
            out.append({"at": at, "from": last[1].state, "to": s.breaker.state})
        last = (s.t, s.breaker)
    return out


def _recent_row(row: LedgerRow) -> dict[str, Any]:
    return {"delivery_id": row.delivery_id, "event": row.event, "action": row.action,
            "repository": row.repository, "priority": row.priority, "attempts": row.attempts,
            "status": row.status, "received_at": row.received_at, "stored_at": row.stored_at,
            "delay_s": round(row.delay_s, 3)}


def _queue(stats: QueueStats) -> dict[str, Any]:
    return {"visible": stats.visible, "in_flight": stats.in_flight, "delayed": stats.delayed,
            "total": stats.total, "oldest_age_s": round(stats.oldest_age_s, 3)}


def build_snapshot(samples: Sequence[Sample], *, now: float, step_s: float = 1.0,
                   window_s: float = 600.0, labels: Mapping[str, str] | None = None,
                   sections: Sequence[str] = (),
                   derived: Mapping[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]]
                   | None = None) -> dict[str, Any]:
    """The snapshot dict (module docstring) of ``samples`` (oldest first, the window the
    sampler keeps) at instant ``now`` (epoch s), with the status ``sections`` read into the
    samples and the ``derived`` sections (name -> pure function of the snapshot so far). Pure
    when they are: same arguments, same dict; JSON-ready."""
    snapshot = _core_snapshot(samples, now=now, step_s=step_s, window_s=window_s,
                              labels=labels)
    kept = [s for s in samples if s.t > now - window_s]
    errors = {**kept[-1].stale, **kept[-1].errors} if kept else {}
    for name in sections:
        reading = next((s.sections[name] for s in reversed(kept) if name in s.sections), None)
        snapshot[name] = dict(reading) if reading is not None else {
            "available": False, "reason": errors.get(name, "not read yet")}
    for name, derive in (derived or {}).items():
        snapshot[name] = dict(derive(snapshot))
    return snapshot


def _core_snapshot(samples: Sequence[Sample], *, now: float, step_s: float, window_s: float,
                   labels: Mapping[str, str] | None) -> dict[str, Any]:
    samples = [s for s in samples if s.t > now - window_s]
    series = _series(samples)
    queues = _latest(samples, "queues")
    breaker = _latest(samples, "breaker")
    slots = _latest(samples, "slots")
    ledger = _latest(samples, "ledger")
    last_acks = _latest(samples, "acks")
    with_acks = next((s.acks for s in reversed(samples) if s.acks and s.acks.count), None)
    return {
        "version": SNAPSHOT_VERSION,
        "generated_at": now,
        "step_s": step_s,
        "window_s": window_s,
        "labels": dict(labels or {}),
        "queues": {name: _queue(stats) for name, stats in (queues or {}).items()},
        "breaker": None if breaker is None else {
            "state": breaker.state, "since": breaker.changed_at, "trips": breaker.trips,
            "retry_after_s": round(breaker.retry_after_s, 3),
            "forced": None if breaker.forced is None else dict(breaker.forced)},
        "slots": {name: {"in_use": s.in_use, "limit": s.limit, "peak": s.busiest,
                         "started": s.started}
                  for name, s in sorted((slots or {}).items())},
        "rates": {"accepted_per_s": series["accepted_per_s"][-1] if samples else None,
                  "stored_per_s": series["stored_per_s"][-1] if samples else None},
        "ack": None if with_acks is None else {
            "p50_ms": with_acks.p50_ms, "p95_ms": with_acks.p95_ms,
            "max_ms": with_acks.max_ms, "count": with_acks.count},
        "totals": {
            "accepted": last_acks.accepted_total if last_acks else None,
            "rejected": last_acks.rejected_total if last_acks else None,
            "stored": ledger.stored_total if ledger else None},
        "series": series,
        "transitions": transitions(samples),
        "recent": [_recent_row(r) for r in (ledger.recent if ledger else ())],
        "errors": dict(samples[-1].errors) if samples else {},
        "stale": dict(samples[-1].stale) if samples else {},
    }
