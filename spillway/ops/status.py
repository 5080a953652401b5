"""What ``spillway status`` and the live dashboard show beyond the raw readings: the status
**sections**. One snapshot shape serves both (``spillway.dashboard.snapshot``): the sampler
reads :data:`SECTIONS` (I/O) beside queues, breaker, slots and ledger, then computes
:data:`DERIVED` (pure, from the snapshot so far, in order). Several requests each: operators
only, never the Lambda's health route.

Plugging a section in is one line: add ``"name": reader`` to :data:`SECTIONS` (a zero-argument
callable returning a JSON-ready dict; an exception becomes ``{"available": false, "reason":
<the error>}``) or ``"name": fn`` to :data:`DERIVED`. A section whose source is not built yet
says so with :func:`unavailable`; no number is made up for it.

Section shapes (seconds, messages, executions):

* ``tier``: ``{"name", "queue_capacity", "edge_concurrency", "burst", "lanes", "source",
  "lift"}`` -- the tier plan (``chalicelib.core.concurrency.plan.PRESETS``) health measures
  queues against; ``source`` says where the name came from (``SPILLWAY_TIER``, or the default
  ``free`` tier); ``lift`` the active time-boxed lift or None (:func:`tier_section`);
* ``lanes``: ``{"tier", "functions": [{"function", "reserved_concurrency", "version", "lanes":
  [{"lane", "state" (healthy | disabled | ejected), "reason", "calls", "errors",
  "ejected_until" (epoch s or None), "maximum_concurrency"}]}]}`` (:func:`lanes_section`:
  the stage's tier plan and each function's shared lane item, ``spillway lanes status``);
* ``alarms``: ``{"source": "cloudwatch" | "local", "alarms": [{"name", "state" (OK | ALARM |
  INSUFFICIENT_DATA | MISSING), "reason", "source"}, ...]}`` (:func:`alarms_section`;
  ``spillway status`` prints each name and state);
* ``concurrency``: ``{"in_use", "peak", "limit", "pools": {pool: {"in_use", "peak", "started",
  "limit"}}}`` summed over the execution-slot meters the snapshot has (the stack that owns
  the edge and workers, or its dashboard read by ``spillway --local status``);
* ``reconcile``: ``{"gap" (int, or None when unknown), "gap_unknown", "hooks": [{"hook",
  "stopped", "finished_at" (epoch s), "gap", "gap_unknown", "parked_until" (epoch s or None),
  "error"}], "parked": [{"hook", "parked_until"}]}`` -- each hook's latest
  reconciler run and the hooks GitHub parked (:func:`reconcile_section`); a parked hook, or one
  whose latest run stopped on an error, makes the gap unknown, never 0;
* ``db_slots``: the shared database slots (:func:`db_slots_section`: ``{"name", "limit",
  "max_limit", "in_use", "waiters", "oldest_lease_s", "holders": [{"holder", "priority",
  "count", "age_s", "expires_in_s", "expired"}]}`` read from the state store, so on the local
  stack and on AWS alike; ``spillway slots status`` shows the same);
* ``health``: ``{"status": healthy|degraded|critical, "reasons": [...], "assessed": [signal,
  ...], "not_assessed": {signal: why}, "queue_capacity"}`` from
  :func:`chalicelib.core.concurrency.health.assess` over the visible depth of each work
  queue (the five of ``WORK_QUEUES``) against the tier's queue capacity, the breaker state and
  the slots when present (the execution slots of ``concurrency``, else the shared database
  slots of ``db_slots``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.core.concurrency.health import HealthInput, assess
from chalicelib.core.concurrency.plan import PRESETS
from chalicelib.ports import WORK_QUEUES
from chalicelib.settings import get_settings
from spillway.ops import breaker

#: Tier assumed when ``SPILLWAY_TIER`` is unset (the smallest preset: the strictest capacity).
DEFAULT_TIER = "free"


def queue_pool():
    """The postgres backend's ``psycopg_pool.ConnectionPool`` on ``QUEUE_DATABASE_URL`` (the
    process's own, from the wiring). Raises :class:`~chalicelib.errors.ConfigError` when no
    URL is set."""
    return wiring.get_queue_pool()


def breaker_status() -> dict | None:
    """Operator view of the database breaker (see :func:`spillway.ops.breaker.status`), or
    None when ``BREAKER_ENABLED`` is off."""
    if not get_settings().breaker_enabled:
        return None
    return breaker.status(wiring.get_state(), wiring.BREAKER_NAME)


def unavailable(reason: str) -> dict[str, Any]:
    """``{"available": False, "reason": reason}``: the snapshot's marker for a section without
    a source (``spillway.dashboard.snapshot`` writes the same for a section never read)."""
    return {"available": False, "reason": reason}


def tier_section(env: Mapping[str, str] | None = None, store: Any = None,
                 clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The ``tier`` section from ``SPILLWAY_TIER`` (a preset name; default :data:`DEFAULT_TIER`)
    and, given the state ``store``, the tier lift in force (``lift``: ``{"to", "from", "until"
    (epoch s), "remaining_s", "by", "reason", "at"}``, None when there is none, or
    ``{"available": false, "reason"}`` when ``tier#lift`` cannot be read). While a lift is
    active ``queue_capacity`` stays the deployed tier's. Raises
    :class:`~chalicelib.errors.ConfigError` for an unknown name."""
    from chalicelib.errors import ConfigError

    env = os.environ if env is None else env
    name = (env.get("SPILLWAY_TIER") or "").strip().lower()
    source = "SPILLWAY_TIER" if name else f"default ({DEFAULT_TIER}; SPILLWAY_TIER unset)"
    name = name or DEFAULT_TIER
    if name not in PRESETS:
        raise ConfigError(f"SPILLWAY_TIER must be one of {sorted(PRESETS)}, got {name!r}")
    section: dict[str, Any] = {"name": name, **PRESETS[name], "source": source}
    if store is not None:
        from spillway.ops.tier import lift_status

        try:
            section["lift"] = lift_status(store, clock())
        except Exception as exc:  # the section still shows the tier
            section["lift"] = unavailable(f"tier#lift unreadable: {type(exc).__name__}: {exc}")
    return section


