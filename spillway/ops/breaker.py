"""Operator verbs on the shared circuit breakers: :func:`force` a manual state, :func:`reset`
to CLOSED (each writes an audit record), :func:`audit_log`, :func:`status`, :func:`status_all`.

Operator tooling over :class:`~chalicelib.ports.StatePort`: the Lambda functions never call
these. The state change itself is the pure :mod:`chalicelib.core.breaker` one, written by the
same compare-and-set as the Lambda's (:func:`chalicelib.breaker_item.cas_update`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.breaker_item import KEY_PREFIX, breaker_key, cas_update
from chalicelib.core import breaker as core
from chalicelib.core.breaker import DEFAULT_CONFIG, BreakerConfig, BreakerState, CircuitState
from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort
from chalicelib.wiring import BREAKER_NAME
from spillway.ops import audit
from spillway.ops import breaker_manual as manual

#: The breakers the deployed functions consult (``chalicelib.wiring``): only these names mean
#: something; any other would be an item nothing reads.
BREAKER_NAMES = (BREAKER_NAME,)


def check_name(name: str) -> str:
    """``name`` if it is one of :data:`BREAKER_NAMES`; else raises :class:`ConfigError`
    naming the known ones (a typo must not invent a breaker nor force one nothing reads)."""
    if name not in BREAKER_NAMES:
        raise ConfigError(f"no breaker named {name!r}; known: {', '.join(BREAKER_NAMES)}")
    return name


def force(store: StatePort, name: str, state: CircuitState | str, *, reason: str, by: str,
          until: float | None = None, clock: Callable[[], float] = time.time) -> BreakerState:
    """Put breaker ``name`` in a manual state (``FORCED_OPEN``, ``FORCED_CLOSED``,
    ``METRICS_ONLY``, ``DISABLED``) until ``until`` (epoch s; None = until changed by hand),
    and write an audit record. Returns the new state. Raises ``IllegalTransition`` for other
    states, ConflictError after repeated lost races, store errors as raised."""
    target = CircuitState(state)
    now = clock()
    return _operate(store, name, now, "force", reason, by, until,
                    lambda st: manual.force(st, target, now, reason=reason, by=by, until=until))


def reset(store: StatePort, name: str, by: str, reason: str,
          clock: Callable[[], float] = time.time) -> BreakerState:
    """Put breaker ``name`` back to CLOSED with an empty window (from any state) and write an
    audit record. Returns the new state."""
    now = clock()
    return _operate(store, name, now, "reset", reason, by, None,
                    lambda st: manual.reset(st, now))


def _operate(store: StatePort, name: str, now: float, action: str, reason: str, by: str,
             until: float | None, change: Callable[[BreakerState], tuple]) -> BreakerState:
    def fn(st: BreakerState) -> tuple:
        new, events = change(st)
        return new, events, (st, new)

    _, (old, new) = cas_update(store, breaker_key(name), fn)
    audit.record(store, verb=f"breaker {action}", by=by, reason=reason,
                 details={"name": name, "from": old.state.value, "to": new.state.value,
                          "until": until}, clock=lambda: now)
    return new


def audit_log(store: StatePort, name: str, limit: int = 20) -> list[dict]:
    """The last ``limit`` audit records of breaker ``name``, oldest first, from the one audit
    trail (:mod:`spillway.ops.audit`): ``{"name", "action" ("force" | "reset"), "from",
    "to", "reason", "by", "at" (epoch s), "until" (epoch s or None)}``."""
    records = [r for r in audit.list_actions(store, limit=None, verb="breaker")
               if r["details"].get("name") == name]
    return [{**r["details"], "action": r["verb"].removeprefix("breaker "),
             "reason": r["reason"], "by": r["by"], "at": r["at"]}
            for r in records[-limit:]] if limit else []


def status(store: StatePort, name: str, *, config: BreakerConfig = DEFAULT_CONFIG,
           clock: Callable[[], float] = time.time, audit_limit: int = 5) -> dict:
    """Operator view of breaker ``name`` (read-only): ``state`` as in force now (a forced state
    past its expiry shows CLOSED), ``stored_state``, ``version`` (0 = no item yet),
    ``open_until``/``retry_after_s`` (s), probe lease, ``forced`` (reason, by, at, until),
    ``trips``/``trip_times``, ``window`` (calls, failures, slow, rates in %), ``audit``."""
    now = clock()
    item = store.get(breaker_key(name))
    stored = BreakerState.from_dict(item.data if item else None)
    current, _ = core.expire(stored, now)
    data = current.to_dict()
    data.pop("buckets")
    retry = 0.0
    if current.state is CircuitState.OPEN and current.open_until:
        retry = max(0.0, current.open_until - now)
    return {**data, "name": name, "stored_state": stored.state.value,
            "version": item.version if item else 0, "retry_after_s": retry,
            "window": core.window_rates(current, now, config),
            "audit": audit_log(store, name, audit_limit)}


def status_all(store: StatePort, **kwargs: Any) -> list[dict]:
    """:func:`status` of every breaker with an item, sorted by name."""
    names = [item.key[len(KEY_PREFIX):] for item in store.scan(KEY_PREFIX)]
    return [status(store, name, **kwargs) for name in names]
