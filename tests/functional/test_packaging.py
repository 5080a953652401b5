"""The path to AWS: ``chalice package`` with the merge template, and the ``spillway deploy``
executor against the moto server (the planner's pure tests are tests/unit/test_deploy_planner.py).

``chalice package`` runs as a subprocess with the venv's chalice (~1-5 s per stage). cfn-lint
1.58 validates SAM templates without transforming them and does not check the properties of a
SAM ``SQS`` event, so each event is also linted as the ``AWS::Lambda::EventSourceMapping`` SAM
turns it into (SAM passes these properties through unchanged; AWS SAM docs, "SQS" event source).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import boto3
import pytest
from cfnlint.api import lint
from cfnlint.decode import decode

import app
from chalicelib.core.concurrency.render import sqs_subscriptions
from chalicelib.tier_plan import stage_plan
from spillway import deploy
from spillway.package import write_merge_template
from spillway.paths import ROOT
from tests.unit.test_deploy_planner import deployed_resources

CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text())
RBIF = "ReportBatchItemFailures"


# --- chalice package --merge-template ---------------------------------------------------------
@pytest.fixture(scope="module", params=["dev", "prod"])
def packaged(request, tmp_path_factory):
    """(stage, sam.json as a dict, its text) from ``chalice package --merge-template``."""
    stage = request.param
    out = tmp_path_factory.mktemp(f"package-{stage}")
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPILLWAY_QUEUE_PREFIX", "SPILLWAY_TIER", "SPILLWAY_TIER_FILE")}
    env["SPILLWAY_STAGE"] = stage  # as spillway deploy sets it: app.py reads tier-<stage>.json
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice package refuses without one
    chalice = Path(sys.executable).parent / "chalice"
    merge = write_merge_template(stage_plan({"SPILLWAY_STAGE": stage}), out / "merge.json")
    result = subprocess.run(
        [str(chalice), "--project-dir", str(ROOT), "package", "--stage", stage,
         "--merge-template", str(merge), str(out / "package")],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    text = (out / "package" / "sam.json").read_text()
    return stage, json.loads(text), text


def _stage_function(stage: str, name: str) -> dict:
    stage_cfg = CONFIG["stages"][stage]
    return {"lambda_timeout": stage_cfg.get("lambda_timeout", CONFIG.get("lambda_timeout", 60)),
            **stage_cfg.get("lambda_functions", {}).get(name, {})}


def _workers(template: dict) -> dict[str, dict]:
    """priority -> the worker's SAM function resource (found by its handler)."""
    out = {}
    for res in template["Resources"].values():
        handler = res.get("Properties", {}).get("Handler", "")
        if res["Type"] == "AWS::Serverless::Function" and handler.startswith("app.worker_"):
            out[handler.removeprefix("app.worker_")] = res
    return out


def _sqs_events(function: dict) -> list[dict]:
    return [e["Properties"] for e in function["Properties"].get("Events", {}).values()
            if e["Type"] == "SQS"]