def concurrency_section(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The ``concurrency`` section from the snapshot's ``slots`` (pure): ``in_use`` (executions
    at the reading), ``peak`` (the sum of each pool's most-at-once during the last step: an
    upper bound of the stack's, since pools peak at different instants), ``limit`` (the sum
    of the pools' limits, None if one has none) and ``pools``. Unavailable, with the reason,
    when the snapshot has no slots: ``spillway --local status`` reads them from the local
    stack's dashboard (``spillway.dashboard.local.publish``)."""
    pools = snapshot.get("slots") or {}
    if not pools:
        problem = {**(snapshot.get("stale") or {}), **(snapshot.get("errors") or {})}.get("slots")
        return unavailable(f"no reading of the stack's execution slots: {problem}" if problem
                           else "execution slots are metered in-process by the stack that runs "
                           "the edge and workers and published by its dashboard; none is "
                           "running here (`spillway --local status` reads a running "
                           "`spillway local`'s)")
    limits = [p["limit"] for p in pools.values() if p.get("limit") is not None]
    return {"in_use": sum(p["in_use"] for p in pools.values()),
            "peak": sum(p.get("peak", p["in_use"]) for p in pools.values()),
            "limit": sum(limits) if len(limits) == len(pools) else None, "pools": dict(pools)}


def health_section(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The ``health`` section (pure): :func:`~chalicelib.core.concurrency.health.assess` over
    what the snapshot holds; every signal it could not read is listed in ``not_assessed``."""
    tier = snapshot.get("tier") or {}
    capacity = tier.get("queue_capacity")
    assessed: list[str] = []
    missing: dict[str, str] = {}
    queues = snapshot.get("queues") or {}
    depths = {q: queues[q]["visible"] for q in WORK_QUEUES if q in queues}
    if not capacity:
        missing["queues"] = "no tier queue capacity: " + str(tier.get("reason", "unknown"))
        depths, capacity = {}, 1
    elif not depths:
        missing["queues"] = snapshot.get("errors", {}).get("queues", "no queue reading")
    else:
        assessed.append("queues")
    state = (snapshot.get("breaker") or {}).get("state")
    if state:
        assessed.append("breaker")
    else:
        missing["breaker"] = snapshot.get("errors", {}).get("breaker", "breaker disabled")
    used = limit = 0
    concurrency = snapshot.get("concurrency") or {}
    db_slots = snapshot.get("db_slots") or {}
    if concurrency.get("limit"):
        used, limit = concurrency["in_use"], concurrency["limit"]
        assessed.append("slots")
    elif db_slots.get("limit"):
        used, limit = db_slots["in_use"], db_slots["limit"]
        assessed.append("slots")
    else:
        missing["slots"] = ("no slot reading (see concurrency and db_slots)"
                            if "reason" in concurrency else "no slot limit known")
    missing["refusals"] = ("how often worker batches were refused a database slot is not "
                           "measured in this view")
    found = assess(HealthInput(used=used, limit=limit, max_limit=limit, queue_depths=depths,
                               queue_capacity=capacity, breaker=state)).to_dict()
    stopped = stopped_functions(snapshot.get("lanes") or {})
    if stopped:
        found["reasons"] += [f"{fn}: every lane disabled ({', '.join(lanes)}): it consumes "
                             f"nothing from its queue; `spillway lanes enable {fn} {lanes[0]} "
                             "--reason ...` serves it again"
                             for fn, lanes in stopped.items()]
        if found["status"] == "healthy":
            found["status"] = "degraded"
    return {**found, "assessed": assessed, "not_assessed": missing,
            "queue_capacity": tier.get("queue_capacity")}


def stopped_functions(lanes_section: Mapping[str, Any]) -> dict[str, list[str]]:
    """Worker function -> its lanes, for each function of a ``lanes`` section whose every lane
    is disabled (no alias of it is polled: the function has stopped)."""
    functions = lanes_section.get("functions")
    if not isinstance(functions, list):
        return {}
    return {fn["function"]: [x["lane"] for x in fn["lanes"]] for fn in functions
            if fn.get("lanes") and all(x.get("state") == "disabled" for x in fn["lanes"])}


def alarms_section(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"source", "alarms": [{"name", "state", "reason", "source"}]}``: each alarm of
    ``infra/template.yaml`` with its state, read from CloudWatch (``DescribeAlarms``) on AWS,
    or evaluated from the collector's ``edge_function_metrics`` rows on a local stack (the
    postgres backend, or ``AWS_ENDPOINT_URL`` pointing at an emulator, which never evaluates
    alarms). Errors raise (the sampler shows the section as unavailable with the error)."""
    import os

    from chalicelib.settings import queue_prefix
    from spillway.ops.alarms import alarm_definitions, alarm_states

    env = os.environ if env is None else env
    local = env.get("SPILLWAY_BACKEND") == "postgres" or bool(env.get("AWS_ENDPOINT_URL"))
    source = "local" if local else "cloudwatch"
    definitions = alarm_definitions(prefix=queue_prefix(env))
    return {"source": source, "alarms": alarm_states(definitions, source=source)}


def lanes_section() -> dict[str, Any]:
    """The ``lanes`` section: every worker function of the stage's tier plan
    (:func:`chalicelib.tier_plan.stage_plan`) with each lane's state from its shared item (one
    state-store read per function). Store errors raise (the sampler marks it unavailable)."""
    from chalicelib.tier_plan import stage_plan
    from spillway.ops import lanes

    plan = stage_plan()
    return {"tier": plan.name, "functions": lanes.status(
        wiring.get_state(), plan, config=get_settings().lane_config)}


def reconcile_section(clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The ``reconcile`` section from the application database's reconcile tables (see the
    module doc). Database errors raise (the sampler marks the section unavailable)."""
    from chalicelib.reconcile.store import ReconcileStore

    store = ReconcileStore(wiring.app_pool())
    parked = store.parked(clock())
    until = {p["hook"]: p["parked_until"] for p in parked}
    hooks = [{**run, "parked_until": until.get(run["hook"]),
              "gap_unknown": bool(run["gap_unknown"] or run["hook"] in until
                                  or run["stopped"] == "error")}
             for run in store.latest_runs()]
    unknown = any(h["gap_unknown"] for h in hooks) or not hooks
    return {"gap": None if unknown else sum(h["gap"] for h in hooks), "gap_unknown": unknown,
            "hooks": hooks, "parked": parked}


def db_slots_section() -> dict[str, Any]:
    """The ``db_slots`` section: the workers' shared database slots from the state store (two
    reads; :func:`spillway.ops.slots.status`), holders trimmed to their ages and expiries.
    ``{"available": false, "reason"}`` when ``SLOTS_ENABLED`` is off. Store errors raise."""
    settings = get_settings()
    if not settings.slots_enabled:
        return unavailable("shared database slots are off (SLOTS_ENABLED)")
    from spillway.ops.slots import status

    pool = status(wiring.get_state(), wiring.BREAKER_NAME, max_limit=settings.slot_max_limit)
    keep = ("holder", "priority", "count", "age_s", "expires_in_s", "expired")
    return {**{k: pool[k] for k in ("name", "limit", "max_limit", "in_use", "waiters",
                                    "oldest_lease_s")},
            "holders": [{k: x[k] for k in keep} for x in pool["holders"]]}


#: I/O sections the sampler reads each step (name -> reader). One line each to plug in.
SECTIONS: dict[str, Callable[[], Mapping[str, Any]]] = {
    "tier": lambda: tier_section(store=wiring.get_state()),
    "lanes": lanes_section,
    "alarms": alarms_section,
    "reconcile": reconcile_section,
    "db_slots": db_slots_section,
}

#: Sections computed from the snapshot, in order (health last: it reads the others).
DERIVED: dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {
    "concurrency": concurrency_section,
    "health": health_section,
}
