"""The merge template for ``chalice package --merge-template``, generated from the stage's tier
plan: ``infra/chalice-merge.json`` (hand-written additions) plus, for every SQS worker function
of the app, ReportBatchItemFailures on Chalice's own mapping (lane 1) and the aliases and event
source mappings of lanes 2..N (:func:`chalicelib.core.concurrency.render.lane_resources`), and
the stage's front when it is not Chalice's REST API (an HTTP API or a function URL on the
``edge`` function: :func:`spillway.deploy_front.front_resources`).
So the sum of MaximumConcurrency over a function's mappings (Chalice's = lane 1's share, plus
each alias's) equals the plan's split, <= the function's reserved concurrency, for every tier.

``spillway tier merge-template --stage S --out FILE`` writes it (docs/DEPLOY.md).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan
from chalicelib.core.concurrency.render import lane_resources, logical_id
from spillway.paths import ROOT

BASE_MERGE = ROOT / "infra" / "chalice-merge.json"


def sqs_functions(app_file: Path = ROOT / "app.py") -> list[str]:
    """Names of the app's ``@app.on_sqs_message`` functions (imports a fresh copy of it)."""
    from spillway.local.edge_server import load_app_copy

    module = load_app_copy(-2, app_file)
    return [s.name for s in module.app.event_sources if type(s).__name__ == "SQSEventConfig"]


def merge_template(plan: TierPlan, functions: Iterable[str], *, prefix: str = "spillway",
                   base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default: ``infra/chalice-merge.json``) deep-merged with the lanes of ``plan``
    for the app's SQS ``functions`` and ``plan``'s front: ``{"Resources": {...}}`` (and
    ``"Outputs"`` with ``EdgeUrl`` for an HTTP API or function URL)."""
    from spillway.deploy_front import front_outputs, front_resources

    functions = list(functions)
    doc = json.loads(BASE_MERGE.read_text()) if base is None else json.loads(json.dumps(base))
    generated: dict[str, Any] = {}
    for name in functions:
        fn = logical_id(name)
        generated[fn] = {"Properties": {"Events": {f"{fn}SqsEventSource": {"Properties": {
            "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}}}
    generated.update(lane_resources(plan, functions, prefix))
    generated.update(front_resources(plan))
    outputs = front_outputs(plan)
    return _deep_merge(doc, {"Resources": generated, **({"Outputs": outputs} if outputs else {})})


def write_merge_template(plan: TierPlan, out: Path, *, app_file: Path = ROOT / "app.py",
                         prefix: str | None = None) -> Path:
    """Write :func:`merge_template` for ``plan`` and the app in ``app_file`` to ``out``."""
    from chalicelib.settings import queue_prefix

    doc = merge_template(plan, sqs_functions(app_file),
                         prefix=prefix or queue_prefix(os.environ))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return out


def _deep_merge(a: dict, b: Mapping) -> dict:
    for key, value in b.items():
        if isinstance(value, Mapping) and isinstance(a.get(key), dict):
            _deep_merge(a[key], value)
        else:
            a[key] = value
    return a
