"""Tier changes as operator actions (never shipped to Lambda).

:func:`plan_for` builds a validated plan from a tier name and ``--set KEY=VALUE`` / JSON-file
overrides; :func:`write_stage` writes it where Chalice and ``infra/`` read it: the stage's
``lambda_functions`` numbers in ``.chalice/config.json`` and the whole plan in
``.chalice/tier-<stage>.json``, audited. :func:`prepare_lift` + :func:`start_lift` / :func:`end_lift` start and end a
time-boxed lift of the run-time limits (``tier#lift``, :mod:`chalicelib.tier_lift`), each
audited; the collector reverts an expired one by itself. Errors are :class:`~chalicelib.core.concurrency.plan.PlanError`
(a :class:`~chalicelib.errors.ConfigError`: the CLI exits 2 with the message).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.breaker_item import cas_update
from chalicelib.core.concurrency.lift import MAX_LIFT_S, Lift, LiftState, end, start
from chalicelib.core.concurrency.plan import PRESETS, PlanError, TierPlan, build_plan
from chalicelib.core.concurrency.render import chalice_stage_config, template_parameters
from chalicelib.errors import ConfigError
from chalicelib.ports import StatePort
from chalicelib.tier_lift import LIFT_KEY, read_lift
from spillway.ops import audit


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["edge_concurrency=20", "functions={...}"]`` -> ``{"edge_concurrency": 20, ...}``.
    Values are read as JSON (numbers, objects), else kept as strings. Raises PlanError for an
    item without ``=``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PlanError(f"--set {pair!r}: expected KEY=VALUE, e.g. edge_concurrency=20")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def read_overrides(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (plan knob -> value). Raises PlanError if it is unreadable
    or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"plan file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise PlanError(f"plan file {path}: expected a JSON object of plan knobs")
    return data


def knobs_for(name: str, *, sets: list[str] = (), file: Path | None = None) -> dict[str, Any]:
    """``{"name": name, **overrides}``: the file's overrides, then ``sets``."""
    overrides = read_overrides(file) if file else {}
    overrides.update(parse_sets(list(sets)))
    return {"name": name, **overrides}


def plan_for(name: str, *, sets: list[str] = (), file: Path | None = None) -> TierPlan:
    """The validated plan of tier ``name`` with the file's overrides, then ``sets``, applied."""
    knobs = knobs_for(name, sets=sets, file=file)
    return build_plan(knobs.pop("name"), **knobs)


def tier_file(chalice_dir: Path, stage: str) -> Path:
    """Where the stage's plan is kept: ``<chalice_dir>/tier-<stage>.json``."""
    return Path(chalice_dir) / f"tier-{stage}.json"


def write_stage(knobs: dict[str, Any], *, stage: str, chalice_dir: Path,
                audit_to: StatePort | None = None, by: str = "", reason: str = ""
                ) -> dict[str, Any]:
    """Write ``plan`` for ``stage``: merge its ``lambda_functions`` numbers into
    ``<chalice_dir>/config.json`` (other keys of each function, e.g. environment variables,
    kept) and the plan plus template parameters into :func:`tier_file`. Returns
    ``{"config": path, "tier_file": path}``. ``knobs`` as :func:`knobs_for` returns them (kept
    in the tier file, so ``chalicelib.tier_plan`` rebuilds the same plan when Chalice packages
    ``app.py``). With ``audit_to`` (a state store) an audit record ``tier set`` (``by``,
    ``reason``; details ``stage``, ``from`` / ``to`` tier, ``knobs``) is written first, after
    every check: a change that cannot be recorded is not made. Returns also ``from`` (the tier
    the stage had, None if none) and ``to``. Raises PlanError for an unknown stage or a plan
    that breaks a rule, and the audit's errors."""
    rest = dict(knobs)
    plan = build_plan(rest.pop("name"), **rest)
    config_path = Path(chalice_dir) / "config.json"
    config = json.loads(config_path.read_text())
    stages = config.get("stages", {})
    if stage not in stages:
        raise PlanError(f"unknown stage {stage!r} in {config_path}; known: {sorted(stages)}")
    functions = stages[stage].setdefault("lambda_functions", {})
    for fn, numbers in chalice_stage_config(plan)["lambda_functions"].items():
        numbers = dict(numbers)
        env = numbers.pop("environment_variables", None)
        target = functions.setdefault(fn, {})
        target.update(numbers)
        if env is not None:
            target.setdefault("environment_variables", {}).update(env)
    path = tier_file(chalice_dir, stage)
    old = _recorded_tier(path)
    if audit_to is not None:
        audit.record(audit_to, verb="tier set", by=by, reason=reason,
                     details={"stage": stage, "from": old, "to": plan.name,
                              "knobs": {k: v for k, v in knobs.items() if k != "name"},
                              "config": str(config_path)})
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    doc = {"knobs": knobs, **plan.to_dict(), "template_parameters": template_parameters(plan)}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return {"config": str(config_path), "tier_file": str(path), "from": old, "to": plan.name}