def _all_mappings(template: dict, priority: str) -> list[int]:
    """MaximumConcurrency of every SQS mapping of worker ``priority``: Chalice's own (lane 1,
    a SAM event) and each lane alias's ``AWS::Lambda::EventSourceMapping``."""
    resources = template["Resources"]
    fn = f"Worker{priority.title()}"
    found = [e["ScalingConfig"]["MaximumConcurrency"] for e in _sqs_events(resources[fn])]
    for res in resources.values():
        if res["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        target = resources[res["Properties"]["FunctionName"]["Ref"]]
        assert target["Type"] == "AWS::Lambda::Alias"
        if target["Properties"]["FunctionName"] == {"Ref": fn}:
            found.append(res["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    return found


def test_every_sqs_mapping_reports_batch_item_failures_and_keeps_its_scaling(packaged):
    stage, template, _ = packaged
    workers = _workers(template)
    subs = sqs_subscriptions(stage_plan({"SPILLWAY_STAGE": stage}))
    # every plan worker is its own function with its own handler (app.py registers them in a
    # loop: each needs a unique __name__, DESIGN.md 2b)
    assert {f"worker_{p}" for p in workers} == set(subs) and len(workers) == 5
    for priority, function in workers.items():
        sub = subs[f"worker_{priority}"]
        (event,) = _sqs_events(function)
        assert event["FunctionResponseTypes"] == [RBIF]
        assert event["ScalingConfig"] == {"MaximumConcurrency": sub["maximum_concurrency"]}
        assert event["BatchSize"] == sub["batch_size"]
        assert event["MaximumBatchingWindowInSeconds"] == \
            sub["maximum_batching_window_in_seconds"]
        assert event["Queue"]["Fn::Sub"].endswith(f":spillway-{priority}")


def test_reserved_concurrency_matches_config_and_covers_the_mappings(packaged):
    """AWS rule (DESIGN.md 2): sum of MaximumConcurrency over a function's mappings <= its
    reserved concurrency, or throttled receives burn maxReceiveCount."""
    stage, template, _ = packaged
    for priority, function in _workers(template).items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        assert reserved == _stage_function(stage, f"worker_{priority}")["reserved_concurrency"]
        total = sum(_all_mappings(template, priority))
        assert total <= reserved
    api = template["Resources"]["APIHandler"]["Properties"]
    assert api["ReservedConcurrentExecutions"] == \
        _stage_function(stage, "api_handler")["reserved_concurrency"]


def test_the_reconciler_runs_on_a_schedule_with_its_own_small_reserved_concurrency(packaged):
    stage, template, _ = packaged
    (function,) = [r for r in template["Resources"].values()
                   if r.get("Properties", {}).get("Handler") == "app.reconcile"]
    props = function["Properties"]
    assert props["ReservedConcurrentExecutions"] == \
        _stage_function(stage, "reconcile")["reserved_concurrency"] == 1
    (event,) = props["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == f"rate({app.RECONCILE_EVERY_MIN} minutes)"


def test_functions_use_the_stage_policy_file(packaged):
    stage, template, _ = packaged
    policy = json.loads((ROOT / ".chalice" / f"policy-{stage}.json").read_text())
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert roles
    for role in roles:
        (attached,) = role["Properties"]["Policies"]
        assert attached["PolicyDocument"] == policy


def test_packaged_template_passes_cfn_lint(packaged):
    _, _, text = packaged
    errors = [m for m in lint(text, regions=["us-east-1"]) if m.rule.id.startswith("E")]
    assert errors == []


def test_sqs_events_as_event_source_mappings_pass_cfn_lint(packaged):
    _, template, _ = packaged
    resources = {}
    for priority, function in _workers(template).items():
        for i, event in enumerate(_sqs_events(function)):
            props = {k: v for k, v in event.items() if k != "Queue"}
            resources[f"Mapping{priority.title()}{i}"] = {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"FunctionName": f"worker-{priority}",
                               "EventSourceArn": event["Queue"], **props}}
    doc = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    errors = [m for m in lint(json.dumps(doc), regions=["us-east-1"])
              if m.rule.id.startswith("E")]
    assert errors == []
    # and the linter does catch a bad value here (it would not inside the SAM event)
    bad = json.loads(json.dumps(doc))
    next(iter(bad["Resources"].values()))["Properties"]["FunctionResponseTypes"] = ["Bogus"]
    assert any(m.rule.id.startswith("E") for m in lint(json.dumps(bad), regions=["us-east-1"]))


def test_queue_visibility_timeout_covers_six_timeouts_plus_the_window_for_every_worker(packaged):
    """AWS Lambda docs, services-sqs-configure: visibility timeout >= 6 x function timeout +
    the mapping's batching window, enforced by each queue parameter's MinValue."""
    stage, packaged_template, _ = packaged
    template, matches = decode(str(ROOT / "infra" / "template.yaml"))
    assert not matches
    params = template["Parameters"]
    workers = _workers(packaged_template)
    assert workers
    for priority, function in workers.items():
        (event,) = _sqs_events(function)
        timeout = function["Properties"]["Timeout"]
        floor = 6 * timeout + event["MaximumBatchingWindowInSeconds"]
        queue = template["Resources"][f"{priority.title()}Queue"]["Properties"]
        name = f"VisibilityTimeout{priority.title()}"
        assert queue["VisibilityTimeout"] == {"Ref": name}
        assert int(params[name]["MinValue"]) >= floor, (stage, priority)
        assert int(params[name]["Default"]) >= int(params[name]["MinValue"])


# --- spillway deploy: executor against the moto server ----------------------------------------
def _zip_handler() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def test_executor_switches_on_report_batch_item_failures(aws_env):
    # A throwaway queue: a mapping created in moto deletes the messages it "delivers"
    # (DESIGN.md 2b), so never one on the app's queues. Created disabled on top of that.
    sqs, lam, iam = (boto3.client(s, region_name="us-east-1") for s in ("sqs", "lambda", "iam"))
    queue_url = sqs.create_queue(QueueName="deploy-test-throwaway")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    role = iam.create_role(RoleName="deploy-test", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]
    }))["Role"]["Arn"]
    lam.create_function(FunctionName="deploy-test", Runtime="python3.11", Role=role,
                        Handler="handler.handler", Code={"ZipFile": _zip_handler()})
    uuid = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="deploy-test",
                                           BatchSize=10, Enabled=False)["UUID"]
    assert not lam.get_event_source_mapping(UUID=uuid).get("FunctionResponseTypes")

    plan = deploy.plan_event_source_updates(deployed_resources({"high": uuid}))
    deploy.Executor(lambda_client=lam, out=lambda _line: None).execute(plan)

    assert lam.get_event_source_mapping(UUID=uuid)["FunctionResponseTypes"] == [RBIF]


