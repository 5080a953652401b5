"""Round-robin over a worker function's lanes (aliases ``lane-1`` .. ``lane-N``), skipping the
unhealthy ones. Pure, clock passed in (epoch seconds); the state is one :class:`LanePool`.

A lane is skipped while it is **disabled** by an operator (``spillway lanes disable``) or
**ejected**: its error rate over a sliding window of ``window_s`` seconds (buckets of
``bucket_s``) reached ``error_rate_threshold`` with at least ``minimum_calls`` calls -- a
canary version that trips, say. An ejected lane is re-admitted ``eject_s`` later with an empty
window (on probation: it is ejected again as soon as it fails as much). When every enabled lane
is ejected, :func:`pick` keeps the round-robin over the enabled ones rather than stop work
(aliases share one function's capacity, so no lane is ever "full"); when every lane is disabled
it returns None.

Aliases add provisioned concurrency, canary / blue-green and isolated failure domains; they add
no capacity: the lanes share the function's reserved concurrency (AWS Lambda docs,
configuration-concurrency).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from chalicelib.errors import NotFound

Bucket = tuple[float, int, int]
_FUNCTION_ARN = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:[^:]+(?::([^:]+))?")
_LANE = re.compile(r"lane-[1-9][0-9]*")  # (start epoch s, calls, errors)


@dataclass(frozen=True)
class LaneConfig:
    window_s: float = 60.0
    bucket_s: float = 5.0
    error_rate_threshold: float = 0.5
    minimum_calls: int = 10
    eject_s: float = 30.0


#: The defaults (60 s window of 5 s buckets, 50 % of >= 10 calls ejects for 30 s).
DEFAULT_LANE_CONFIG = LaneConfig()

@dataclass(frozen=True)
class Lane:
    """One alias: ``disabled`` (with ``reason``) by hand; ``ejected_until`` epoch s (0: not)."""

    name: str
    disabled: bool = False
    reason: str = ""
    ejected_until: float = 0.0
    buckets: tuple[Bucket, ...] = ()


@dataclass(frozen=True)
class LanePool:
    """The lanes in order and the round-robin ``cursor`` (index of the next lane to try)."""

    lanes: tuple[Lane, ...]
    cursor: int = 0

    @classmethod
    def of(cls, count: int) -> LanePool:
        """``count`` healthy lanes ``lane-1`` .. ``lane-count``; ValueError if count < 1."""
        if count < 1:
            raise ValueError(f"lane count must be >= 1, got {count}")
        return cls(tuple(Lane(f"lane-{i}") for i in range(1, count + 1)))

    def to_dict(self) -> dict:
        """JSON form (:func:`to_dict`); what :func:`chalicelib.breaker_item.cas_update` writes."""
        return to_dict(self)


def _index(pool: LanePool, name: str) -> int:
    for i, lane in enumerate(pool.lanes):
        if lane.name == name:
            return i
    raise NotFound(f"no lane {name!r}; lanes: {[x.name for x in pool.lanes]}")


def _with(pool: LanePool, index: int, lane: Lane) -> LanePool:
    return replace(pool, lanes=(*pool.lanes[:index], lane, *pool.lanes[index + 1:]))


def _window(lane: Lane, now: float, config: LaneConfig) -> tuple[Bucket, ...]:
    return tuple(b for b in lane.buckets if b[0] > now - config.window_s)


def _readmit(lane: Lane, now: float) -> Lane:
    if lane.ejected_until and lane.ejected_until <= now:
        return replace(lane, ejected_until=0.0, buckets=())
    return lane


def healthy(lane: Lane, now: float) -> bool:
    """Neither disabled nor ejected at ``now``."""
    return not lane.disabled and not (lane.ejected_until > now)


def pick(pool: LanePool, now: float) -> tuple[str | None, LanePool]:
    """The next healthy lane after the cursor and the pool with the cursor moved past it (and
    lanes whose ejection ended re-admitted); see the module docstring for the fallbacks."""
    lanes = tuple(_readmit(lane, now) for lane in pool.lanes)
    pool = replace(pool, lanes=lanes)
    n = len(lanes)
    order = [(pool.cursor + k) % n for k in range(n)]
    for wanted in (lambda x: healthy(x, now), lambda x: not x.disabled):
        for i in order:
            if wanted(lanes[i]):
                return lanes[i].name, replace(pool, cursor=(i + 1) % n)
    return None, pool


def record(pool: LanePool, name: str, ok: bool, now: float,
           config: LaneConfig = LaneConfig()) -> LanePool:
    """Count one invocation of lane ``name`` (``ok`` False: it failed); eject the lane when its
    window crosses the threshold. Raises NotFound for an unknown lane."""
    return tally(pool, name, 1, 0 if ok else 1, now, config)


def tally(pool: LanePool, name: str, calls: int, errors: int, now: float,
          config: LaneConfig = LaneConfig()) -> LanePool:
    """Count ``calls`` invocations of lane ``name`` at ``now``, ``errors`` of them failed (an
    instance's aggregated outcomes, merged at once: :func:`record` is ``tally(.., 1, 0|1, ..)``).
    Ejects the lane when its window crosses the threshold. Raises NotFound for an unknown
    lane, ValueError for ``errors`` outside ``0..calls``."""
    if not 0 <= errors <= calls:
        raise ValueError(f"errors must be within 0..calls, got {errors} of {calls}")
    i = _index(pool, name)
    lane = _readmit(pool.lanes[i], now)
    start = now - (now % config.bucket_s)
    buckets = list(_window(lane, now, config))
    if buckets and buckets[-1][0] == start:
        _, before, failed_before = buckets.pop()
    else:
        before, failed_before = 0, 0
    buckets.append((start, before + calls, failed_before + errors))
    lane = replace(lane, buckets=tuple(buckets))
    total = sum(b[1] for b in buckets)
    failed = sum(b[2] for b in buckets)
    if total >= config.minimum_calls and failed / total >= config.error_rate_threshold \
            and not lane.ejected_until:
        lane = replace(lane, ejected_until=now + config.eject_s)
    return _with(pool, i, lane)


def serving(pool: LanePool, name: str, now: float) -> bool:
    """Whether lane ``name`` takes work at ``now`` by :func:`pick`'s rules, for a caller that
    runs every lane at once (one SQS poller per lane) rather than picking: healthy, or ejected
    while every enabled lane is ejected (the fallback keeps work going). Raises NotFound."""
    lane = _readmit(pool.lanes[_index(pool, name)], now)
    if lane.disabled:
        return False
    if healthy(lane, now):
        return True
    return not any(healthy(_readmit(x, now), now) for x in pool.lanes)


def to_dict(pool: LanePool) -> dict:
    """JSON form: ``{"cursor": int, "lanes": [{"name", "disabled", "reason", "ejected_until"
    (epoch s, 0 = not), "buckets": [[start epoch s, calls, errors], ...]}, ...]}``."""
    return {"cursor": pool.cursor, "lanes": [
        {"name": x.name, "disabled": x.disabled, "reason": x.reason,
         "ejected_until": x.ejected_until, "buckets": [list(b) for b in x.buckets]}
        for x in pool.lanes]}


def from_dict(data: dict | None, count: int) -> LanePool:
    """The pool stored as :func:`to_dict` made, fitted to ``count`` lanes (the plan's): lanes
    ``lane-1..lane-count`` keep their stored state, missing ones start healthy, extra stored
    ones are dropped (a tier with fewer lanes). None: ``LanePool.of(count)``."""
    fresh = LanePool.of(count)
    stored = {x.get("name"): x for x in (data or {}).get("lanes", [])}
    lanes = []
    for lane in fresh.lanes:
        x = stored.get(lane.name)
        lanes.append(lane if x is None else Lane(
            lane.name, bool(x.get("disabled")), str(x.get("reason") or ""),
            float(x.get("ejected_until") or 0.0),
            tuple((float(b[0]), int(b[1]), int(b[2])) for b in x.get("buckets", ()))))
    return LanePool(tuple(lanes), int((data or {}).get("cursor", 0)) % count)


def disable(pool: LanePool, name: str, reason: str) -> LanePool:
    """Lane ``name`` skipped until :func:`enable`. Raises NotFound for an unknown lane."""
    i = _index(pool, name)
    return _with(pool, i, replace(pool.lanes[i], disabled=True, reason=reason))


def enable(pool: LanePool, name: str) -> LanePool:
    """Lane ``name`` back in the rotation, with an empty window and no ejection."""
    i = _index(pool, name)
    return _with(pool, i, Lane(name))


def status(pool: LanePool, now: float, config: LaneConfig = LaneConfig()) -> list[dict[str, object]]:
    """Per lane: ``lane``, ``state`` (``healthy`` / ``ejected`` / ``disabled``), ``reason``,
    ``calls`` and ``errors`` in the window, ``ejected_until`` (epoch s or None)."""
    out = []
    for lane in (_readmit(x, now) for x in pool.lanes):
        window = _window(lane, now, config)
        state = "disabled" if lane.disabled else "ejected" if lane.ejected_until > now else "healthy"
        out.append({"lane": lane.name, "state": state, "reason": lane.reason,
                    "calls": sum(b[1] for b in window), "errors": sum(b[2] for b in window),
                    "ejected_until": lane.ejected_until or None})
    return out


def lane_of_arn(invoked_function_arn: str | None) -> str | None:
    """The lane an invocation came through, from Lambda's ``context.invoked_function_arn``
    (``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]``, AWS Lambda docs,
    "Lambda context object in Python"): qualifier ``lane-k`` (k >= 1) -> ``"lane-k"``; no
    qualifier or ``$LATEST`` -> ``"lane-1"`` (Chalice's own mapping is on the unqualified
    function); anything else -- a version number, another alias, an empty or non-Lambda ARN
    (the local stack's contexts have ``""``) -> None: not a lane, nothing to record."""
    match = _FUNCTION_ARN.fullmatch(invoked_function_arn or "")
    if match is None:
        return None
    qualifier = match.group(1) or "$LATEST"
    if qualifier == "$LATEST":
        return "lane-1"
    return qualifier if _LANE.fullmatch(qualifier) else None
