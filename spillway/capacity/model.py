"""The capacity model: a seeded fixed-step fluid simulation of a tier plan under an arrival profile.

Pure: no I/O, no clock; randomness comes from ``seed`` (a :class:`numpy.random.Generator`). It
lives under ``spillway`` because only the operator's command line runs it (never a Lambda).

What is simulated, each step of ``dt_s`` seconds (fluid: deliveries are amounts, not objects, so a
profile of 5,000 deliveries/s for an hour costs the same as 2/s -- a per-delivery simulation
would not scale, and at these volumes the fluid limit is what a per-delivery one converges to):

1. **Edge**: arrivals (the profile's rate x ``dt_s``) meet the API Gateway throttle (a token
   bucket: steady :attr:`TierPlan.api_rate_limit`, bucket :attr:`TierPlan.burst`) and the edge's
   reserved concurrency. The latter is a loss system (a request finding every instance busy is
   refused, GitHub never retries it), so the refused share is Erlang's B formula for
   ``edge_concurrency`` servers offered ``rate x edge_s`` erlangs -- exact for any service time
   distribution (M/G/c/c). Refused deliveries are what GitHub records as failed.
2. **Queues**: admitted deliveries split by the event mix (priority x target) into the five work
   queues (light -> its priority's queue; heavy / batch -> theirs), FIFO.
3. **Event source mappings**: each queue's worker takes batches of up to ``batch_size`` with at
   most MaximumConcurrency invocations at once; with a batching window, a batch smaller than
   ``batch_size`` is not taken until its oldest record has waited ``window_s`` (as Lambda and
   :mod:`spillway.local.event_source` do). An invocation of ``n`` records takes
   ``overhead_s + n x store_s`` x a lognormal draw (coefficient of variation ``service_cv``).
4. **Database slots**: each invocation holds ``pool_size`` of the shared slots, whose limit
   adapts (AIMD: x0.9 per second while calls fail, +1 per healthy call when in use) between
   :attr:`TierPlan.slot_min_limit` and :attr:`TierPlan.slot_max_limit`; each priority is
   guaranteed its share (``priority_shares``) and idle slots are lent to the others, high first.
5. **Outages**: during a database outage window the breaker opens and the workers hold back
   (receive nothing); it probes every ``breaker_open_s``, so work resumes at the first probe
   after the outage's end: on average ``breaker_open_s / 2`` after it (:func:`_resume_at`).

Waits (enqueue -> stored) follow from FIFO: the cohort admitted in step ``i`` is stored when the
queue's cumulative stored amount reaches its cumulative admitted amount, plus its batch's service
time. Units: seconds and deliveries (fractional amounts) unless named otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from chalicelib.core.concurrency.plan import TierPlan

PRIORITIES = ("high", "medium", "low")
TARGETS = ("light", "heavy", "batch")
QUEUES = ("high", "medium", "low", "heavy", "batch")
#: Arrival processes of :func:`simulate`.
POISSON, EVEN = "poisson", "even"
#: Seconds before the first burst over which the steady backlog is read (:func:`baseline_depth`).
BASELINE_S = 15.0
#: A backlog of at most this many deliveries counts as drained when there is no steady level
#: (half a delivery: the fluid amount that rounds to none).
DRAINED_DEPTH = 0.5


def queue_of(priority: str, target: str) -> str:
    """The work queue of a (priority, target) class: the priority's queue for light."""
    return priority if target == "light" else target


@dataclass(frozen=True)
class Service:
    """Measured (or default) service times, seconds. ``store_s``: one delivery's store on one
    database connection (the worker's per-delivery wall time); ``overhead_s``: per invocation
    (receive, delete, slot lease); ``edge_s``: the edge's time per request; ``service_cv``:
    coefficient of variation of an invocation's time; ``breaker_open_s``: the breaker's open
    period; ``host_rate``: a cap on all workers' deliveries/s together (one host's CPU);
    ``source``: where the figures come from."""

    store_s: float = 0.015
    overhead_s: float = 0.02
    edge_s: float = 0.03
    service_cv: float = 0.3
    breaker_open_s: float = 60.0
    #: Most deliveries/s all workers together store (None: no such cap). The local stack runs
    #: every worker instance in one process, whose CPU bounds it; on AWS each has its own.
    host_rate: float | None = None
    source: str = "documented defaults (no benchmark results)"


