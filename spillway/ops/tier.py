"""Tier changes as operator actions (never shipped to Lambda).

:func:`plan_for` builds a validated plan from a tier name and ``--set KEY=VALUE`` / JSON-file
overrides; :func:`write_stage` writes it where Chalice and ``infra/`` read it: the stage's
``lambda_functions`` numbers in ``.chalice/config.json`` and the whole plan in
``.chalice/tier-<stage>.json``. Errors are :class:`~chalicelib.core.concurrency.plan.PlanError`
(a :class:`~chalicelib.errors.ConfigError`: the CLI exits 2 with the message).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib.core.concurrency.plan import PlanError, TierPlan, build_plan
from chalicelib.core.concurrency.render import chalice_stage_config, template_parameters


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


def write_stage(knobs: dict[str, Any], *, stage: str, chalice_dir: Path) -> dict[str, Any]:
    """Write ``plan`` for ``stage``: merge its ``lambda_functions`` numbers into
    ``<chalice_dir>/config.json`` (other keys of each function, e.g. environment variables,
    kept) and the plan plus template parameters into :func:`tier_file`. Returns
    ``{"config": path, "tier_file": path}``. ``knobs`` as :func:`knobs_for` returns them (kept
    in the tier file, so ``chalicelib.tier_plan`` rebuilds the same plan when Chalice packages
    ``app.py``). Raises PlanError for an unknown stage or a plan that breaks a rule."""
    rest = dict(knobs)
    plan = build_plan(rest.pop("name"), **rest)
    config_path = Path(chalice_dir) / "config.json"
    config = json.loads(config_path.read_text())
    stages = config.get("stages", {})
    if stage not in stages:
        raise PlanError(f"unknown stage {stage!r} in {config_path}; known: {sorted(stages)}")
    functions = stages[stage].setdefault("lambda_functions", {})
    for fn, numbers in chalice_stage_config(plan)["lambda_functions"].items():
        functions.setdefault(fn, {}).update(numbers)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    doc = {"knobs": knobs, **plan.to_dict(), "template_parameters": template_parameters(plan)}
    path = tier_file(chalice_dir, stage)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return {"config": str(config_path), "tier_file": str(path)}
