"""Tier plans: one frozen :class:`TierPlan` from which every concurrency setting is derived.

The original scaling strategy's tiers (``../shared/DESIGN.md`` section 2c) are the presets:

========== ================ ===== ==============
tier       edge concurrency burst queue capacity
========== ================ ===== ==============
free       10               15    100
pro        40               50    500
enterprise 100              150   1000
========== ================ ===== ==============

What each figure drives:

* ``edge_concurrency`` -> the edge Lambda's reserved concurrency (a hard cap: AWS Lambda docs,
  configuration-concurrency) and, times ``1 / edge_latency_s``, the API Gateway steady rate limit;
* ``burst`` -> the API Gateway burst limit and the default total worker reserved concurrency
  (capped by the PostgreSQL connection budget, see below);
* ``queue_capacity`` -> messages per queue above which health is degraded (:mod:`.health`).

Worker functions (:data:`FUNCTIONS`): ``worker_high``, ``worker_medium``, ``worker_low`` (target
``light``, consuming the ``high``/``medium``/``low`` queues as today) and ``worker_heavy``,
``worker_batch`` (targets ``heavy``/``batch``, each on its own queue ``heavy``/``batch``; the
message keeps its priority, which its slot lease uses). The total worker reserved concurrency is
split by :data:`FUNCTION_WEIGHTS` (weighted toward high), each function getting at least
``2 * lanes`` so every lane's event source mapping can have MaximumConcurrency >= 2. Each
function is published with ``lanes`` aliases ``lane-1..lane-N`` (fewer if its concurrency cannot
give each lane 2); one event source mapping per lane, the function's concurrency split evenly over
them so the sum equals its reserved concurrency (aliases share it and add no capacity).

PostgreSQL connection budget: ``sum(reserved_concurrency * pool_size)`` over worker functions,
plus ``edge_concurrency * edge_pool_size`` (0 on the AWS backend, whose edge never opens the
database) plus ``operator_reserve`` (migrations, CLI, psql), must stay <= ``max_connections -
superuser_reserved_connections`` (PostgreSQL defaults 100 and 3; pgserver keeps them). A Lambda
instance runs one invocation at a time and the worker handles a batch's records in turn, so
``pool_size`` 1 is enough; settings' db_pool_size 4 today holds 3 idle connections per instance.

The shared slot limit (:mod:`.slots`, :mod:`.limit`) ranges over ``[slot_min_limit,
slot_max_limit]``, the max being the workers' share of that connection budget.

Use :func:`build_plan` (validates, raises :class:`PlanError`); :func:`derive` builds without
validating (to reproduce the DLQ trap locally with a plan forced past the rules). Rendering for
Chalice / app.py / infra lives in :mod:`.render`; the rules in :mod:`.rules`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from chalicelib.core.concurrency.knob_types import type_error
from chalicelib.core.concurrency.shares import allocate
from chalicelib.errors import ConfigError

PRIORITY_SHARES: dict[str, float] = {"high": 0.5, "medium": 0.3, "low": 0.2}


class PlanError(ConfigError):
    """A tier plan breaks one or more rules (or names an unknown tier / field).

    ``violations`` lists every :class:`~chalicelib.core.concurrency.rules.Violation`; the
    message joins their messages, each naming its rule and the numbers."""

    def __init__(self, message: str, violations: tuple = ()):
        super().__init__(message)
        self.violations = tuple(violations)


@dataclass(frozen=True)
class FunctionSpec:
    """Per worker-function knobs. ``timeout_s`` and ``window_s`` in seconds, ``memory_mb`` in MB.
    ``batch_size`` is the event source mapping's BatchSize; ``window_s`` its
    MaximumBatchingWindowInSeconds."""

    queue: str
    target: str
    memory_mb: int
    timeout_s: int
    batch_size: int
    window_s: int


#: Default worker functions, in priority order. Light windows 1/2/5 s and batch 10 are today's
#: ``WORKER_SCALING``; heavy takes one large payload at a time with more memory and time; batch
#: takes 50 machine events per invocation (BatchSize > 10 needs a window >= 1 s, AWS).
FUNCTIONS: dict[str, FunctionSpec] = {
    "worker_high": FunctionSpec("high", "light", 512, 30, 10, 1),
    "worker_medium": FunctionSpec("medium", "light", 512, 30, 10, 2),
    "worker_low": FunctionSpec("low", "light", 512, 30, 10, 5),
    "worker_heavy": FunctionSpec("heavy", "heavy", 1024, 120, 1, 0),
    "worker_batch": FunctionSpec("batch", "batch", 1024, 120, 50, 10),
}

#: Share of the worker concurrency budget per function (normalised), weighted toward high.
FUNCTION_WEIGHTS: dict[str, float] = {
    "worker_high": 5, "worker_medium": 3, "worker_low": 2, "worker_heavy": 1, "worker_batch": 1,
}

#: The original strategy's tiers: (edge concurrency, burst, queue capacity, lanes).
PRESETS: dict[str, dict[str, int]] = {
    "free": {"edge_concurrency": 10, "burst": 15, "queue_capacity": 100, "lanes": 1},
    "pro": {"edge_concurrency": 40, "burst": 50, "queue_capacity": 500, "lanes": 2},
    "enterprise": {"edge_concurrency": 100, "burst": 150, "queue_capacity": 1000, "lanes": 3},
}
CUSTOM = "custom"

#: What fronts the edge function (knob ``front``): ``rest`` -- API Gateway REST API, Chalice's
#: own (v1 proxy events; $3.50 per million calls); ``http`` -- API Gateway HTTP API (payload
#: format 2.0; $1.00 per million, 512 KB increments; stage route throttling); ``function-url``
#: -- a Lambda function URL (payload format 2.0; no charge of its own; no throttling but the
#: edge's reserved concurrency). See ``chalicelib/fronts.py`` and docs/FRONTS.md.
FRONTS = ("rest", "http", "function-url")

#: Seconds a slot lease outlives its holder's function timeout (clock skew, release latency).
LEASE_GRACE_S = 5.0
#: Longest life (s) of a slot lease without a renewal. The holder renews it every quarter of
#: that while its batch runs (a heartbeat, :mod:`chalicelib.batch_slots`), so a batch may run
#: as long as its function timeout, yet a holder that dies stalls the pool at most this long
#: (issue 19: <= 30 s, the waiters' return included). Batches shorter than a quarter of it
#: (nearly all) renew nothing: no state-store request is added per delivery.
SLOT_LEASE_S = 20.0


@dataclass(frozen=True)
class LaneMapping:
    """One event source mapping: the function's alias ``lane`` on its queue."""

    #: Alias name the mapping invokes (one lane of the worker function).
    lane: str
    #: ScalingConfig.MaximumConcurrency: concurrent invocations, 2..1000 (AWS Lambda docs).
    maximum_concurrency: int