@dataclass(frozen=True)
class Profile:
    """Arrivals: ``rates`` deliveries/s, one per second of the profile; ``outages`` database
    outage windows ``(start_s, end_s)``; ``bursts`` ``(start_s, end_s)`` of the bursts, used to
    say when the backlog drains after the last one. Raises ValueError for a negative rate or an
    empty profile."""

    rates: tuple[float, ...]
    outages: tuple[tuple[float, float], ...] = ()
    bursts: tuple[tuple[float, float], ...] = ()

    def __post_init__(self):
        if not self.rates:
            raise ValueError("the profile is empty")
        if any(not (r >= 0) or math.isinf(r) for r in self.rates):
            raise ValueError("rates must be finite and >= 0 deliveries/s")

    @property
    def duration_s(self) -> int:
        return len(self.rates)

    @property
    def deliveries(self) -> float:
        return float(sum(self.rates))


@dataclass
class Result:
    """What :func:`simulate` predicts. Per queue (``QUEUES``): ``peak_depth`` (deliveries queued
    or in flight) and ``peak_depth_total`` (all queues at once); ``wait_p95_s`` / ``wait_max_s`` (enqueue -> stored) as ``{"queue": {...},
    "priority": {...}, "class": {"high/light": ...}}``, a delivery not stored by the end of the
    run counting the time it waited so far; ``refused`` (edge 429/503,
    what GitHub records as failed and the reconciler recovers) split into ``throttled`` (API
    Gateway) and ``edge_busy`` (reserved concurrency); ``stored``, ``queued_at_end``;
    ``drained_s`` (seconds after :func:`drain_from` at which the backlog is back to
    :func:`baseline_depth`; None: not within the simulated tail); ``db_connections_peak``
    beside ``db_connection_budget``; ``series`` (time series, one value per ``series_dt_s``)."""

    arrivals: float
    admitted: float
    refused: float
    throttled: float
    edge_busy: float
    stored: float
    queued_at_end: float
    peak_depth: dict[str, float]
    peak_depth_total: float
    wait_p95_s: dict[str, dict[str, float | None]]
    wait_max_s: dict[str, dict[str, float | None]]
    drained_s: float | None
    db_connections_peak: float
    db_connection_budget: int
    slot_max_limit: int
    simulated_s: float
    series: dict[str, list] = field(default_factory=dict)


def erlang_b(servers: int, erlangs: float) -> float:
    """Erlang's B: the share of requests refused by ``servers`` concurrent slots offered
    ``erlangs`` (rate x service time) of Poisson traffic. 1.0 with no server."""
    if servers <= 0:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = erlangs * b / (k + erlangs * b)
    return b


def _resume_at(outages: Sequence[tuple[float, float]], open_s: float) -> list[tuple[float, float]]:
    """Hold-back windows: from each outage's start until the breaker's first probe after its
    end. The breaker opens when failures reach its threshold, at no fixed phase to the outage's
    end, so the wait for that probe is uniform over ``[0, open_s)``: its mean, ``open_s / 2``,
    is the point prediction (the drain can come up to ``open_s / 2`` sooner or later)."""
    return [(start, end + open_s / 2) for start, end in outages]


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float | None:
    keep = weights > 1e-9
    if not keep.any():
        return None
    v, w = values[keep], weights[keep]
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(v[order][min(i, len(v) - 1)])