def _recorded_tier(path: Path) -> str | None:
    """The tier a stage's tier file names (None: no readable file yet)."""
    try:
        return json.loads(path.read_text()).get("tier")
    except (OSError, ValueError, AttributeError):
        return None


# --- the time-boxed lift ----------------------------------------------------------------------
def current_tier(environ: Mapping[str, str] | None = None) -> str:
    """The tier a lift starts from: ``SPILLWAY_TIER`` (the stack's / stage's, as ``spillway
    status`` shows it), else ``free``."""
    environ = os.environ if environ is None else environ
    return (environ.get("SPILLWAY_TIER") or "free").strip().lower()


def prepare_lift(*, to: str, duration_s: float, by: str, reason: str, sets: list[str] = (),
                 file: Path | None = None, from_tier: str | None = None,
                 now: float) -> Lift:
    """The :class:`~chalicelib.core.concurrency.lift.Lift` to tier ``to`` (its validated plan,
    with ``sets`` / ``file`` overrides, e.g. the database's ``max_connections``) for
    ``duration_s`` seconds from ``now`` (epoch s), checked without any I/O. Raises PlanError (a
    ConfigError) for an unknown tier or a plan that breaks a rule, ConfigError for a blank
    ``by`` / ``reason``, a duration outside ``(0, MAX_LIFT_S]``, or a tier whose slot limit is
    not above ``from_tier``'s (default :func:`current_tier`)."""
    if not str(reason or "").strip() or not str(by or "").strip():
        raise ConfigError("a lift needs --reason and --by (kept in the audit record)")
    if not 0 < duration_s <= MAX_LIFT_S:
        raise ConfigError(f"--for must be more than 0 and at most {MAX_LIFT_S // 3600} h "
                          f"({MAX_LIFT_S} s), got {duration_s:g} s; longer is a tier change "
                          "(`spillway tier set`)")
    plan = plan_for(to, sets=sets, file=file)
    origin = from_tier or current_tier()
    base = build_plan(origin) if origin in PRESETS else None
    if base is not None and plan.slot_max_limit <= base.slot_max_limit:
        raise ConfigError(f"tier {to!r} does not lift the limits of {origin!r}: slot limit "
                          f"{plan.slot_max_limit} <= {base.slot_max_limit}")
    return Lift(to=plan.name, until=now + duration_s, by=by, reason=reason, from_tier=origin,
                at=now, slot_min_limit=plan.slot_min_limit, slot_max_limit=plan.slot_max_limit)


def start_lift(store: StatePort, new: Lift) -> dict[str, Any]:
    """Write lift ``new`` (:func:`prepare_lift`) into ``tier#lift`` by compare-and-set,
    replacing an active one, and an audit record ``tier lift`` (details ``to``, ``from``,
    ``until``, the lifted slot bounds, and ``replaced``: the active lift it replaced or
    None). Returns the lift's dict. Store errors propagate."""

    def fn(state: LiftState):
        changed, replaced = start(state, new)
        return changed, [], replaced

    _, replaced = cas_update(store, LIFT_KEY, fn, decode=LiftState.from_dict)
    details = {k: v for k, v in new.to_dict().items() if k not in ("by", "reason", "at")}
    details["replaced"] = replaced.to_dict() if replaced else None
    audit.record(store, verb="tier lift", by=new.by, reason=new.reason, details=details,
                 clock=lambda: new.at)
    return new.to_dict()


def end_lift(store: StatePort, *, by: str, reason: str,
             clock: Callable[[], float] = time.time) -> dict[str, Any] | None:
    """End the active lift now (compare-and-set) and write an audit record ``tier lift end``.
    Returns the ended lift's dict, or None when no lift was active (nothing written)."""
    now = clock()
    if not str(reason or "").strip() or not str(by or "").strip():
        raise ConfigError("ending a lift needs --reason and --by (kept in the audit record)")

    def fn(state: LiftState):
        changed, ended = end(state, now, by)
        return changed, [], ended

    _, ended = cas_update(store, LIFT_KEY, fn, decode=LiftState.from_dict)
    if ended is None:
        return None
    audit.record(store, verb="tier lift end", by=by, reason=reason,
                 details={"to": ended.to, "from": ended.from_tier, "until": ended.until,
                          "remaining_s": round(ended.remaining_s(now), 1)},
                 clock=lambda: now)
    return ended.to_dict()


def lift_status(store: StatePort, now: float) -> dict[str, Any] | None:
    """The active lift as ``spillway status`` shows it: ``{"to", "from", "until" (epoch s),
    "remaining_s", "by", "reason", "at"}``, or None (none, or expired and not yet reverted)."""
    active = read_lift(store).active(now)
    if active is None:
        return None
    return {**active.to_dict(), "remaining_s": round(active.remaining_s(now), 1)}
