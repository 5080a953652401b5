"""Load-test scenarios and pass/fail thresholds, pure (no Locust import; times in seconds).

The scenarios and thresholds are the original scaling strategy's (DESIGN.md section 2c):
ramp 1 -> 75 users to find the limit, 40 users sustained, a burst of 1000 requests from 100 users
within a minute, and a priority mix; p95 < 3 s and error rate < 10 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

#: Threshold on the 95th percentile response time, seconds.
P95_LIMIT_S = 3.0
#: Threshold on failed / sent requests.
ERROR_RATE_LIMIT = 0.10


@dataclass(frozen=True)
class Scenario:
    """A load shape. ``users`` is the peak user count, reached linearly from ``start_users``
    over ``duration_s`` when ``ramp``, else held for ``duration_s``. ``spawn_rate`` is users
    started per second. ``wait_s`` is each user's (min, max) pause between requests.
    ``request_budget``: stop after this many requests (all users share it), which must be sent
    within ``duration_s``. ``mix``: relative weight of each priority queue's deliveries; None
    sends the corpus as it is."""

    name: str
    description: str
    users: int
    duration_s: float
    spawn_rate: float
    start_users: int = 1
    ramp: bool = False
    wait_s: tuple[float, float] = (0.0, 0.2)
    request_budget: int | None = None
    mix: Mapping[str, float] | None = field(default=None)

    def tick(self, run_time_s: float) -> tuple[int, float] | None:
        """``(user count, spawn rate)`` at ``run_time_s`` since the start; None to stop."""
        if run_time_s >= self.duration_s:
            return None
        if not self.ramp:
            return self.users, self.spawn_rate
        fraction = run_time_s / self.duration_s
        users = self.start_users + math.floor((self.users - self.start_users) * fraction)
        return max(1, users), self.spawn_rate


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (
        Scenario("ramp", "1 -> 75 users over 5 minutes, to find the limit",
                 users=75, duration_s=300, spawn_rate=5, ramp=True),
        Scenario("sustained", "40 users for 5 minutes", users=40, duration_s=300,
                 spawn_rate=10),
        Scenario("burst", "1000 requests from 100 users within a minute", users=100,
                 duration_s=60, spawn_rate=100, wait_s=(0.0, 0.0), request_budget=1000),
        Scenario("mix", "40 users for 2 minutes; low-priority flood with high and medium "
                 "interleaved (weights high 2, medium 3, low 5)", users=40, duration_s=120,
                 spawn_rate=10, mix={"high": 2, "medium": 3, "low": 5}),
    )
}


def parse_mix(text: str) -> dict[str, float]:
    """``"high=2,medium=3,low=5"`` -> ``{"high": 2.0, ...}``; ValueError on a bad entry or
    when every weight is 0."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        if not sep or name.strip() not in ("high", "medium", "low"):
            raise ValueError(f"bad priority weight {part!r} (expected high|medium|low=N)")
        value = float(weight)
        if value < 0:
            raise ValueError(f"negative weight in {part!r}")
        mix[name.strip()] = value
    if not mix or not any(mix.values()):
        raise ValueError(f"no positive weight in {text!r}")
    return mix


def select(env: Mapping[str, str], *, users: int | None = None,
           duration_s: float | None = None) -> Scenario:
    """The scenario named by ``LOADTEST_SCENARIO`` (default ``sustained``), with peak ``users``
    and ``duration_s`` replaced when given (Locust's ``--users`` / ``--run-time``), the request
    budget from ``LOADTEST_BURST_REQUESTS`` and the mix from ``LOADTEST_PRIORITY_MIX``.
    Raises ValueError naming an unknown scenario."""
    name = (env.get("LOADTEST_SCENARIO") or "sustained").strip().lower()
    if name not in SCENARIOS:
        raise ValueError(f"LOADTEST_SCENARIO must be one of {sorted(SCENARIOS)}, got {name!r}")
    scenario = SCENARIOS[name]
    changes: dict = {}
    if users:
        changes["users"] = users
        changes["start_users"] = min(scenario.start_users, users)
        changes["spawn_rate"] = min(scenario.spawn_rate, float(users))
    if duration_s:
        changes["duration_s"] = float(duration_s)
    if scenario.request_budget is not None and env.get("LOADTEST_BURST_REQUESTS"):
        changes["request_budget"] = int(env["LOADTEST_BURST_REQUESTS"])
    if env.get("LOADTEST_PRIORITY_MIX"):
        changes["mix"] = parse_mix(env["LOADTEST_PRIORITY_MIX"])
    return replace(scenario, **changes)


def task_weights(scenario: Scenario, available: Mapping[str, int]) -> dict[str, int]:
    """Integer task weight per priority. ``available``: how many corpus deliveries each
    priority has; the corpus's own proportions when the scenario has no mix. Priorities with
    no deliveries are left out."""
    raw = scenario.mix if scenario.mix is not None else available
    weights = {p: round(100 * float(raw.get(p, 0))) for p in available if available[p] > 0}
    return {p: w for p, w in weights.items() if w > 0}


@dataclass(frozen=True)
class RunSummary:
    """What a run measured: request and failure counts, response-time percentiles (seconds),
    and for a budgeted scenario how long the budget took (seconds; None if not finished)."""

    requests: int
    failures: int
    p50_s: float
    p95_s: float
    budget: int | None = None
    budget_done_in_s: float | None = None

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def violations(summary: RunSummary, *, within_s: float,
               p95_limit_s: float = P95_LIMIT_S,
               error_rate_limit: float = ERROR_RATE_LIMIT) -> list[str]:
    """Why the run fails its thresholds (empty list: it passes). ``within_s`` is the time the
    request budget had (the burst's minute)."""
    out = []
    if summary.requests == 0:
        out.append("no request was sent")
    if summary.p95_s >= p95_limit_s:
        out.append(f"p95 {summary.p95_s:.3f} s >= {p95_limit_s} s")
    if summary.error_rate >= error_rate_limit:
        out.append(f"error rate {summary.error_rate:.1%} >= {error_rate_limit:.0%}")
    if summary.budget is not None:
        if summary.budget_done_in_s is None:
            out.append(f"the {summary.budget} requests did not complete")
        elif summary.budget_done_in_s > within_s:
            out.append(f"the {summary.budget} requests took {summary.budget_done_in_s:.1f} s "
                       f"> {within_s} s")
    return out
