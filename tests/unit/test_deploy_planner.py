"""The pure parts of ``spillway deploy``: the planner (what to do from Chalice's
deployed-resources file) and ``--dry-run``, which prints the plan and touches nothing."""

from __future__ import annotations

import argparse
import json

import pytest

from chalicelib.errors import ConfigError
from spillway import deploy
from spillway.commands import deploy as deploy_command
from spillway.paths import ROOT

RBIF = "ReportBatchItemFailures"


def deployed_resources(uuids: dict[str, str]) -> dict:
    """A ``.chalice/deployed/dev.json`` in the shape Chalice 1.34 writes (deploy/deployer.py)."""
    arn = "arn:aws:lambda:us-east-1:123456789012:function:spillway-dev"
    resources: list[dict] = [
        {"name": "api_handler", "resource_type": "lambda_function", "lambda_arn": arn},
        {"name": "rest_api", "resource_type": "rest_api", "rest_api_id": "abc123",
         "rest_api_url": "https://abc123.execute-api.us-east-1.amazonaws.com/api/"},
    ]
    for priority, uuid in uuids.items():
        resources += [
            {"name": f"worker_{priority}", "resource_type": "lambda_function",
             "lambda_arn": f"{arn}-worker_{priority}"},
            {"name": f"worker_{priority}-sqs-event-source", "resource_type": "sqs_event",
             "queue_arn": f"arn:aws:sqs:us-east-1:123456789012:spillway-{priority}",
             "event_uuid": uuid, "queue": f"spillway-{priority}",
             "lambda_arn": f"{arn}-worker_{priority}"},
        ]
    return {"resources": resources, "schema_version": "2.0", "backend": "api"}


def test_planner_turns_every_sqs_event_into_one_mapping_update():
    plan = deploy.plan_event_source_updates(
        deployed_resources({"low": "u-low", "high": "u-high", "medium": "u-medium"}))
    assert plan == (
        deploy.UpdateEventSourceMapping("u-high", (RBIF,), "worker_high-sqs-event-source",
                                        "spillway-high"),
        deploy.UpdateEventSourceMapping("u-low", (RBIF,), "worker_low-sqs-event-source",
                                        "spillway-low"),
        deploy.UpdateEventSourceMapping("u-medium", (RBIF,),
                                        "worker_medium-sqs-event-source", "spillway-medium"),
    )


def test_planner_without_sqs_events_plans_nothing():
    assert deploy.plan_event_source_updates(deployed_resources({})) == ()


@pytest.mark.parametrize("doc", [
    [],
    {"schema_version": "1.0", "resources": []},
    {"schema_version": "2.0", "resources": {}},
    {"schema_version": "2.0", "resources": [{"name": "w", "resource_type": "sqs_event"}]},
])
def test_planner_rejects_documents_of_another_shape(doc):
    with pytest.raises(ConfigError):
        deploy.plan_event_source_updates(doc)


def test_plan_deploy_provisions_infra_then_runs_chalice():
    derived = deploy.stage_parameters("prod", ROOT)
    steps = deploy.plan_deploy("prod", ROOT, [("AlarmEmail", "ops@example.com")],
                               derived=derived)
    assert steps == (
        deploy.DeployInfraStack("spillway-prod-infra", str(ROOT / "infra" / "template.yaml"),
                                (*derived, ("AlarmEmail", "ops@example.com"))),
        deploy.ChaliceDeploy("prod", str(ROOT)),
    )
    with pytest.raises(ConfigError):
        deploy.plan_deploy("staging")


def test_the_stage_parameters_come_from_its_plan():
    from chalicelib.tier_plan import stage_plan

    params = dict(deploy.stage_parameters("prod", ROOT))
    plan = stage_plan({"SPILLWAY_STAGE": "prod"}, project_dir=ROOT)
    assert params["ApiFunctionName"] == "spillway-prod"
    assert params["ApiReservedConcurrency"] == str(plan.edge_concurrency) == "40"
    assert {k: int(v) for k, v in params.items() if k.startswith("VisibilityTimeout")} == {
        f"VisibilityTimeout{w.spec.queue.capitalize()}": w.visibility_timeout_s
        for w in plan.workers}
    assert dict(deploy.stage_parameters("dev", ROOT))["ApiFunctionName"] == "spillway-dev"


def test_a_parameter_that_contradicts_the_plan_is_refused():
    derived = deploy.stage_parameters("prod", ROOT)
    with pytest.raises(ConfigError, match="ApiReservedConcurrency"):
        deploy.plan_deploy("prod", ROOT, [("ApiReservedConcurrency", "100")], derived=derived)
    same = deploy.plan_deploy("prod", ROOT, [("ApiReservedConcurrency", "40")], derived=derived)
    assert dict(same[0].parameters)["ApiReservedConcurrency"] == "40"
    assert len(same[0].parameters) == len(derived)  # said twice, passed once


def test_the_template_has_no_default_for_the_stage_parameters():
    """Left out, a stack would watch another stage's edge with another limit; without a
    default CloudFormation refuses the stack instead."""
    from spillway.ops.alarms import load_template

    params = load_template(ROOT / "infra" / "template.yaml")["Parameters"]
    assert "Default" not in params["ApiFunctionName"]
    assert "Default" not in params["ApiReservedConcurrency"]


def test_the_dry_run_plan_lists_the_steps_and_changes_nothing(tmp_path, capsys):
    (tmp_path / ".chalice" / "deployed").mkdir(parents=True)
    (tmp_path / ".chalice" / "deployed" / "dev.json").write_text(
        json.dumps(deployed_resources({"high": "u-high"})))
    parser = argparse.ArgumentParser()
    deploy_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["deploy", "--stage", "dev", "--dry-run"])
    deploy_command.print_plan(args, project_dir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cloudformation deploy spillway-dev-infra <- ")
    assert lines[1].startswith("chalice deploy --stage dev")
    assert lines[2] == ("lambda update-event-source-mapping u-high "
                        "FunctionResponseTypes=[ReportBatchItemFailures] "
                        "(worker_high-sqs-event-source <- spillway-high)")
