"""The capacity prediction as a JSON-ready document and as text (pure), and ``--recommend``'s
search for the smallest tier meeting a target."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chalicelib.core.concurrency.plan import PRESETS, PlanError, TierPlan, build_plan
from spillway.capacity.model import QUEUES, Profile, Result, Service, simulate

SECONDS_PER_MONTH = 30 * 24 * 3600


def plan_summary(plan: TierPlan) -> dict[str, Any]:
    """The plan's figures the model uses: edge, API throttle, slots, budget, per queue mapping."""
    return {
        "tier": plan.name, "edge_concurrency": plan.edge_concurrency,
        "api_rate_limit_per_s": plan.api_rate_limit, "api_burst": plan.burst,
        "slot_max_limit": plan.slot_max_limit, "db_connection_budget": plan.db_connection_budget,
        "queues": {w.spec.queue: {"function": w.name,
                                  "maximum_concurrency": w.maximum_concurrency,
                                  "lanes": len(w.mappings), "batch_size": w.spec.batch_size,
                                  "window_s": w.spec.window_s} for w in plan.workers},
    }


def prediction(result: Result) -> dict[str, Any]:
    """The :class:`Result`'s figures (no series), refusals rounded to whole deliveries; the
    deliveries GitHub records as failed are the edge's refusals (it never retries by itself;
    the reconciler redelivers them)."""
    doc = asdict(result)
    doc.pop("series")
    for key in ("arrivals", "admitted", "refused", "throttled", "edge_busy", "stored",
                "queued_at_end"):
        doc[key] = round(doc[key], 1)
    doc["github_failed"] = math.floor(result.refused + 0.5)
    doc["edge_refusals"] = "some" if doc["github_failed"] else "none"
    doc["db_connections_within_budget"] = result.db_connections_peak <= result.db_connection_budget
    return doc


def profile_summary(profile: Profile) -> dict[str, Any]:
    return {"duration_s": profile.duration_s, "deliveries": round(profile.deliveries, 1),
            "mean_rate_per_s": round(profile.deliveries / profile.duration_s, 3),
            "peak_rate_per_s": max(profile.rates), "bursts": [list(b) for b in profile.bursts],
            "outages": [list(o) for o in profile.outages]}


def monthly_volume(profile: Profile) -> int:
    """Deliveries a month if the profile's mean rate held all month (at least 1)."""
    return max(1, round(profile.deliveries / profile.duration_s * SECONDS_PER_MONTH))


@dataclass(frozen=True)
class Target:
    """What ``--recommend`` must meet: p95 wait per priority (s) and, optionally, no refusal."""

    p95_wait_s: Mapping[str, float]
    no_edge_refusals: bool = False

    def misses(self, result: Result) -> list[str]:
        """Why ``result`` misses the target (empty: it meets it)."""
        out = []
        for priority, limit in self.p95_wait_s.items():
            got = result.wait_p95_s["priority"].get(priority)
            if got is not None and got > limit:
                out.append(f"p95 wait of {priority} {got:g} s > {limit:g} s")
        refused = math.floor(result.refused + 0.5)
        if self.no_edge_refusals and refused:
            out.append(f"{refused} edge refusals (429/503)")
        if result.queued_at_end >= 1:
            out.append(f"{result.queued_at_end:.0f} deliveries still queued at the end")
        return out


#: Custom plans tried past enterprise: enterprise's knobs scaled, the database sized to fit.
CUSTOM_SCALES = (2, 4, 8)


def candidates() -> list[TierPlan]:
    """The presets from smallest, then :data:`CUSTOM_SCALES` custom plans beyond enterprise."""
    plans = [build_plan(name) for name in PRESETS]
    top = PRESETS["enterprise"]
    for k in CUSTOM_SCALES:
        burst = top["burst"] * k
        try:
            plans.append(build_plan(
                "custom", edge_concurrency=top["edge_concurrency"] * k, burst=burst,
                queue_capacity=top["queue_capacity"] * k, lanes=top["lanes"],
                max_connections=burst + 50))
        except PlanError:
            continue
    return plans