def simulate(plan: TierPlan, profile: Profile, mix: Mapping[tuple[str, str], float],
             service: Service = Service(), *, seed: int = 0, dt_s: float = 0.1,
             tail_s: float | None = None, series_dt_s: float = 1.0,
             arrivals: str = POISSON) -> Result:
    """Simulate ``plan`` under ``profile`` with event ``mix`` ((priority, target) -> share, any
    positive total) and ``service`` times. The run lasts the profile plus ``tail_s`` seconds of no
    arrivals (default: enough to drain, at most 10 minutes) in steps of ``dt_s``; ``seed`` makes
    it reproducible. ``arrivals``: :data:`POISSON` (independent deliveries, as many senders
    make) or :data:`EVEN` (evenly spaced, as ``capacity check``'s sender); either way each
    delivery's class is drawn from the mix, so small rates see the clumps real traffic has.
    Raises ValueError for an empty or negative mix, a non-positive step or an unknown arrival
    process."""
    if arrivals not in (POISSON, EVEN):
        raise ValueError(f"arrivals must be {POISSON!r} or {EVEN!r}, got {arrivals!r}")
    if dt_s <= 0 or series_dt_s < dt_s:
        raise ValueError("dt_s must be > 0 and series_dt_s >= dt_s")
    total = sum(mix.values())
    if not total > 0 or any(v < 0 for v in mix.values()):
        raise ValueError("the event mix needs non-negative shares with a positive total")
    for priority, target in mix:
        if priority not in PRIORITIES or target not in TARGETS:
            raise ValueError(f"unknown class {priority}/{target} in the event mix")
    rng = np.random.default_rng(seed)
    shares = {k: v / total for k, v in mix.items() if v > 0}
    queue_share = {q: 0.0 for q in QUEUES}
    prio_of_queue = {q: dict.fromkeys(PRIORITIES, 0.0) for q in QUEUES}
    for (p, t), s in shares.items():
        queue_share[queue_of(p, t)] += s
        prio_of_queue[queue_of(p, t)][p] += s
    for q in QUEUES:
        qs = queue_share[q]
        prio_of_queue[q] = {p: (v / qs if qs else 0.0) for p, v in prio_of_queue[q].items()}

    workers = {w.spec.queue: w for w in plan.workers}
    tail = tail_s if tail_s is not None else 600.0
    steps = int(math.ceil((profile.duration_s + tail) / dt_s))
    per_series = max(1, int(round(series_dt_s / dt_s)))
    rates = np.asarray(profile.rates, dtype=float)
    step_rate = rates[np.minimum((np.arange(steps) * dt_s).astype(int), len(rates) - 1)]
    step_rate[np.arange(steps) * dt_s >= profile.duration_s] = 0.0
    hold = _resume_at(profile.outages, service.breaker_open_s)
    down = np.zeros(steps, dtype=bool)
    failing = np.zeros(steps, dtype=bool)
    t_axis = np.arange(steps) * dt_s
    for (start, end), (_, resume) in zip(profile.outages, hold, strict=True):
        down |= (t_axis >= start) & (t_axis < resume)
        failing |= (t_axis >= start) & (t_axis < end)
    # Service-time draws, one per queue and step (lognormal with mean 1 and the given cv).
    sigma = math.sqrt(math.log(1 + service.service_cv ** 2))
    draws = rng.lognormal(-sigma * sigma / 2, sigma, size=(len(QUEUES), steps))

    # Edge: Erlang B on the offered load, then the API throttle's token bucket.
    edge_erl = step_rate * service.edge_s
    busy_share = np.array([erlang_b(plan.edge_concurrency, e) if e > 0 else 0.0
                           for e in edge_erl]) if steps < 200_000 else None
    if busy_share is None:  # long profiles: compute per distinct rate only
        uniq, inv = np.unique(edge_erl, return_inverse=True)
        busy_share = np.array([erlang_b(plan.edge_concurrency, e) for e in uniq])[inv]
    if arrivals == POISSON:
        counts = rng.poisson(step_rate * dt_s).astype(float)
    else:  # evenly spaced: whole deliveries as the running total passes each integer
        counts = np.diff(np.floor(np.cumsum(step_rate * dt_s) + 1e-9), prepend=0.0)
    arrivals = counts
    edge_busy = arrivals * busy_share
    bucket = float(plan.burst)
    throttled = np.zeros(steps)
    admitted = np.zeros(steps)
    refill = plan.api_rate_limit * dt_s
    for i in range(steps):
        bucket = min(float(plan.burst), bucket + refill)
        want = arrivals[i] - edge_busy[i]
        take = min(want, bucket)
        bucket -= take
        admitted[i] = take
        throttled[i] = want - take

    nq = len(QUEUES)
    # each delivery's queue drawn from the mix; the edge admits the same share of each
    split = rng.multinomial(counts.astype(np.int64), [queue_share[q] for q in QUEUES]).T
    admit_share = np.divide(admitted, counts, out=np.zeros(steps), where=counts > 0)
    into = split * admit_share  # (queue, step)
    cum_in = np.cumsum(into, axis=1)
    served = np.zeros((nq, steps))
    batch_time = np.zeros((nq, steps))
    conns = np.zeros(steps)
    limit_series = np.zeros(steps)
    limit = float(plan.slot_max_limit)
    lo, hi = float(plan.slot_min_limit), float(plan.slot_max_limit)
    waiting = np.zeros(nq)
    served_cum = np.zeros(nq)
    oldest_idx = np.zeros(nq, dtype=int)
    pshare = plan.priority_shares
    pool = max(1, plan.pool_size) if plan.slots_enabled else 0
    spec = [workers.get(q) for q in QUEUES]
    for i in range(steps):
        waiting += into[:, i]
        demand = np.zeros(nq)
        cap_inv = np.zeros(nq)
        btime = np.zeros(nq)
        for k, w in enumerate(spec):
            if w is None or down[i] or waiting[k] <= 1e-9:
                continue
            b = w.spec.batch_size
            # age of the oldest waiting record: the step whose cumulative arrival passes served
            while oldest_idx[k] < i and cum_in[k, oldest_idx[k]] <= served_cum[k] + 1e-9:
                oldest_idx[k] += 1
            age = (i - oldest_idx[k]) * dt_s
            if waiting[k] < b and age < w.spec.window_s:
                continue
            n = min(float(b), max(waiting[k], 1.0))
            btime[k] = (service.overhead_s + n * service.store_s) * draws[k, i]
            cap_inv[k] = n * dt_s / btime[k]
            demand[k] = min(float(w.maximum_concurrency), math.ceil(waiting[k] / cap_inv[k]))
        grant = demand.copy()
        if pool and demand.any():
            slots = math.floor(limit) / pool
            by_prio = {p: sum(demand[k] * prio_of_queue[q][p] for k, q in enumerate(QUEUES))
                       for p in PRIORITIES}
            given = {p: min(by_prio[p], pshare.get(p, 0.0) * slots) for p in PRIORITIES}
            spare = slots - sum(given.values())
            for p in PRIORITIES:  # idle slots are lent, high first
                extra = min(spare, by_prio[p] - given[p])
                given[p] += max(0.0, extra)
                spare -= max(0.0, extra)
            ratio = {p: (given[p] / by_prio[p] if by_prio[p] > 0 else 1.0) for p in PRIORITIES}
            for k, q in enumerate(QUEUES):
                grant[k] = demand[k] * sum(ratio[p] * prio_of_queue[q][p] for p in PRIORITIES)
        take = np.minimum(waiting, grant * cap_inv)
        if service.host_rate and take.sum() > service.host_rate * dt_s:  # one host's CPU
            take *= service.host_rate * dt_s / take.sum()
        used = np.divide(take, cap_inv, out=np.zeros(nq), where=cap_inv > 0)
        waiting -= take
        served_cum += take
        served[:, i] = take
        batch_time[:, i] = btime
        conns[i] = used.sum() * max(pool, 1)
        if failing[i]:
            limit = max(lo, limit * 0.9 ** dt_s)
        elif conns[i] * 2 >= limit:
            limit = min(hi, limit + used.sum() * dt_s / max(btime.max(), 1e-3))
        limit_series[i] = limit

    # In flight: what was taken but whose batch has not finished (taken within its batch time).
    cum_served = np.cumsum(served, axis=1)
    stored_cum = np.zeros_like(cum_served)
    for k in range(nq):
        done_t = t_axis + batch_time[k]
        order = np.argsort(done_t, kind="stable")
        fin = np.cumsum(served[k][order])
        idx = np.searchsorted(done_t[order], t_axis + dt_s, side="right") - 1
        stored_cum[k] = np.where(idx >= 0, fin[np.maximum(idx, 0)], 0.0)
    depth = cum_in - stored_cum
    depth[depth < 1e-9] = 0.0

    # Waits per queue: cohort i (mass into[k, i]) is stored when stored_cum reaches cum_in[k, i].
    wait_values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, q in enumerate(QUEUES):
        mass = into[k]
        target_level = cum_in[k] - mass / 2
        j = np.searchsorted(stored_cum[k], target_level - 1e-9, side="left")
        # never stored within the run: count the time waited so far (a lower bound)
        waits = (np.minimum(j, steps) - np.arange(steps) + 1) * dt_s
        wait_values[q] = (waits, mass)
    groups: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {
        "queue": dict(wait_values), "priority": {}, "class": {}}
    for p in PRIORITIES:
        vals, ws = [], []
        for (pp, t), s in shares.items():
            if pp != p:
                continue
            q = queue_of(p, t)
            v, m = wait_values[q]
            weight = m * (s / queue_share[q])
            groups["class"][f"{p}/{t}"] = (v, weight)
            vals.append(v)
            ws.append(weight)
        if vals:
            groups["priority"][p] = (np.concatenate(vals), np.concatenate(ws))
    p95 = {g: {k: _round(_weighted_quantile(v, m, 0.95)) for k, (v, m) in d.items()}
           for g, d in groups.items()}
    wmax = {g: {k: _round(float(v[m > 1e-9].max()) if (m > 1e-9).any() else None)
                for k, (v, m) in d.items()} for g, d in groups.items()}

    total_depth = depth.sum(axis=0)
    end_of_burst = drain_from(profile)
    threshold = baseline_depth(t_axis, total_depth, profile)
    after = np.nonzero((t_axis >= end_of_burst) & (total_depth <= threshold))[0]
    drained = _round(max(0.0, after[0] * dt_s - end_of_burst)) if len(after) else None

    busy = np.nonzero(total_depth > 1e-6)[0]
    last = max(profile.duration_s, (busy[-1] * dt_s if len(busy) else 0.0)) + 10.0
    keep = slice(0, min(steps, int(last / dt_s) + 1), per_series)
    series = {"t_s": [round(float(t), 3) for t in t_axis[keep]]}
    for k, q in enumerate(QUEUES):
        series[f"depth_{q}"] = [round(float(x), 2) for x in depth[k, keep]]
    for p in PRIORITIES:  # wait of the cohort admitted at each time, light queue of p
        v_all = _cohort_waits(into[QUEUES.index(p)], cum_in[QUEUES.index(p)],
                              stored_cum[QUEUES.index(p)], dt_s)
        series[f"wait_{p}"] = [None if not math.isfinite(x) else round(float(x), 2)
                               for x in v_all[keep]]
    series["slot_limit"] = [round(float(x), 2) for x in limit_series[keep]]

    return Result(
        arrivals=float(arrivals.sum()), admitted=float(admitted.sum()),
        refused=float(edge_busy.sum() + throttled.sum()), throttled=float(throttled.sum()),
        edge_busy=float(edge_busy.sum()), stored=float(stored_cum[:, -1].sum()),
        queued_at_end=float(depth[:, -1].sum()),
        peak_depth={q: round(float(depth[k].max()), 1) for k, q in enumerate(QUEUES)},
        peak_depth_total=round(float(total_depth.max()), 1),
        wait_p95_s=p95, wait_max_s=wmax, drained_s=drained,
        db_connections_peak=round(float(conns.max()), 1),
        db_connection_budget=plan.db_connection_budget, slot_max_limit=plan.slot_max_limit,
        simulated_s=steps * dt_s, series=series)


