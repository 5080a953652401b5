"""``spillway deploy --stage prod`` passes every alarm and limit parameter of prod's tier plan:
the infra stack, created by the deploy executor in the moto server with exactly what the
planner gives it, has each alarm on prod's own resources with the template's threshold, and
the edge alarms on ``spillway-prod`` with prod's edge limit (40), never the dev function."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.errors import PermanentDependencyError, SpillwayError
from chalicelib.tier_plan import stage_plan
from spillway import deploy
from spillway.ops.alarms import alarm_definitions
from spillway.paths import ROOT


def _deploy_infra(stage: str, tmp_path) -> list[dict]:
    """Step 1 of ``spillway deploy --stage <stage>`` as planned, into the moto server; the
    alarms of the template CloudFormation stored, resolved with the parameters it recorded
    (moto's CloudFormation does not create CloudWatch alarms; the LocalStack tier,
    tests/localstack/test_deploy.py, checks real ones)."""
    (infra, _chalice) = deploy.plan_deploy(stage, ROOT, [("AlarmEmail", "ops@example.com")],
                                           derived=deploy.stage_parameters(stage, ROOT))
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    assert deploy.Executor(cloudformation=cfn, stack_poll_s=1).deploy_stack(infra) == "created"
    (stack,) = cfn.describe_stacks(StackName=infra.stack_name)["Stacks"]
    recorded = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    template = tmp_path / "deployed.yaml"
    template.write_text(cfn.get_template(StackName=infra.stack_name)["TemplateBody"])
    return alarm_definitions(template, parameters=recorded)


def test_prod_alarms_watch_prod_with_prods_limits(aws_env, tmp_path):
    deployed = {a["name"]: a for a in _deploy_infra("prod", tmp_path)}
    plan = stage_plan({"SPILLWAY_STAGE": "prod"}, project_dir=ROOT)
    assert len(deployed) == 13  # 12 + reconcile-unchecked (issue 19)
    template = {a["name"]: a for a in alarm_definitions(parameters={})}
    for name, alarm in deployed.items():  # the template's thresholds, unchanged
        assert (alarm["threshold"], alarm["comparison"], alarm["evaluation_periods"],
                alarm["period_s"]) == (template[name]["threshold"], template[name]["comparison"],
                                       template[name]["evaluation_periods"],
                                       template[name]["period_s"]), name
    edge = [a for a in deployed.values() if a["id"].startswith("Edge")]
    assert len(edge) == 3
    for alarm in edge:
        assert alarm["watches"] == {"FunctionName": "spillway-prod"}, alarm["name"]
    assert plan.edge_concurrency == 40
    assert deployed["spillway-edge-concurrency"]["metric"].startswith(
        "100 * concurrency / 40 over AWS/Lambda/ConcurrentExecutions")
    for queue in ("high", "medium", "low", "heavy", "batch", "dlq"):
        name = f"spillway-{queue}-queue-depth" if queue != "dlq" else "spillway-dlq-not-empty"
        assert deployed[name]["watches"] == {"QueueName": f"spillway-{queue}"}, name
    for name in ("spillway-breaker-trips", "spillway-reconcile-gap", "spillway-reconcile-unchecked",
                 "spillway-signature-failures"):
        assert deployed[name]["watches"] == {"service": "spillway"}, name


def test_a_stack_without_the_stage_parameters_is_refused(aws_env):
    """No template default can make prod's alarms watch the dev function: left out, the
    stack does not deploy."""
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    bare = deploy.DeployInfraStack("spillway-bare-infra", str(ROOT / "infra" / "template.yaml"),
                                   (("Prefix", "bare"),))
    with pytest.raises((SpillwayError, PermanentDependencyError, ClientError)):
        deploy.Executor(cloudformation=cfn, stack_poll_s=1).deploy_stack(bare)
