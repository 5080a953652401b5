"""``spillway tier plan|set`` through the real CLI entry point: every rule refused with exit 2."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pytest

from chalicelib.core.concurrency.plan import PRESETS, build_plan
from chalicelib.core.concurrency.render import chalice_stage_config
from spillway.cli import main
from spillway.ops import audit
from tests.fakes import MemoryState
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


def run_tier(store, *argv: str) -> int:
    """``spillway tier ...`` with its audit trail in ``store``, through the CLI's error
    handling (``main``'s ConfigError -> exit 2)."""
    from chalicelib.errors import ConfigError
    from spillway.commands import tier as tier_command

    parser = argparse.ArgumentParser(prog="spillway")
    tier_command.register(parser.add_subparsers(dest="command"), store_factory=lambda: store)
    args = parser.parse_args(list(argv))
    try:
        return args.func(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


def test_set_writes_the_stage_numbers_and_tier_file_and_is_audited(tmp_path, capsys):
    chalice = tmp_path / ".chalice"
    shutil.copytree(ROOT / ".chalice", chalice)
    before = json.loads((chalice / "config.json").read_text())
    was = json.loads((chalice / "tier-dev.json").read_text())["tier"]
    store = MemoryState()
    assert run_tier(store, "tier", "set", "pro", "--stage", "dev", "--chalice-dir", str(chalice),
                    "--reason", "more customers", "--by", "dana") == 0
    config = json.loads((chalice / "config.json").read_text())
    functions = config["stages"]["dev"]["lambda_functions"]
    for name, numbers in chalice_stage_config(build_plan("pro"))["lambda_functions"].items():
        env = numbers.pop("environment_variables", {})
        assert {k: functions[name][k] for k in numbers} == numbers
        assert {k: functions[name]["environment_variables"][k] for k in env} == env
    # other stages and other keys are kept
    assert config["stages"]["prod"] == before["stages"]["prod"]
    assert functions["reconcile"] == before["stages"]["dev"]["lambda_functions"]["reconcile"]
    assert functions["collect_metrics"]["environment_variables"]["METRICS_RETENTION_DAYS"] == "14"
    doc = json.loads((chalice / "tier-dev.json").read_text())
    assert doc["tier"] == "pro" and doc["template_parameters"]["VisibilityTimeoutHigh"] >= 181
    assert run_tier(store, "tier", "set", "enterprise", "--stage", "dev", "--chalice-dir",
                    str(chalice), "--reason", "launch", "--by", "dana") == 0
    records = audit.list_actions(store)
    assert [(r["verb"], r["by"], r["reason"], r["details"]["from"], r["details"]["to"],
             r["details"]["stage"]) for r in records] == [
        ("tier set", "dana", "more customers", was, "pro", "dev"),
        ("tier set", "dana", "launch", "pro", "enterprise", "dev")]


def test_set_unknown_stage_exits_2_and_writes_nothing(tmp_path, capsys):
    chalice = tmp_path / ".chalice"
    shutil.copytree(ROOT / ".chalice", chalice)
    before = (chalice / "config.json").read_text()
    store = MemoryState()
    assert run_tier(store, "tier", "set", "pro", "--stage", "qa", "--chalice-dir", str(chalice),
                    "--reason", "r") == 2
    assert "unknown stage 'qa'" in capsys.readouterr().err
    assert (chalice / "config.json").read_text() == before
    assert not (chalice / "tier-qa.json").exists()
    assert audit.list_actions(store) == []  # refused before anything was recorded


def test_set_without_a_reason_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["tier", "set", "pro", "--stage", "dev", "--chalice-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--reason" in err and "Traceback" not in err


@pytest.mark.parametrize("pair, message", [
    ("pool_size=abc", "pool_size must be an integer, got 'abc'"),
    ("lanes=x", "lanes must be an integer, got 'x'"),
    ("pool_size=true", "pool_size must be an integer, got True"),
    ("edge_latency_s=fast", "edge_latency_s must be a number, got 'fast'"),
    ('reserved_concurrency={"worker_high": "a"}',
     "reserved_concurrency['worker_high'] must be an integer, got 'a'"),
    ('functions={"worker_high": {"memory_mb": "big"}}',
     "functions['worker_high'].memory_mb must be an integer, got 'big'"),
    ("maximum_concurrency=3", "maximum_concurrency must be a JSON object, got 3"),
])
def test_wrong_typed_knob_exits_2_naming_knob_and_type(pair, message, capsys):
    assert main(["tier", "plan", "pro", "--set", pair]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_wrong_typed_knob_in_a_file_exits_2(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"pool_size": "2", "lanes": 1.5}))
    assert main(["tier", "plan", "pro", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "pool_size must be an integer, got '2'" in err
    assert "lanes must be an integer, got 1.5" in err


def test_set_help_lists_the_knobs(capsys):
    from chalicelib.core.concurrency.plan import knob_names

    with pytest.raises(SystemExit):
        main(["tier", "plan", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for knob in knob_names():
        assert knob in out, knob
