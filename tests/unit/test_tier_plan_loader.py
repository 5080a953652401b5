"""chalicelib.tier_plan: how app.py finds the stage's plan when Chalice packages it."""

from __future__ import annotations

import json

import pytest

from chalicelib.core.concurrency.plan import PlanError, build_plan
from chalicelib.tier_plan import stage_plan
from spillway.ops.tier import write_stage


def _project(tmp_path, knobs, stage="dev"):
    chalice = tmp_path / ".chalice"
    chalice.mkdir()
    (chalice / "config.json").write_text(json.dumps({"stages": {stage: {}}}))
    write_stage(knobs, stage=stage, chalice_dir=chalice)
    return chalice


def test_stage_file_rebuilds_the_same_plan_with_its_overrides(tmp_path):
    _project(tmp_path, {"name": "pro", "edge_concurrency": 20})
    plan = stage_plan({"SPILLWAY_STAGE": "dev"}, project_dir=tmp_path)
    assert plan == build_plan("pro", edge_concurrency=20)


def test_tier_file_wins_over_stage_and_name(tmp_path):
    chalice = _project(tmp_path, {"name": "enterprise", "max_connections": 200})
    env = {"SPILLWAY_TIER_FILE": str(chalice / "tier-dev.json"), "SPILLWAY_STAGE": "qa",
           "SPILLWAY_TIER": "free"}
    assert stage_plan(env, project_dir=tmp_path).name == "enterprise"


def test_tier_name_then_default(tmp_path):
    assert stage_plan({"SPILLWAY_TIER": "pro"}, project_dir=tmp_path) == build_plan("pro")
    assert stage_plan({"SPILLWAY_STAGE": "none"}, project_dir=tmp_path) == build_plan("free")


def test_broken_tier_file_names_the_file(tmp_path):
    path = tmp_path / "tier.json"
    path.write_text("{}")
    with pytest.raises(PlanError, match="tier.json"):
        stage_plan({"SPILLWAY_TIER_FILE": str(path)}, project_dir=tmp_path)


def test_spillway_deploy_runs_chalice_with_the_stage_so_app_py_finds_its_plan():
    import subprocess

    from spillway import deploy

    calls = []

    def run(cmd, **kwargs):  # stands in for the chalice CLI subprocess
        calls.append((cmd, kwargs))
        return subprocess.CompletedProcess(cmd, 0)

    deploy.Executor(run=run).chalice_deploy(deploy.ChaliceDeploy("prod", "/project"))
    (cmd, kwargs), = calls
    assert cmd[-2:] == ["--stage", "prod"] and kwargs["env"]["SPILLWAY_STAGE"] == "prod"
