"""The deploy preflight: the real command line without region or credentials (exit 2, a list,
no traceback), and against the moto server over HTTP (STS and SSM answer), where the shipped
config's placeholder and the absent SSM parameters are caught before anything is deployed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import boto3

from spillway.deploy_preflight import (
    check_placeholders,
    check_tier_plan,
    preflight,
    ssm_parameter_names,
)
from spillway.paths import ROOT


def _without_aws(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # No ~/.aws of the machine's user either: HOME is an empty folder.
    env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true")
    return env


def test_dry_run_without_region_or_credentials_exits_2_with_a_list(tmp_path):
    out = subprocess.run([sys.executable, "-m", "spillway.cli", "deploy", "--stage", "dev",
                          "--dry-run"], env=_without_aws(tmp_path), cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stdout + out.stderr
    problems = [ln for ln in out.stderr.splitlines() if ln.startswith("  - ")]
    assert [p.split(":")[0] for p in problems] == ["  - region", "  - credentials",
                                                   "  - placeholders"]
    assert "AWS_DEFAULT_REGION" in out.stderr
    assert "spillway-claim-checks-ACCOUNT_ID" in out.stderr
    assert "Would do" not in out.stdout  # the plan is not printed past a failed preflight
    # The shipped stage has a tier file and SPILLWAY_TIER on every function: its plan is checked.
    assert "ok       plan: tier free (.chalice/tier-dev.json) keeps every rule" in out.stdout


def test_preflight_against_the_emulator_names_the_placeholder_and_missing_parameters(
        aws_env, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / ".chalice", project / ".chalice",
                    ignore=shutil.ignore_patterns("deployed", "deployments"))
    shutil.copytree(ROOT / "infra", project / "infra")
    config = json.loads((project / ".chalice" / "config.json").read_text())
    names = ssm_parameter_names(config, "dev")
    ssm = boto3.client("ssm", endpoint_url=aws_env)
    ssm.put_parameter(Name=names[0], Value="x", Type="SecureString")

    def no_package(cmd, **kwargs):  # chalice package needs app.py; cfn-lint runs for real
        if "package" in cmd:
            return subprocess.CompletedProcess(cmd, 1, "", "app.py not found")
        return subprocess.run(cmd, **kwargs)

    checks = {c.name: c for c in preflight("dev", project,
                                           session=boto3.session.Session(), run=no_package)}

    assert checks["region"].status == "ok"
    assert checks["credentials"].status == "ok" and "123456789012" in checks["credentials"].detail
    assert checks["placeholders"].failed
    assert "spillway-claim-checks-123456789012" in checks["placeholders"].detail  # the hint
    assert checks["ssm"].failed
    assert names[0] not in checks["ssm"].detail
    assert all(n in checks["ssm"].detail for n in names[1:])
    assert checks["template"].failed and "chalice package failed" in checks["template"].detail


def test_a_config_without_placeholders_passes_that_check():
    config = {"stages": {"dev": {"environment_variables": {"CLAIM_CHECK_BUCKET": "my-bucket"}}}}
    assert not check_placeholders(config, "dev", None).failed
    config["stages"]["dev"]["lambda_functions"] = {
        "reconcile": {"environment_variables": {"GITHUB_HOOKS": "<owner/repo>"}}}
    check = check_placeholders(config, "dev", None)
    assert check.failed and "GITHUB_HOOKS" in check.detail


def _shipped_chalice(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / ".chalice", project / ".chalice",
                    ignore=shutil.ignore_patterns("deployed", "deployments"))
    path = project / ".chalice" / "config.json"
    return project, path, json.loads(path.read_text())


def test_plan_check_reads_the_stage_tier_file_as_packaging_does(tmp_path, monkeypatch):
    monkeypatch.delenv("SPILLWAY_TIER", raising=False)
    project, _, config = _shipped_chalice(tmp_path)
    check = check_tier_plan(config, "prod", project)
    assert check.status == "ok" and "tier pro (.chalice/tier-prod.json)" in check.detail
    # A tier file whose knobs break a rule is a problem naming the rule.
    tier_file = project / ".chalice" / "tier-prod.json"
    tier_file.write_text(json.dumps({"knobs": {"name": "pro", "max_connections": 20}}))
    check = check_tier_plan(config, "prod", project)
    assert check.failed and "connection_budget" in check.detail and "tier-prod.json" in check.detail


def test_plan_check_without_tier_file_uses_the_functions_spillway_tier(tmp_path, monkeypatch):
    monkeypatch.delenv("SPILLWAY_TIER", raising=False)
    project, _, config = _shipped_chalice(tmp_path)
    (project / ".chalice" / "tier-dev.json").unlink()
    check = check_tier_plan(config, "dev", project)
    assert check.status == "ok" and "tier free (SPILLWAY_TIER in" in check.detail
    for fn in config["stages"]["dev"]["lambda_functions"].values():
        fn.get("environment_variables", {}).pop("SPILLWAY_TIER", None)
    assert check_tier_plan(config, "dev", project).status == "skipped"


def test_plan_check_refuses_a_stage_naming_two_tiers(tmp_path, monkeypatch):
    monkeypatch.delenv("SPILLWAY_TIER", raising=False)
    project, _, config = _shipped_chalice(tmp_path)
    functions = config["stages"]["dev"]["lambda_functions"]
    functions["worker_low"]["environment_variables"]["SPILLWAY_TIER"] = "pro"
    check = check_tier_plan(config, "dev", project)
    assert check.failed and "worker_low" in check.detail and "tier set" in check.detail
    for fn in functions.values():  # all say pro, the tier file says free
        if "SPILLWAY_TIER" in fn.get("environment_variables", {}):
            fn["environment_variables"]["SPILLWAY_TIER"] = "pro"
    check = check_tier_plan(config, "dev", project)
    assert check.failed and "tier-dev.json is tier free" in check.detail
