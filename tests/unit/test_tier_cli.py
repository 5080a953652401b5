"""``spillway tier plan|set`` through the real CLI entry point: every rule refused with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chalicelib.core.concurrency.plan import PRESETS, build_plan
from chalicelib.core.concurrency.render import chalice_stage_config
from spillway.cli import main
from tests.unit.test_concurrency_plan import BREAKERS

ROOT = Path(__file__).resolve().parents[2]


def _sets(overrides: dict) -> list[str]:
    return [arg for k, v in overrides.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


@pytest.mark.parametrize("rule", sorted(BREAKERS))
def test_each_rule_is_refused_by_the_cli_with_exit_2(rule, capsys):
    overrides, numbers = BREAKERS[rule]
    assert main(["tier", "plan", "free", *_sets(overrides)]) == 2
    err = capsys.readouterr().err
    assert rule in err and "Traceback" not in err
    for number in numbers:
        assert number in err, (number, err)


def test_overrides_from_a_json_file(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"maximum_concurrency": {"worker_high": 12}}))
    assert main(["tier", "plan", "free", "--file", str(path)]) == 2
    assert "mapping_sum_within_reserved" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["edge_concurrency", "nope=3"])
def test_malformed_or_unknown_set_exits_2(bad, capsys):
    assert main(["tier", "plan", "pro", "--set", bad]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("tier", sorted(PRESETS))
def test_plan_json_is_the_validated_plan(tier, capsys):
    assert main(["tier", "plan", tier, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == build_plan(tier).to_dict()


def test_custom_override_changes_the_plan(capsys):
    assert main(["tier", "plan", "pro", "--set", "edge_concurrency=20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["edge"]["reserved_concurrency"] == 20


def test_set_writes_the_stage_numbers_and_tier_file(tmp_path, capsys):
    chalice = tmp_path / ".chalice"
    shutil.copytree(ROOT / ".chalice", chalice)
    before = json.loads((chalice / "config.json").read_text())
    assert main(["tier", "set", "pro", "--stage", "dev", "--chalice-dir", str(chalice)]) == 0
    config = json.loads((chalice / "config.json").read_text())
    functions = config["stages"]["dev"]["lambda_functions"]
    for name, numbers in chalice_stage_config(build_plan("pro"))["lambda_functions"].items():
        assert {k: functions[name][k] for k in numbers} == numbers
    # other stages and other keys are kept
    assert config["stages"]["prod"] == before["stages"]["prod"]
    assert functions["reconcile"] == before["stages"]["dev"]["lambda_functions"]["reconcile"]
    doc = json.loads((chalice / "tier-dev.json").read_text())
    assert doc["tier"] == "pro" and doc["template_parameters"]["VisibilityTimeoutHigh"] >= 181


def test_set_unknown_stage_exits_2_and_writes_nothing(tmp_path, capsys):
    chalice = tmp_path / ".chalice"
    shutil.copytree(ROOT / ".chalice", chalice)
    before = (chalice / "config.json").read_text()
    assert main(["tier", "set", "pro", "--stage", "qa", "--chalice-dir", str(chalice)]) == 2
    assert "unknown stage 'qa'" in capsys.readouterr().err
    assert (chalice / "config.json").read_text() == before
    assert not (chalice / "tier-qa.json").exists()
