"""A time-boxed tier lift: the original strategy's emergency switch ("set the tier to
enterprise"), held in one shared item (``tier#lift``) and undone by itself at ``until``.

Pure: the item's data (:class:`LiftState`, ``to_dict`` / ``from_dict``), the decisions over it
(:func:`start`, :func:`end`, :func:`expire`) and what it changes at run time
(:func:`effective_bounds`). Time is passed in (epoch seconds); nothing here reads a clock.

A lift is *active* while ``now < until``; expiry is decided here, in code, because DynamoDB TTL
deletes an expired item within days, not at expiry (AWS DynamoDB docs, TTL). It changes only the
run-time limits: the shared slots' adaptive-limit bounds (and so priority partitions and
admission). Reserved concurrency and each mapping's MaximumConcurrency are deploy-time settings
on AWS, which no state item can change (``spillway tier set`` + deploy does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from chalicelib.core.concurrency.limit import Bounds

#: The longest lift (seconds): 24 h. A longer one is a tier change (``spillway tier set``).
MAX_LIFT_S = 24 * 3600


@dataclass(frozen=True)
class Lift:
    """Tier ``to`` in force instead of ``from_tier`` from ``at`` until ``until`` (epoch s),
    started by ``by`` for ``reason``. ``slot_min_limit`` / ``slot_max_limit``: the lifted plan's
    adaptive-limit bounds (slots; its workers' share of the connection budget), carried in the
    item so a worker needs no plan of its own to apply it."""

    to: str
    until: float
    by: str
    reason: str
    from_tier: str
    at: float
    slot_min_limit: int
    slot_max_limit: int

    def active(self, now: float) -> bool:
        """True while ``now < until``."""
        return now < self.until

    def remaining_s(self, now: float) -> float:
        """Seconds left (0 once expired)."""
        return max(0.0, self.until - now)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_tier")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lift:
        return cls(to=str(data["to"]), until=float(data["until"]), by=str(data["by"]),
                   reason=str(data["reason"]), from_tier=str(data.get("from") or ""),
                   at=float(data.get("at") or 0.0),
                   slot_min_limit=int(data["slot_min_limit"]),
                   slot_max_limit=int(data["slot_max_limit"]))


@dataclass(frozen=True)
class LiftState:
    """The ``tier#lift`` item: the ``lift`` in the item (None: none), possibly expired but not
    yet cleared, and ``ended``: how the previous one ended (``{"to", "until", "at", "by",
    "how": "end" | "revert"}``), kept for ``spillway status``."""

    lift: Lift | None = None
    ended: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"lift": self.lift.to_dict() if self.lift else None, "ended": self.ended}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LiftState:
        """The inverse of :meth:`to_dict`; an absent item (None) holds no lift."""
        if not data:
            return cls()
        lift = data.get("lift")
        return cls(Lift.from_dict(lift) if lift else None, data.get("ended"))

    def active(self, now: float) -> Lift | None:
        """The lift in force at ``now``, or None (none, or expired)."""
        return self.lift if self.lift is not None and self.lift.active(now) else None


def start(state: LiftState, lift: Lift) -> tuple[LiftState, Lift | None]:
    """``(new state, the lift it replaces or None)``. A lift replaces an active one (to change
    its tier or extend it); the replaced one is returned for the audit record. Raises
    ValueError for a lift already expired at its own ``at`` or longer than
    :data:`MAX_LIFT_S`."""
    if not lift.at < lift.until <= lift.at + MAX_LIFT_S:
        raise ValueError(f"a lift must end after it starts and within {MAX_LIFT_S} s: "
                         f"at {lift.at}, until {lift.until}")
    return replace(state, lift=lift), state.active(lift.at)


def _ended(state: LiftState, now: float, by: str, how: str) -> tuple[LiftState, Lift]:
    lift = state.lift
    assert lift is not None
    return LiftState(None, {"to": lift.to, "from": lift.from_tier, "until": lift.until,
                            "at": now, "by": by, "how": how}), lift


def end(state: LiftState, now: float, by: str) -> tuple[LiftState | None, Lift | None]:
    """End the active lift early: ``(new state, the lift ended)``, or ``(None, None)`` when no
    lift is active (nothing to write)."""
    if state.active(now) is None:
        return None, None
    return _ended(state, now, by, "end")


def expire(state: LiftState, now: float, by: str = "collector"
           ) -> tuple[LiftState | None, Lift | None]:
    """Clear a lift whose ``until`` has passed: ``(new state, the expired lift)``, or
    ``(None, None)`` when there is none or it is still active."""
    if state.lift is None or state.lift.active(now):
        return None, None
    return _ended(state, now, by, "revert")


def effective_bounds(base: Bounds, state: LiftState | None, now: float) -> Bounds:
    """The adaptive-limit bounds in force at ``now``: ``base`` (the deployed tier's), or, while
    a lift is active, the larger of each bound and the lifted plan's (a lift never lowers a
    limit)."""
    lift = state.active(now) if state is not None else None
    if lift is None:
        return base
    high = max(base.max_limit, lift.slot_max_limit)
    return Bounds(min(max(base.min_limit, lift.slot_min_limit), high), high)
