"""The numbers the docs print about tiers and alarms, generated from the tier plans, the stages'
``.chalice`` files and ``infra/template.yaml`` (``spillway tier docs``), so they cannot drift.

A generated section sits between two markers in a Markdown file::

    <!-- BEGIN GENERATED tier-sizing (spillway tier docs --write) -->
    ...
    <!-- END GENERATED tier-sizing -->

:func:`sections` renders every section (name -> Markdown text); :func:`fill` puts them into a
document; :func:`stale` lists the files whose committed text differs from what :func:`fill`
makes (the test ``tests/unit/test_docs_generated.py`` fails on any). Reading the plans and the
template is the only I/O; the rendering functions are pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan, build_plan
from chalicelib.errors import ConfigError
from spillway.paths import ROOT

TIERS = ("free", "pro", "enterprise")
#: Files holding generated sections, relative to the project.
DOCUMENTS = ("docs/DEPLOY.md", "README.md")
BEGIN = "<!-- BEGIN GENERATED {name} (spillway tier docs --write) -->"
END = "<!-- END GENERATED {name} -->"
_SECTION = re.compile(r"<!-- BEGIN GENERATED (?P<name>[a-z-]+) \(spillway tier docs --write\) -->"
                      r"\n(?P<body>.*?)<!-- END GENERATED (?P=name) -->", re.S)
_OPS = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=",
        "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<="}


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def sizing_table(plans: Sequence[TierPlan], scheduled: Mapping[str, int]) -> str:
    """Reserved concurrency per function (concurrent executions) for each plan, the mappings'
    MaximumConcurrency per lane, the total with ``scheduled`` (function -> reserved
    concurrency, the functions no plan sizes: ``reconcile``, ``collect_metrics``), and the
    account concurrency quota that total needs (Lambda keeps ``account_unreserved_minimum``,
    100, unreserved)."""
    lines = [_row(["function", *(f"{p.name}" for p in plans)]),
             _row(["---", *("---:" for _ in plans)]),
             _row(["`api_handler` (edge)", *(p.edge_concurrency for p in plans)])]
    for name in [w.name for w in plans[0].workers]:
        cells = []
        for p in plans:
            w = p.worker(name)
            lanes = " + ".join(str(m.maximum_concurrency) for m in w.mappings)
            cells.append(f"{w.reserved_concurrency} (lanes {lanes})" if len(w.mappings) > 1
                         else str(w.reserved_concurrency))
        lines.append(_row([f"`{name}`", *cells]))
    for name, reserved in scheduled.items():
        lines.append(_row([f"`{name}` (scheduled)", *(reserved for _ in plans)]))
    totals = [p.edge_concurrency + sum(w.reserved_concurrency for w in p.workers)
              + sum(scheduled.values()) for p in plans]
    lines.append(_row(["**total reserved**", *(f"**{t}**" for t in totals)]))
    lines.append(_row(["account quota needed (total + "
                       f"{plans[0].account_unreserved_minimum} unreserved)",
                       *(t + p.account_unreserved_minimum for t, p in zip(totals, plans,
                                                                            strict=True))]))
    lines.append(_row(["database connections: budget / limit",
                       *(f"{p.db_connection_budget} / {p.db_connection_limit}" for p in plans)]))
    return "\n".join(lines) + "\n"


def summary_table(plans: Sequence[TierPlan]) -> str:
    """The README's one line per plan: edge and worker reserved concurrency, lanes, database
    connection budget / limit."""
    names = [w.name for w in plans[0].workers]
    lines = [_row(["tier", "edge reserved", " / ".join(names) + " reserved",
                   "lanes", "DB budget / limit"]),
             _row(["---"] * 5)]
    for p in plans:
        lines.append(_row([p.name, p.edge_concurrency,
                           " / ".join(str(p.worker(n).reserved_concurrency) for n in names),
                           max(len(w.mappings) for w in p.workers),
                           f"{p.db_connection_budget} / {p.db_connection_limit}"]))
    return "\n".join(lines) + "\n"


def stage_table(stages: Mapping[str, tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """What ``spillway deploy --stage S`` passes to ``infra/template.yaml`` for each stage:
    ``stages`` maps a stage to (tier name, its :func:`spillway.deploy.stage_parameters`)."""
    keys = list(dict(next(iter(stages.values()))[1]))
    lines = [_row(["parameter", *(f"`--stage {s}` ({tier})" for s, (tier, _) in
                                  stages.items())]),
             _row(["---", *("---" for _ in stages)])]
    for key in keys:
        lines.append(_row([f"`{key}`", *(f"`{dict(params)[key]}`"
                                          for _, params in stages.values())]))
    return "\n".join(lines) + "\n"


def alarm_table(alarms: Sequence[Mapping[str, Any]]) -> str:
    """One row per alarm of :func:`spillway.ops.alarms.alarm_definitions` (resolved for a
    stage): its name, what it watches, when it fires, and the RUNBOOK.md entry."""
    lines = [_row(["alarm", "watches", "fires when", "runbook"]), _row(["---"] * 4)]
    for a in alarms:
        watches = ", ".join(f"{k}={v}" for k, v in (a.get("watches") or {}).items())
        metric = a["metric"] if not a.get("dimensions") else a["metric"].split(" (", 1)[0]
        window = int(a["period_s"] * a["evaluation_periods"])
        over = (f"{a['evaluation_periods']} × {int(a['period_s'])} s" if
                a["evaluation_periods"] > 1 else f"{int(a['period_s'])} s")
        fires = (f"{metric} ({a['statistic']}) {_OPS.get(a['comparison'], a['comparison'])} "
                 f"{a['threshold']:g} over {over} ({window // 60} min)")
        anchor = a["name"].split("-", 1)[1] if "-" in a["name"] else a["name"]
        lines.append(_row([f"`{a['name']}`", f"`{watches}`" if watches else "-",
                           fires.replace("|", "\\|"), f"[{anchor}](../RUNBOOK.md#{anchor})"]))
    return "\n".join(lines) + "\n"


def edge_alarm_lines(stages: Mapping[str, tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """Per stage, the function the edge alarms watch and the concurrency they fire above."""
    out = []
    for stage, (tier, params) in stages.items():
        p = dict(params)
        limit = int(p["ApiReservedConcurrency"])
        out.append(f"* `--stage {stage}` ({tier}): the edge alarms watch `{p['ApiFunctionName']}`; "
                   f"`{p['Prefix']}-edge-concurrency` fires above 80 % of {limit}, i.e. above "
                   f"{limit * 0.8:g} concurrent executions.")
    return "\n".join(out) + "\n"


# --- reading the project ---------------------------------------------------------------------
def _config(project_dir: Path) -> dict[str, Any]:
    path = project_dir / ".chalice" / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def scheduled_functions(project_dir: Path = ROOT) -> dict[str, int]:
    """Reserved concurrency of the stage functions no tier plan sizes (``reconcile``,
    ``collect_metrics``), as ``.chalice/config.json`` sets them; ConfigError if the stages
    disagree (the table has one value per function)."""
    stages = _config(project_dir).get("stages", {})
    planned = {"api_handler", *(w.name for w in build_plan("free").workers)}
    found: dict[str, int] = {}
    for stage, body in stages.items():
        for name, fn in (body.get("lambda_functions") or {}).items():
            if name in planned or "reserved_concurrency" not in fn:
                continue
            if found.setdefault(name, fn["reserved_concurrency"]) != fn["reserved_concurrency"]:
                raise ConfigError(f".chalice/config.json: {name}'s reserved concurrency differs "
                                  f"between stages (stage {stage})")
    return dict(sorted(found.items()))


def sections(project_dir: Path = ROOT) -> dict[str, str]:
    """Every generated section, name -> Markdown (ending in a newline)."""
    from chalicelib.tier_plan import stage_plan
    from spillway.deploy import STAGES, stage_parameters
    from spillway.ops.alarms import alarm_definitions

    plans = [build_plan(t) for t in TIERS]
    stages = {s: (stage_plan({"SPILLWAY_STAGE": s}, project_dir=project_dir).name,
                  stage_parameters(s, project_dir)) for s in STAGES}
    generic = {**dict(stages["prod"][1]), "ApiFunctionName": "spillway-<stage>",
               "ApiReservedConcurrency": "<edge reserved>"}
    alarms = alarm_definitions(project_dir / "infra" / "template.yaml", parameters=generic)
    return {"tier-sizing": sizing_table(plans, scheduled_functions(project_dir)),
            "tier-summary": summary_table(plans),
            "stage-parameters": stage_table(stages) + "\n" + edge_alarm_lines(stages),
            "alarms": alarm_table(alarms)}


def fill(text: str, rendered: Mapping[str, str]) -> str:
    """``text`` with the body of each generated section replaced by ``rendered[name]``.
    Raises ConfigError for a section no generator knows."""
    def body(m: re.Match) -> str:
        name = m.group("name")
        if name not in rendered:
            raise ConfigError(f"no generator for the section {name!r} "
                              f"(known: {', '.join(rendered)})")
        return f"{BEGIN.format(name=name)}\n{rendered[name]}{END.format(name=name)}"
    return _SECTION.sub(body, text)


def section_names(text: str) -> list[str]:
    """Names of the generated sections in ``text``, in order."""
    return [m.group("name") for m in _SECTION.finditer(text)]


def stale(project_dir: Path = ROOT, *, write: bool = False) -> list[str]:
    """The :data:`DOCUMENTS` (relative paths) whose generated sections are not what
    :func:`sections` renders now; with ``write``, rewrite them. Raises ConfigError when a
    document is missing or has no generated section."""
    rendered = sections(project_dir)
    out = []
    for rel in DOCUMENTS:
        path = project_dir / rel
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{rel}: {exc}") from None
        if not section_names(text):
            raise ConfigError(f"{rel}: no generated section (markers {BEGIN.format(name='...')})")
        new = fill(text, rendered)
        if new != text:
            out.append(rel)
            if write:
                path.write_text(new, encoding="utf-8")
    return out
