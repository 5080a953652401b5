"""Which tier plan this package was built for (read when ``app.py`` is imported).

``chalice package`` / ``chalice deploy`` import ``app.py`` without the stage's Lambda
environment, so the plan is found from the packaging process's environment, in this order:

1. ``SPILLWAY_TIER_FILE`` -- a tier file written by ``spillway tier set`` (``{"knobs": {"name":
   tier, ...overrides}}``);
2. ``SPILLWAY_STAGE`` -- ``.chalice/tier-<stage>.json`` beside ``app.py``, if it exists
   (``spillway deploy`` sets ``SPILLWAY_STAGE``);
3. ``SPILLWAY_TIER`` -- a preset name (``free`` / ``pro`` / ``enterprise``); default ``free``.

At run time in Lambda none of these is needed: the numbers only matter when Chalice packages
the event source mappings. Raises :class:`~chalicelib.core.concurrency.plan.PlanError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from chalicelib.core.concurrency.plan import PlanError, TierPlan, build_plan

DEFAULT_TIER = "free"
PROJECT_DIR = Path(__file__).resolve().parent.parent


def plan_from_file(path: Path) -> TierPlan:
    """The validated plan recorded in tier file ``path`` (its ``knobs``)."""
    try:
        knobs = dict(json.loads(Path(path).read_text())["knobs"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"tier file {path}: {exc!r}") from None
    return build_plan(knobs.pop("name"), **knobs)


def stage_plan(environ: Mapping[str, str] = os.environ,
               project_dir: Path = PROJECT_DIR) -> TierPlan:
    """The plan to package with (see the module docstring for the order)."""
    if environ.get("SPILLWAY_TIER_FILE"):
        return plan_from_file(Path(environ["SPILLWAY_TIER_FILE"]))
    stage = environ.get("SPILLWAY_STAGE")
    if stage:
        path = project_dir / ".chalice" / f"tier-{stage}.json"
        if path.exists():
            return plan_from_file(path)
    return build_plan(environ.get("SPILLWAY_TIER") or DEFAULT_TIER)
