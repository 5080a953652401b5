"""The numbers the docs print about tiers, stages and alarms are what ``spillway tier docs``
generates from the tier plans, ``.chalice`` and ``infra/template.yaml``: this fails when a
committed generated section differs (run ``.venv/bin/spillway tier docs --write``)."""

from __future__ import annotations

import pytest

from chalicelib.core.concurrency.plan import build_plan
from chalicelib.errors import ConfigError
from spillway import tier_docs
from spillway.cli import main
from spillway.ops.alarms import alarm_definitions
from spillway.paths import ROOT


def test_the_committed_docs_are_what_the_generator_makes():
    assert tier_docs.stale(ROOT) == [], "run: .venv/bin/spillway tier docs --write"


def test_every_document_keeps_its_sections():
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    assert tier_docs.section_names(deploy) == ["tier-sizing", "stage-parameters", "alarms"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tier_docs.section_names(readme) == ["tier-summary"]


def test_prod_sizing_is_the_pro_plan():
    """docs/DEPLOY.md once said 100 + 10 + 4 + 2 = 116 for prod: the pro plan reserves edge 40
    and five workers, and with the two scheduled functions 92 in all."""
    table = tier_docs.sections(ROOT)["tier-sizing"]
    pro = build_plan("pro")
    assert pro.edge_concurrency == 40 and len(pro.workers) == 5
    total = 40 + sum(w.reserved_concurrency for w in pro.workers) + 2
    assert total == 92
    assert "| **total reserved** | **27** | **92** | **194** |" in table
    assert f"| {total + 100} |" in table


def test_the_alarm_table_lists_every_alarm_of_the_template():
    table = tier_docs.sections(ROOT)["alarms"]
    names = [a["name"] for a in alarm_definitions()]
    assert len(names) == 13  # 12 + reconcile-unchecked (a parked or failing hook, issue 19)
    for name in names:
        assert f"| `{name}` |" in table


def test_fill_replaces_only_between_markers_and_refuses_an_unknown_section():
    begin, end = (tier_docs.BEGIN.format(name="x"), tier_docs.END.format(name="x"))
    text = f"before\n{begin}\nold\n{end}\nafter\n"
    assert tier_docs.fill(text, {"x": "new\n"}) == f"before\n{begin}\nnew\n{end}\nafter\n"
    with pytest.raises(ConfigError):
        tier_docs.fill(text, {"y": ""})


def test_the_check_exits_1_on_stale_docs(tmp_path, capsys):
    for rel in (*tier_docs.DOCUMENTS, ".chalice/config.json", ".chalice/tier-dev.json",
                ".chalice/tier-prod.json", "infra/template.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    assert tier_docs.stale(tmp_path) == []
    deploy = tmp_path / "docs" / "DEPLOY.md"
    deploy.write_text(deploy.read_text(encoding="utf-8").replace("| **92** |", "| **116** |"),
                      encoding="utf-8")
    assert tier_docs.stale(tmp_path) == ["docs/DEPLOY.md"]
    assert tier_docs.stale(tmp_path, write=True) == ["docs/DEPLOY.md"]
    assert tier_docs.stale(tmp_path) == []
    assert main(["tier", "docs"]) == 0  # the project's own
    assert "current" in capsys.readouterr().out
