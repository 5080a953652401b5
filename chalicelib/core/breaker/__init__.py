"""Circuit breaker state machine: pure, no I/O, clock passed in (``now`` in epoch seconds).

Semantics follow resilience4j's ``CircuitBreaker`` (states, explicit transition table, sliding
window, failure-rate and slow-call-rate thresholds, minimum number of calls, half-open probes),
made *shareable*: the whole state is one serialisable :class:`BreakerState` that many Lambda
instances read and change by compare-and-set (see :mod:`chalicelib.shared_breaker`).

Two pure functions drive it:

* :func:`decide` -- may a call go ahead now? Returns a :class:`Decision`; when the answer needs a
  state change (OPEN -> HALF_OPEN with a probe lease, a forced state expiring) the decision carries
  the new state, which the caller must write by compare-and-set before acting on it.
* :func:`record` -- merge call outcomes (a :class:`Tally`) into the state; returns the new state
  and the events (:class:`StateTransition`, :class:`Tripped`).

Defaults (:class:`BreakerConfig`) are the original strategy's numbers (DESIGN.md section 2c):
error threshold 50 % over a 60 s window, volume threshold 10 calls, open for 60 s, 3 successes
to close. Slow-call defaults are resilience4j's (60 s); slow-call tripping is off at 100 %.

Clock skew: ``open_until`` is absolute and by the clock of the instance that tripped the
breaker (``opened_by``). That instance may half-open at ``open_until``; any other needs ``now >=
open_until + skew_margin_s`` by its own clock, so a clock up to ``skew_margin_s`` fast never
half-opens before ``open_until`` in real time. A re-open after a failed probe starts no later
than the stored ``open_until + skew_margin_s + probe_lease_s``, so a fast prober cannot push the
new ``open_until`` past the open duration plus the allowed skew. Residual risk: a clock fast by
more than ``skew_margin_s`` (the deployed default is ``BREAKER_SKEW_MARGIN_S`` = 10 s; the core
default 0) half-opens early by the excess (one probe, not a flood: the lease admits one prober).

Files: ``config`` (:class:`BreakerConfig`), ``outcomes`` (:func:`classify_outcome`),
``window`` (:class:`Tally`, buckets, :func:`window_rates`), ``events``, ``state``
(:class:`BreakerState` and its JSON form), ``transitions`` (:data:`TRANSITIONS`,
:func:`decide`, :func:`record`, :func:`expire`, :func:`transition`). The public names are
re-exported here. Operator transitions (force a manual state, reset) are not here: Lambda
never makes them; they live with the operator verbs in ``spillway/ops/breaker_manual.py``.

May import: the standard library and :mod:`chalicelib.errors` only (pure: no I/O, no SDKs).
"""

from chalicelib.core.breaker.config import DEFAULT_CONFIG, BreakerConfig
from chalicelib.core.breaker.events import (
    AUTO,
    MANUAL,
    CallNotPermitted,
    StateTransition,
    Tripped,
)
from chalicelib.core.breaker.outcomes import Outcome, classify_outcome
from chalicelib.core.breaker.state import MANUAL_STATES, BreakerState, CircuitState, Forced
from chalicelib.core.breaker.transitions import (
    TRANSITIONS,
    Decision,
    IllegalTransition,
    decide,
    expire,
    record,
    transition,
)
from chalicelib.core.breaker.window import Bucket, Tally, merge_buckets, window_rates

__all__ = [
    "AUTO", "DEFAULT_CONFIG", "MANUAL", "MANUAL_STATES", "TRANSITIONS", "BreakerConfig",
    "BreakerState", "Bucket", "CallNotPermitted", "CircuitState", "Decision", "Forced",
    "IllegalTransition", "Outcome", "StateTransition", "Tally", "Tripped", "classify_outcome",
    "decide", "expire", "merge_buckets", "record", "transition",
    "window_rates",
]
