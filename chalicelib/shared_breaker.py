"""Shared circuit breaker: one :class:`~chalicelib.ports.StatePort` item per protected dependency
(key ``breaker#<name>``), read and changed by every Lambda instance through compare-and-set.

The state machine is :mod:`chalicelib.core.breaker` (resilience4j semantics); this module adds
the sharing, the caching and the permits. Operator verbs (force, reset, audit, status) are
operator tooling: ``spillway/ops/breaker.py``.

Cost and delay (defaults ``cache_ttl_s=1``, ``flush_interval_s=1``, ``success_flush_interval_s=5``):

* Reads are cached for ``cache_ttl_s``; a successful write refreshes the cache for free.
* Outcomes are tallied locally and merged into the item by CAS (reload-merge-retry, at most
  ``max_cas_attempts`` times): a tally holding failures at most once per ``flush_interval_s``,
  and *at once* when merging it into the last-seen state would trip the breaker; a tally of
  successes only at most once per ``success_flush_interval_s``. Steady CLOSED traffic thus costs
  about one request per instance per second (the cache refresh; a flush replaces it), never one
  write per call. Lagging successes can make the shared failure rate read high by at most
  ``success_flush_interval_s / window`` of the successes (5/60: a 50 % threshold acts at ~48 %).
* Failures spread over N instances open the breaker within ``flush_interval_s`` (every instance
  has merged its failures) and every instance sees it within another ``cache_ttl_s``: <= 2 s with
  the defaults, plus store latency, as long as calls keep arriving (flushes ride on calls; call
  :meth:`SharedCircuitBreaker.flush` at the end of an invocation to push a tally out).

Guarantees: a missing item is CLOSED and is created by the first write; a cold start reads the
stored ``open_until`` (absolute epoch seconds, written once per trip) so it never resets or
extends an open period; only an instance whose own clock is past ``open_until`` may CAS the item
into HALF_OPEN, and that write keeps ``open_until`` (clock-skew residual: see the core module);
exactly one instance holds the half-open probe lease, others are refused until it expires.

Metrics (duck-typed ``metrics.add_metric(name=..., unit="Count", value=1)``, as Powertools
``Metrics``; the caller sets a ``dependency`` dimension): ``BreakerTransitions`` and
``BreakerTransitionTo<State>`` (e.g. ``BreakerTransitionToOpen``), ``BreakerTrips``,
``BreakerRejectedCalls``, ``BreakerStoreFailures``, ``BreakerStoreBypassedCalls``. Transitions
and trips are emitted only by the instance whose write made them, so they count once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.breaker_item import breaker_key, cas_update
from chalicelib.core import breaker as core
from chalicelib.core.breaker import (
    DEFAULT_CONFIG,
    BreakerConfig,
    BreakerState,
    CircuitState,
    Outcome,
    Tally,
)
from chalicelib.errors import CircuitOpen, ConflictError, DependencyError, NotFound
from chalicelib.metrics import count_metric
from chalicelib.ports import StateItem, StatePort

log = logging.getLogger("spillway.breaker")

#: Errors of the state store that trigger the store failure policy.
STORE_ERRORS: tuple[type[Exception], ...] = (DependencyError, NotFound)
POLICIES = ("fail_open", "fail_closed")


class Permit:
    """Permission for one call. Report exactly one outcome: :meth:`success`, :meth:`failure`
    or :meth:`release` (call not made). ``duration_s`` (seconds) defaults to the time since the
    permit was granted, by the breaker's clock.

    Attributes (public API, read by callers that log or count permits): ``started_at`` (epoch
    s, breaker clock); ``is_probe``: this call is the half-open probe (its outcome closes or
    re-opens the breaker); ``bypassed``: the shared state could not be read and the call was
    allowed by the ``fail_open`` store failure policy without a decision (its outcome is still
    tallied and flushed once the store answers again)."""

    def __init__(self, breaker: SharedCircuitBreaker, started_at: float, *,
                 is_probe: bool = False, bypassed: bool = False):
        self.breaker = breaker
        self.started_at = started_at
        self.is_probe = is_probe
        self.bypassed = bypassed
        self._done = False

    def success(self, duration_s: float | None = None) -> None:
        self._report(None, duration_s)

    def failure(self, exc: BaseException, duration_s: float | None = None) -> None:
        self._report(exc, duration_s)

    def release(self) -> None:
        """The call was not made: nothing is recorded (frees the probe slot)."""
        self._report(None, None, Outcome.IGNORED)

    def _report(self, exc: BaseException | None, duration_s: float | None,
                outcome: Outcome | None = None) -> None:
        if self._done:
            raise RuntimeError("permit already reported")
        self._done = True
        self.breaker._on_outcome(self, exc, duration_s, outcome)


class SharedCircuitBreaker:
    """A circuit breaker named ``name`` whose state is shared through ``store``.

    ``instance_id`` identifies this process (default: a random id); ``clock`` returns epoch
    seconds; ``store_failure_policy`` is ``"fail_open"`` (the store cannot be read: allow the
    call) or ``"fail_closed"`` (refuse it with :class:`~chalicelib.errors.CircuitOpen`).
    Thread-safe; one instance per process and dependency is the intended use.
    """

    def __init__(self, name: str, store: StatePort, config: BreakerConfig = DEFAULT_CONFIG, *,
                 instance_id: str | None = None, clock: Callable[[], float] = time.time,
                 cache_ttl_s: float = 1.0, flush_interval_s: float = 1.0,
                 success_flush_interval_s: float = 5.0, store_failure_policy: str = "fail_open",
                 metrics: Any = None, max_cas_attempts: int = 5):
        if store_failure_policy not in POLICIES:
            raise ValueError(f"store_failure_policy must be one of {POLICIES}")
        self.name = name
        self.key = breaker_key(name)
        self.store = store
        self.config = config
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self.cache_ttl_s = cache_ttl_s
        self.flush_interval_s = flush_interval_s
        self.success_flush_interval_s = max(success_flush_interval_s, flush_interval_s)
        self.store_failure_policy = store_failure_policy
        self.metrics = metrics
        self.max_cas_attempts = max_cas_attempts
        self._lock = threading.RLock()
        self._item: StateItem | None = None
        self._state = BreakerState()
        self._loaded_at = -math.inf
        self._pending = Tally()
        self._last_flush = clock()
        self._probe_started_at = -math.inf  # one probe in flight per instance, until its lease
        self._cas_conflicted = False
        self._store_down_until = -math.inf

    # --- the call path --------------------------------------------------------------------
    def try_acquire(self) -> Permit:
        """Ask permission for one call. Returns a :class:`Permit`; raises
        :class:`~chalicelib.errors.CircuitOpen` (``retry_after_s``) when refused."""
        with self._lock:
            now = self.clock()
            if now < self._store_down_until:
                return self._store_policy(now)
            try:
                if self._flush_due(now):
                    self._flush_or_keep(now)
                self._load(now)
                decision = self._cas(now, lambda st: _decided(
                    core.decide(st, now, self.instance_id, self.config)))
            except STORE_ERRORS:
                self._store_failed(now)
                return self._store_policy(now)
            except ConflictError:
                # the decision's own write lost every race (e.g. another instance took the
                # probe lease first): refused, ask again once the cache has expired
                decision = core.Decision(False, retry_after_s=self.cache_ttl_s)
            probe_busy_until = self._probe_started_at + self.config.probe_lease_s
            if decision.permitted and decision.is_probe and now < probe_busy_until:
                # another thread of this instance is probing: come back soon (as core.decide
                # tells other instances), not when its lease would run out
                decision = core.Decision(False, retry_after_s=min(
                    probe_busy_until - now, self.config.half_open_retry_s))
            if not decision.permitted:
                self._metric("BreakerRejectedCalls")
                raise CircuitOpen(self.name, decision.retry_after_s)
            if decision.is_probe:
                self._probe_started_at = now
            return Permit(self, now, is_probe=decision.is_probe)

    def execute(self, fn: Callable[[], Any], fallback: Callable[[BaseException], Any] | None = None
                ) -> Any:
        """Run ``fn()`` under the breaker and return its result. When the breaker refuses and
        ``fallback`` is given, return ``fallback(circuit_open_error)`` instead of raising
        CircuitOpen. Exceptions of ``fn`` are recorded (see ``core.classify_outcome``) and re-raised."""
        try:
            permit = self.try_acquire()
        except CircuitOpen as exc:
            if fallback is None:
                raise
            return fallback(exc)
        try:
            result = fn()
        except Exception as exc:
            permit.failure(exc)
            raise
        except BaseException:
            permit.release()
            raise
        permit.success()
        return result

    def flush(self, force: bool = True) -> None:
        """Merge the local tally into the shared item now (``force``) or only if due. Store
        errors are counted and the tally kept for the next flush; never raises them."""
        with self._lock:
            now = self.clock()
            if self._pending and (force or self._flush_due(now)):
                try:
                    self._flush(now)
                except STORE_ERRORS:
                    self._store_failed(now)
                except ConflictError:
                    pass

    # --- internals ---------------------------------------------------------------------------
    def _on_outcome(self, permit: Permit, exc: BaseException | None, duration_s: float | None,
                    outcome: Outcome | None) -> None:
        with self._lock:
            now = self.clock()
            if outcome is None:
                duration = now - permit.started_at if duration_s is None else duration_s
                outcome = core.classify_outcome(exc, duration, self.config)
            if not permit.is_probe:
                self._pending = self._pending.add(outcome)
                self.flush(force=False)
                return
            self._probe_started_at = -math.inf
            tally = Tally().add(outcome)
            try:
                self._cas(now, lambda st: (*core.record(st, now, tally, self.config,
                                                        instance_id=self.instance_id,
                                                        probe=True), None))
            except STORE_ERRORS:
                self._store_failed(now)  # the probe lease expires; another probe follows
            except ConflictError:
                pass

    def _flush_due(self, now: float) -> bool:
        pending = self._pending
        if not pending:
            return False
        elapsed = now - self._last_flush
        if pending.failures:
            if elapsed >= self.flush_interval_s:
                return True
            tripped, _ = core.record(self._state, now, pending, self.config)
            return self._state.state is CircuitState.CLOSED and tripped.state is CircuitState.OPEN
        return elapsed >= self.success_flush_interval_s

    def _flush_or_keep(self, now: float) -> None:
        """Flush before deciding. A lost race (another instance wrote the item meanwhile, and
        every compare-and-set attempt lost: ConflictError) is no refusal: the tally stays
        pending and is merged by the next flush, and the cache is marked stale so the
        decision that follows reads the item as the other instance left it. Store errors
        propagate (the store failure policy applies)."""
        try:
            self._flush(now)
        except ConflictError:
            self._loaded_at = -math.inf

    def _flush(self, now: float) -> None:
        """Merge the pending tally into the item by CAS; the tally is cleared only once
        merged (on ConflictError or a store error it is kept for the next flush)."""
        pending = self._pending
        self._last_flush = now
        self._cas(now, lambda st: (*core.record(st, now, pending, self.config,
                                                instance_id=self.instance_id), None))
        self._pending = Tally()

    def _load(self, now: float) -> BreakerState:
        if now - self._loaded_at >= self.cache_ttl_s:
            self._remember(self.store.get(self.key), now)
        return self._state

    def _remember(self, item: StateItem | None, now: float) -> None:
        self._item = item
        self._state = BreakerState.from_dict(item.data if item else None)
        self._loaded_at = now

    def _cas(self, now: float, fn: Callable[[BreakerState], tuple]) -> Any:
        """CAS ``fn`` onto the item. A stale cache is tried blind (one request when nobody else
        wrote meanwhile) until a blind write loses a race; from then on it is re-read first."""
        seen: list[StateItem | None] = []

        def remember(item: StateItem | None) -> None:
            seen.append(item)
            self._remember(item, now)

        fresh = now - self._loaded_at < self.cache_ttl_s
        use_cached = math.isfinite(self._loaded_at) and (fresh or not self._cas_conflicted)
        events, result = cas_update(self.store, self.key, fn,
                                    item=self._item if use_cached else False,
                                    attempts=self.max_cas_attempts, on_item=remember)
        if use_cached and not fresh:  # a blind write: once it loses a race, read first
            self._cas_conflicted = len(seen) > 1
        self._emit(events)
        return result

    def _emit(self, events: list) -> None:
        """Metrics and one log line per event this instance's write made (a transition is
        logged once, by the instance whose compare-and-set made it, not per call)."""
        for event in events:
            if isinstance(event, core.StateTransition):
                self._metric("BreakerTransitions")
                self._metric("BreakerTransitionTo" + _camel(event.to_state))
                log.warning("circuit breaker %s: %s -> %s", self.name,
                            event.from_state.value, event.to_state.value)
            elif isinstance(event, core.Tripped):
                self._metric("BreakerTrips")
                log.warning("circuit breaker %s tripped: %.0f %% failed, %.0f %% slow of %d "
                            "calls in the window", self.name, event.failure_rate,
                            event.slow_call_rate, event.calls)

    def _store_failed(self, now: float) -> None:
        self._metric("BreakerStoreFailures")
        self._store_down_until = now + self.cache_ttl_s

    def _store_policy(self, now: float) -> Permit:
        if self.store_failure_policy == "fail_closed":
            self._metric("BreakerRejectedCalls")
            raise CircuitOpen(self.name, max(0.0, self._store_down_until - now))
        self._metric("BreakerStoreBypassedCalls")
        return Permit(self, now, bypassed=True)

    def _metric(self, name: str) -> None:
        count_metric(self.metrics, name)


def _decided(decision: core.Decision) -> tuple:
    return decision.new_state, list(decision.events), decision


def _camel(state: CircuitState) -> str:
    return "".join(part.title() for part in state.value.split("_"))
