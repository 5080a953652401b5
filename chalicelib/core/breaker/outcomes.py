"""Outcome classification of one protected call: what counts against the dependency."""

from __future__ import annotations

import enum

from chalicelib.core.breaker.config import BreakerConfig
from chalicelib.errors import CircuitOpen, DependencyError


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    SLOW_SUCCESS = "slow_success"
    SLOW_FAILURE = "slow_failure"
    IGNORED = "ignored"


def classify_outcome(exc: BaseException | None, duration_s: float,
                     config: BreakerConfig) -> Outcome:
    """Classify one call that took ``duration_s`` seconds (``exc`` None: it succeeded).

    Only what says the dependency is unhealthy counts against it: a *retryable*
    :class:`~chalicelib.errors.DependencyError` -- :class:`~chalicelib.errors.Throttled`
    (connection exhaustion, throttling), :class:`~chalicelib.errors.DependencyUnavailable`
    (unreachable, timed out), or a plain ``DependencyError`` with ``retryable`` True -- is a
    FAILURE. Everything else is IGNORED (not counted, neither failure nor success):
    :class:`~chalicelib.errors.CircuitOpen` (the call was not made), non-retryable errors
    (``PermanentDependencyError``, ``DeliveryRejected``, ...: the request was wrong) and any
    other exception (``KeyError``, ``TypeError``, ``ConflictError``, ...: a bug in our code or
    a poison record, which must not open the breaker for everyone). Adapters translate vendor
    errors into ``DependencyError`` subclasses, so an untranslated exception is not evidence of
    an outage. ``duration_s >= slow_call_duration_s`` makes a success or failure slow."""
    slow = duration_s >= config.slow_call_duration_s
    if exc is None:
        return Outcome.SLOW_SUCCESS if slow else Outcome.SUCCESS
    if isinstance(exc, CircuitOpen):
        return Outcome.IGNORED
    if isinstance(exc, DependencyError) and exc.retryable:
        return Outcome.SLOW_FAILURE if slow else Outcome.FAILURE
    return Outcome.IGNORED