def test_executor_creates_then_updates_the_infra_stack(aws_env):
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    executor = deploy.Executor(cloudformation=cfn)
    template = str(ROOT / "infra" / "template.yaml")

    stage = (("Prefix", "deploytest"),
             *((k, v) for k, v in deploy.stage_parameters("dev") if k != "Prefix"))
    created = executor.deploy_stack(deploy.DeployInfraStack("spillway-dev-infra", template,
                                                            stage))
    assert created == "created"
    assert sqs.get_queue_url(QueueName="deploytest-high")["QueueUrl"]

    updated = executor.deploy_stack(deploy.DeployInfraStack(
        "spillway-dev-infra", template, (*stage, ("MaxReceiveCount", "3"))))
    assert updated == "updated"
    (stack,) = cfn.describe_stacks(StackName="spillway-dev-infra")["Stacks"]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params["MaxReceiveCount"] == "3"
    assert stack["StackStatus"] == "UPDATE_COMPLETE"


# --- every tier through chalice package ----------------------------------------------------------
@pytest.mark.parametrize("tier", ["free", "pro", "enterprise"])
def test_every_tier_packages_lints_and_keeps_mappings_within_reserved(tier, tmp_path):
    """``spillway tier set TIER`` on a copy of the project, then ``chalice package`` +
    the merge template: cfn-lint clean, each worker's mappings sum <= its reserved concurrency
    and both equal the plan's."""
    import shutil

    from chalicelib.core.concurrency.plan import build_plan
    from chalicelib.settings import Settings
    from spillway.cli import main
    from spillway.commands import tier as tier_command
    from tests.fakes import MemoryState

    project = tmp_path / "project"
    project.mkdir()
    for name in ("app.py", "requirements.txt"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / ".chalice", project / ".chalice",
                    ignore=shutil.ignore_patterns("deployed", "deployments"))
    parser = argparse.ArgumentParser(prog="spillway")
    tier_command.register(parser.add_subparsers(dest="command"),
                          store_factory=MemoryState)  # its audit record: test_tier_lift_flow.py
    args = parser.parse_args(["tier", "set", tier, "--stage", "dev", "--chalice-dir",
                              str(project / ".chalice"), "--reason", "packaging test"])
    assert args.func(args) == 0
    merge = tmp_path / "merge.json"
    assert main(["tier", "merge-template", "--stage", "dev", "--project-dir", str(project),
                 "--out", str(merge)]) == 0
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPILLWAY_QUEUE_PREFIX", "SPILLWAY_TIER", "SPILLWAY_TIER_FILE")}
    env.update(SPILLWAY_STAGE="dev", AWS_DEFAULT_REGION="us-east-1")
    out = tmp_path / "out"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), "--project-dir", str(project), "package",
         "--stage", "dev", "--merge-template", str(merge), str(out)],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    text = (out / "sam.json").read_text()
    assert [m for m in lint(text, regions=["us-east-1"]) if m.rule.id.startswith("E")] == []
    plan = build_plan(tier)
    template = json.loads(text)
    workers = _workers(template)
    assert workers
    for priority, function in workers.items():
        reserved = function["Properties"]["ReservedConcurrentExecutions"]
        worker = plan.worker(f"worker_{priority}")
        mappings = _all_mappings(template, priority)  # Chalice's (lane 1) + each alias's
        assert mappings == [m.maximum_concurrency for m in worker.mappings]
        assert all(2 <= m <= 1000 for m in mappings)
        assert sum(mappings) <= reserved == worker.reserved_concurrency
        # every number the worker reads at run time is the plan's (chalicelib/settings.py)
        env = function["Properties"]["Environment"]["Variables"]
        settings = Settings.from_env({k: v for k, v in env.items()  # not the stage's secrets
                                      if k.startswith(("SLOT", "DB_POOL"))})
        assert settings.slots_enabled and env["SPILLWAY_TIER"] == tier
        assert (settings.slot_min_limit, settings.slot_max_limit) == (plan.slot_min_limit,
                                                                      plan.slot_max_limit)
        assert settings.slot_lease_s >= worker.lease_s
        assert settings.db_pool_size == settings.slot_count == plan.pool_size
    aliases = sorted(r["Properties"]["Name"] for r in template["Resources"].values()
                     if r["Type"] == "AWS::Lambda::Alias")
    assert aliases == sorted(m.lane for w in plan.workers if w.name.removeprefix("worker_")
                             in workers for m in w.mappings[1:])
    assert (tier == "free") == (aliases == [])  # free: 1 lane, Chalice's mapping suffices