def recommend(profile: Profile, mix, service: Service, target: Target, *, seed: int = 0,
              arrivals: str = "poisson") -> tuple[TierPlan | None, Result | None, list[dict[str, Any]]]:
    """The first of :func:`candidates` whose simulation meets ``target``, its result, and one
    ``{"tier", "meets", "why_not"}`` per plan tried (smaller ones first)."""
    tried = []
    for plan in candidates():
        result = simulate(plan, profile, mix, service, seed=seed, arrivals=arrivals)
        misses = target.misses(result)
        name = plan.name if plan.name != "custom" else _custom_name(plan)
        tried.append({"tier": name, "meets": not misses, "why_not": misses})
        if not misses:
            return plan, result, tried
    return None, None, tried


def same_miss_note(tried: list[dict[str, Any]]) -> str | None:
    """A note when every plan tried misses the target by the same figures: then no tier
    changes it (an outage and the breaker's open period, or a batching window, set it)."""
    if len(tried) > 1 and not any(t["meets"] for t in tried) and all(
            t["why_not"] == tried[0]["why_not"] for t in tried):
        return ("every plan misses it identically: capacity does not set this figure; an "
                "outage with the breaker's open period, or a batching window, does")
    return None


def _custom_name(plan: TierPlan) -> str:
    return (f"custom(edge_concurrency={plan.edge_concurrency}, burst={plan.burst}, "
            f"max_connections={plan.max_connections})")


def render(doc: Mapping[str, Any]) -> str:
    """The human text of a capacity document (see ``spillway capacity --json``)."""
    p, prof = doc["prediction"], doc["profile"]
    plan = doc["plan"]
    lines = [f"capacity of tier {plan['tier']}: {prof['deliveries']:.0f} deliveries over "
             f"{prof['duration_s']} s (peak {prof['peak_rate_per_s']:g}/s), "
             f"service times: {doc['service']['source']}"]
    lines.append(f"  edge refusals  {p['github_failed']} (GitHub records them as failed; "
                 f"`spillway reconcile` redelivers) - throttled {p['throttled']:g}, "
                 f"edge busy {p['edge_busy']:g}")
    lines.append("  wait (enqueue -> stored), p95 / max seconds:")
    for group in ("priority", "class"):
        for key, v in p["wait_p95_s"][group].items():
            lines.append(f"    {key:<14}{_s(v):>8} / {_s(p['wait_max_s'][group][key])}")
    depth = ", ".join(f"{q} {p['peak_depth'][q]:g}" for q in QUEUES)
    lines.append(f"  peak depth     {depth}")
    drained = "not within the run" if p["drained_s"] is None else f"{p['drained_s']:g} s"
    lines.append(f"  drained        {drained} after the last burst")
    lines.append(f"  db connections peak {p['db_connections_peak']:g} of budget "
                 f"{p['db_connection_budget']} (slots {p['slot_max_limit']})")
    cost = doc.get("cost")
    if cost:
        lines.append(f"  cost           ${cost['usd_per_month']:,.2f} a month at "
                     f"{cost['deliveries_per_month']:,} deliveries (the profile's mean rate)")
    rec = doc.get("recommend")
    if rec:
        lines.append(f"  recommend      {rec['tier'] or 'no plan tried meets the target'}")
        if rec.get("note"):
            lines.append(f"    ({rec['note']})")
        for t in rec["tried"]:
            why = "meets it" if t["meets"] else "; ".join(t["why_not"])
            lines.append(f"    {t['tier']}: {why}")
    measured = doc.get("measured")
    if measured:
        lines.append("  predicted vs measured:")
        for row in doc.get("comparison", []):
            lines.append(f"    {row['figure']:<28}{_s(row['predicted']):>10}{_s(row['measured']):>10}"
                         f"  {row['verdict']}")
    return "\n".join(lines)


def _s(v) -> str:
    return "-" if v is None else f"{v:g}" if isinstance(v, (int, float)) else str(v)