@dataclass(frozen=True)
class WorkerPlan:
    """Everything derived for one worker function. Seconds unless named otherwise."""

    name: str
    spec: FunctionSpec
    reserved_concurrency: int
    mappings: tuple[LaneMapping, ...]
    visibility_timeout_s: int
    lease_s: float

    @property
    def maximum_concurrency(self) -> int:
        """Sum of MaximumConcurrency over this function's mappings."""
        return sum(m.maximum_concurrency for m in self.mappings)


@dataclass(frozen=True)
class TierPlan:
    """A tier's knobs and every setting derived from them (:attr:`workers`).

    Knobs (all overridable through :func:`build_plan`): counts are concurrent executions or
    connections, times seconds, memory MB. ``worker_concurrency`` None means ``min(burst,
    connection budget left for workers // pool_size)``. ``reserved_concurrency`` /
    ``maximum_concurrency`` / ``visibility_timeout`` map a function name to a forced value
    (MaximumConcurrency is the total over its lanes); ``functions`` maps a function name to FunctionSpec field overrides."""

    name: str
    edge_concurrency: int
    burst: int
    queue_capacity: int
    lanes: int = 1
    worker_concurrency: int | None = None
    pool_size: int = 1
    edge_pool_size: int = 0
    max_connections: int = 100
    superuser_reserved_connections: int = 3
    operator_reserve: int = 5
    account_concurrency: int = 1000
    account_unreserved_minimum: int = 100
    edge_timeout_s: float = 8.0
    edge_memory_mb: int = 512
    edge_latency_s: float = 0.1
    #: What fronts the edge (:data:`FRONTS`).
    front: str = "rest"
    #: Workers take shared database slots (``SLOTS_ENABLED``); off: only the pool bounds them.
    slots_enabled: bool = True
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    reserved_concurrency: dict[str, int] = field(default_factory=dict)
    maximum_concurrency: dict[str, int] = field(default_factory=dict)
    visibility_timeout: dict[str, int] = field(default_factory=dict)
    priority_shares: dict[str, float] = field(default_factory=lambda: dict(PRIORITY_SHARES))
    workers: tuple[WorkerPlan, ...] = ()

    @property
    def db_connection_limit(self) -> int:
        """Connections the application may use: ``max_connections - superuser reserved``."""
        return self.max_connections - self.superuser_reserved_connections

    @property
    def db_connection_budget(self) -> int:
        """Connections the plan can open at once (workers, edge, operator reserve)."""
        workers = sum(w.reserved_concurrency for w in self.workers) * self.pool_size
        return workers + self.edge_concurrency * self.edge_pool_size + self.operator_reserve

    @property
    def slot_max_limit(self) -> int:
        """Upper bound of the shared slot limit: connections the workers can hold at once."""
        return sum(w.reserved_concurrency for w in self.workers) * self.pool_size

    @property
    def slot_min_limit(self) -> int:
        """Lower bound of the adaptive slot limit: one slot per priority."""
        return min(len(self.priority_shares), self.slot_max_limit)

    @property
    def api_rate_limit(self) -> float:
        """API Gateway steady-state rate (requests/s): edge concurrency / edge latency."""
        return self.edge_concurrency / self.edge_latency_s

    def worker(self, name: str) -> WorkerPlan:
        """The :class:`WorkerPlan` called ``name``; raises PlanError if there is none."""
        for worker in self.workers:
            if worker.name == name:
                return worker
        raise PlanError(f"plan {self.name!r} has no worker function {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of knobs and derived settings (see :func:`.render.plan_dict`)."""
        from chalicelib.core.concurrency.render import plan_dict

        return plan_dict(self)


def visibility_floor(timeout_s: float, window_s: float) -> int:
    """The least visibility timeout (s) for a function of ``timeout_s`` seconds consuming a
    queue with a ``window_s`` second batching window: ``ceil(6 x timeout + window)`` (AWS Lambda
    docs, "Configuring SQS as an event source")."""
    return math.ceil(6 * timeout_s + window_s)


def _lanes_for(reserved: int, lanes: int) -> int:
    return max(1, min(lanes, reserved // 2))


def _worker(plan: TierPlan, name: str, spec: FunctionSpec, reserved: int) -> WorkerPlan:
    total = plan.maximum_concurrency.get(name, reserved)
    count = _lanes_for(total, plan.lanes)
    names = [f"lane-{i}" for i in range(1, count + 1)]
    split = allocate(total, dict.fromkeys(names, 1.0))
    mappings = tuple(LaneMapping(lane, split[lane]) for lane in names)
    visibility = plan.visibility_timeout.get(name, visibility_floor(spec.timeout_s, spec.window_s))
    return WorkerPlan(name, spec, reserved, mappings, visibility,
                      min(spec.timeout_s + LEASE_GRACE_S, SLOT_LEASE_S))


def _worker_budget(plan: TierPlan) -> int:
    if plan.worker_concurrency is not None:
        return plan.worker_concurrency
    left = (plan.db_connection_limit - plan.operator_reserve
            - plan.edge_concurrency * plan.edge_pool_size)
    return max(0, min(plan.burst, left // max(plan.pool_size, 1)))


def _check_types(values: dict[str, Any], cls: type, where: str = "") -> None:
    """Raise PlanError naming every value of ``values`` whose type does not fit the field of
    dataclass ``cls`` it sets (e.g. ``pool_size must be an integer, got 'abc'``)."""
    annotations = {f.name: str(f.type) for f in fields(cls)}
    reasons = [r for k, v in values.items() if k in annotations
               if (r := type_error(f"{where}{k}", v, annotations[k]))]
    if reasons:
        raise PlanError("; ".join(reasons))


def derive(plan: TierPlan) -> TierPlan:
    """``plan`` with :attr:`TierPlan.workers` derived from its knobs. Does not validate.
    Raises PlanError for a ``functions`` override naming an unknown function or field."""
    specs = dict(FUNCTIONS)
    for name, changes in plan.functions.items():
        if name not in specs:
            raise PlanError(f"unknown worker function {name!r}; known: {sorted(specs)}")
        unknown = set(changes) - {f.name for f in fields(FunctionSpec)}
        if unknown:
            raise PlanError(f"unknown field(s) {sorted(unknown)} for {name!r}")
        _check_types(changes, FunctionSpec, where=f"functions[{name!r}].")
        specs[name] = replace(specs[name], **changes)
    for overrides in (plan.reserved_concurrency, plan.maximum_concurrency,
                      plan.visibility_timeout):
        unknown = set(overrides) - set(specs)
        if unknown:
            raise PlanError(f"unknown worker function(s) {sorted(unknown)}; known: {sorted(specs)}")
    split = allocate(_worker_budget(plan), FUNCTION_WEIGHTS, minimum=2 * plan.lanes)
    reserved = {name: plan.reserved_concurrency.get(name, split[name]) for name in specs}
    workers = tuple(_worker(plan, name, spec, reserved[name]) for name, spec in specs.items())
    return replace(plan, workers=workers)


def knob_names() -> list[str]:
    """The knobs a plan override may set (every :class:`TierPlan` field but ``name`` /
    ``workers``), sorted."""
    return sorted({f.name for f in fields(TierPlan)} - {"name", "workers"})


def tier_knobs(name: str, **overrides: Any) -> TierPlan:
    """The underived :class:`TierPlan` of preset ``name`` (or ``"custom"``, which needs
    ``edge_concurrency``, ``burst`` and ``queue_capacity``) with ``overrides`` applied.
    Raises PlanError for an unknown tier or field, a value of the wrong type (``pool_size must
    be an integer, got 'abc'``), or a custom plan missing a field."""
    known = knob_names()
    unknown = set(overrides) - set(known)
    if unknown:
        raise PlanError(f"unknown plan field(s) {sorted(unknown)}; known: {known}")
    if name == CUSTOM:
        base: dict[str, Any] = {}
    elif name in PRESETS:
        base = dict(PRESETS[name])
    else:
        raise PlanError(f"unknown tier {name!r}; known: {[*PRESETS, CUSTOM]}")
    _check_types(overrides, TierPlan)
    if overrides.get("front", FRONTS[0]) not in FRONTS:
        raise PlanError(f"front must be one of {list(FRONTS)}, got {overrides['front']!r}")
    values = {**base, **overrides}
    missing = [k for k in ("edge_concurrency", "burst", "queue_capacity") if k not in values]
    if missing:
        raise PlanError(f"tier {name!r} needs {missing}")
    return TierPlan(name=name, **values)


def build_plan(name: str, **overrides: Any) -> TierPlan:
    """Build and validate the plan of tier ``name`` (``free`` / ``pro`` / ``enterprise`` /
    ``custom``) with any :class:`TierPlan` knob overridden, e.g.
    ``build_plan("pro", max_connections=200)`` or
    ``build_plan("custom", edge_concurrency=20, burst=30, queue_capacity=300)``.

    Raises :class:`PlanError` listing every broken rule (:func:`.rules.validate`)."""
    from chalicelib.core.concurrency.rules import validate

    plan = derive(tier_knobs(name, **overrides))
    violations = validate(plan)
    if violations:
        lines = "; ".join(v.message for v in violations)
        raise PlanError(f"tier plan {name!r} refused: {lines}", tuple(violations))
    return plan