def drain_from(profile: Profile) -> float:
    """The instant (s) from which the drain is timed: the end of the last burst or outage, or
    with neither, the end of the profile."""
    ends = [e for _, e in profile.bursts] + [e for _, e in profile.outages]
    return max(ends) if ends else float(profile.duration_s)


def baseline_depth(t_s: np.ndarray, depth: np.ndarray, profile: Profile) -> float:
    """The backlog the steady traffic keeps (deliveries): the most queued over the
    :data:`BASELINE_S` seconds before the first burst (batching windows make it a sawtooth),
    at least :data:`DRAINED_DEPTH`. "Drained" means back at or below it."""
    first = min((s for s, _ in profile.bursts), default=None)
    if first is None:
        return DRAINED_DEPTH
    window = (t_s >= first - BASELINE_S) & (t_s < first)
    return max(DRAINED_DEPTH, float(depth[window].max()) if window.any() else 0.0)


def _cohort_waits(mass: np.ndarray, cum_in: np.ndarray, stored: np.ndarray,
                  dt_s: float) -> np.ndarray:
    j = np.searchsorted(stored, cum_in - mass / 2 - 1e-9, side="left")
    waits = np.where(j < len(stored), (j - np.arange(len(mass)) + 1) * dt_s, np.inf)
    return np.where(mass > 1e-9, waits, np.nan)


def _round(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 2)
