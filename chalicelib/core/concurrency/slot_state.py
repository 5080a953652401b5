"""The slot pool's data: :class:`SlotConfig`, :class:`Lease`, :class:`Waiter`,
:class:`Handoff` and the shared item :class:`SlotState` (``to_dict`` / ``from_dict``). The
decisions over it are in :mod:`chalicelib.core.concurrency.slots`, which re-exports these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.core.concurrency.plan import PRIORITY_SHARES
from chalicelib.errors import ConfigError

PRIORITY_ORDER: tuple[str, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class SlotConfig:
    """``shares``: guaranteed fraction of the limit per priority (sum 1). ``waiter_ttl_s``: how
    long past its estimated wait a refused caller keeps its place. ``min_wait_s`` /
    ``max_wait_s``: bounds of the estimated wait (900 s is SQS's largest DelaySeconds).
    ``handoff_s``: how long a released lease's slots stay protected for its priority (the
    same worker's next batch usually asks again within a batching window; without this, the
    instant between release and the next acquire looks idle and is lent away).
    ``initial_hold_s``: mean lease hold time assumed before any release is seen.
    ``jitter_fraction``: the wait is stretched by up to this fraction of itself (``jitter`` in
    [0, 1) is passed in) so held-back batches do not come back together."""

    shares: dict[str, float] = field(default_factory=lambda: dict(PRIORITY_SHARES))
    waiter_ttl_s: float = 30.0
    handoff_s: float = 2.0
    min_wait_s: float = 1.0
    max_wait_s: float = 900.0
    initial_hold_s: float = 1.0
    jitter_fraction: float = 0.2
    hold_window: int = 1000

    def __post_init__(self) -> None:
        if set(self.shares) != set(PRIORITY_ORDER) or any(v <= 0 for v in self.shares.values()):
            raise ConfigError(f"slot shares must give {PRIORITY_ORDER} each > 0: {self.shares}")
        checks = {"min_wait_s/max_wait_s": 0 < self.min_wait_s <= self.max_wait_s,
                  "waiter_ttl_s": self.waiter_ttl_s > 0, "handoff_s": self.handoff_s >= 0,
                  "initial_hold_s": self.initial_hold_s > 0,
                  "jitter_fraction": self.jitter_fraction >= 0, "hold_window": self.hold_window >= 1}
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"slot {key} is invalid: {self}")


DEFAULT_SLOT_CONFIG = SlotConfig()


@dataclass(frozen=True)
class Lease:
    """``count`` slots held by ``holder`` for ``priority`` until ``expires_at`` (epoch s)."""

    holder: str
    priority: str
    count: int
    acquired_at: float
    expires_at: float


@dataclass(frozen=True)
class Waiter:
    """A refused caller keeping its place since ``since`` until ``expires_at`` (epoch s)."""

    holder: str
    priority: str
    count: int
    since: float
    expires_at: float


@dataclass(frozen=True)
class Handoff:
    """Slots just released by ``holder``, protected for ``priority`` until ``expires_at``."""

    holder: str
    priority: str
    count: int
    expires_at: float


@dataclass(frozen=True)
class SlotState:
    """The shared item. ``limit``: slots allowed now (set by :mod:`.limit`); ``released`` /
    ``hold_s_sum``: leases released and their total hold time (s), for the release rate;
    ``samples`` / ``latency_s_sum`` / ``failures``: call outcomes reported on release and not
    yet folded into the adaptive limit; ``limiter``: the adaptive limit's state (opaque dict)."""

    limit: int
    leases: tuple[Lease, ...] = ()
    waiters: tuple[Waiter, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    version: int = 0
    released: int = 0
    hold_s_sum: float = 0.0
    samples: int = 0
    latency_s_sum: float = 0.0
    failures: int = 0
    limiter: dict[str, Any] = field(default_factory=dict)

    def used(self, priority: str | None = None) -> int:
        """Slots held (by ``priority``, or in all)."""
        return sum(x.count for x in self.leases if priority in (None, x.priority))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; leases keyed by holder (so a release can remove one by key)."""
        data = asdict(self)
        data["leases"] = {x.holder: asdict(x) for x in self.leases}
        data["waiters"] = {x.holder: asdict(x) for x in self.waiters}
        data["handoffs"] = {x.holder: asdict(x) for x in self.handoffs}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, default_limit: int) -> SlotState:
        """The inverse of :meth:`to_dict`; an absent item is an empty pool of
        ``default_limit`` slots."""
        if not data:
            return cls(limit=default_limit)
        leases = tuple(sorted((Lease(**v) for v in data.get("leases", {}).values()),
                              key=lambda x: (x.acquired_at, x.holder)))
        waiters = tuple(sorted((Waiter(**v) for v in data.get("waiters", {}).values()),
                               key=lambda x: (x.since, x.holder)))
        handoffs = tuple(sorted((Handoff(**v) for v in data.get("handoffs", {}).values()),
                                key=lambda x: (x.expires_at, x.holder)))
        scalars = {k: data[k] for k in ("version", "released", "hold_s_sum", "samples",
                                        "latency_s_sum", "failures") if k in data}
        return cls(limit=int(data.get("limit", default_limit)), leases=leases, waiters=waiters,
                   handoffs=handoffs, limiter=dict(data.get("limiter", {})), **scalars)
