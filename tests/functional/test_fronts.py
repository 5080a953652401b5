"""The fronts beside Chalice's REST API: packaged (``chalice package --merge-template``, then
cfn-lint) and deployed into the moto server by ``spillway deploy``'s front step
(:mod:`spillway.deploy_front`), for each ``front`` of the tier plan."""

from __future__ import annotations

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

from chalicelib.core.concurrency.plan import build_plan
from chalicelib.errors import ConfigError
from spillway.deploy_front import ROUTES, ensure_front, plan_front
from spillway.package import write_merge_template
from spillway.paths import ROOT

REGION = "us-east-1"


# --- chalice package --merge-template, per front -----------------------------------------------
@pytest.fixture(scope="module", params=["http", "function-url"])
def packaged(request, tmp_path_factory):
    """(front, sam.json as a dict, its text) for tier free with that front."""
    front = request.param
    out = tmp_path_factory.mktemp(f"front-{front}")
    tier_file = out / "tier.json"
    tier_file.write_text(json.dumps({"knobs": {"name": "free", "front": front}}))
    env = {k: v for k, v in os.environ.items()
           if k not in ("SPILLWAY_QUEUE_PREFIX", "SPILLWAY_TIER", "SPILLWAY_STAGE")}
    env.update(SPILLWAY_TIER_FILE=str(tier_file), AWS_DEFAULT_REGION=REGION)
    merge = write_merge_template(build_plan("free", front=front), out / "merge.json",
                                 prefix="spillway")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), "--project-dir", str(ROOT), "package",
         "--stage", "dev", "--merge-template", str(merge), str(out / "package")],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    text = (out / "package" / "sam.json").read_text()
    return front, json.loads(text), text


def test_the_packaged_front_replaces_the_rest_api_and_passes_cfn_lint(packaged):
    front, template, text = packaged
    resources = template["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert "AWS::Serverless::Api" not in types and "RestAPI" not in resources  # one entry point
    edge = resources["Edge"]
    assert edge["Type"] == "AWS::Serverless::Function"
    assert edge["Properties"]["Handler"] == "app.edge"
    assert edge["Properties"]["ReservedConcurrentExecutions"] == build_plan(
        "free").edge_concurrency  # a function URL's only throttle
    if front == "http":
        stage = resources["EdgeHttpApiStage"]["Properties"]
        plan = build_plan("free", front="http")
        assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": plan.api_rate_limit,
                                                 "ThrottlingBurstLimit": plan.burst}
        routes = {r["Properties"]["RouteKey"] for r in resources.values()
                  if r["Type"] == "AWS::ApiGatewayV2::Route"}
        assert routes == set(ROUTES)
        assert resources["EdgeHttpApiIntegration"]["Properties"]["PayloadFormatVersion"] == "2.0"
    else:
        assert resources["EdgeFunctionUrl"]["Properties"]["AuthType"] == "NONE"
    # no START/END/REPORT lines per delivery (spillway/deploy_front.py EDGE_LOGGING)
    assert edge["Properties"]["LoggingConfig"] == {"LogFormat": "JSON", "SystemLogLevel": "WARN"}
    assert "EdgeUrl" in template["Outputs"]
    errors = [m for m in lint(text, regions=[REGION]) if m.rule.id.startswith("E")]
    assert errors == []


# --- spillway deploy's front step against the moto server --------------------------------------
def _edge_function() -> str:
    """A deployed ``edge`` function in moto (as ``chalice deploy`` makes it); its ARN."""
    iam, lam = (boto3.client(s, region_name=REGION) for s in ("iam", "lambda"))
    role = iam.create_role(RoleName="front-test", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]
    }))["Role"]["Arn"]
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def edge(event, context):\n    return {}\n")
    return lam.create_function(FunctionName="spillway-dev-edge", Runtime="python3.11",
                               Role=role, Handler="app.edge",
                               Code={"ZipFile": buf.getvalue()})["FunctionArn"]


def _deployed(arn: str) -> dict:
    return {"schema_version": "2.0", "backend": "api", "resources": [
        {"name": "edge", "resource_type": "lambda_function", "lambda_arn": arn}]}


def _policy(lam, arn: str) -> list[dict]:
    return json.loads(lam.get_policy(FunctionName=arn)["Policy"])["Statement"]


def test_deploy_makes_the_http_api_with_route_throttling_and_is_idempotent(aws_env):
    arn = _edge_function()
    api, lam = (boto3.client(s, region_name=REGION) for s in ("apigatewayv2", "lambda"))
    plan = build_plan("pro", front="http")
    (step,) = plan_front(plan, _deployed(arn), "dev")
    first = ensure_front(api, lam, step)
    assert ensure_front(api, lam, step) == first  # a second deploy updates, never duplicates

    (found,) = [a for a in api.get_apis()["Items"] if a["Name"] == "spillway-dev-edge"]
    assert found["ProtocolType"] == "HTTP" and first == found["ApiEndpoint"]
    (integration,) = api.get_integrations(ApiId=found["ApiId"])["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == arn
    assert integration["PayloadFormatVersion"] == "2.0"
    routes = api.get_routes(ApiId=found["ApiId"])["Items"]
    assert sorted(r["RouteKey"] for r in routes) == sorted(ROUTES)
    assert {r["Target"] for r in routes} == {f"integrations/{integration['IntegrationId']}"}
    stage = api.get_stage(ApiId=found["ApiId"], StageName="$default")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == plan.api_rate_limit
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == plan.burst
    (grant,) = _policy(lam, arn)
    assert grant["Principal"]["Service"] == "apigateway.amazonaws.com"


def test_deploy_makes_the_function_url_without_auth_and_is_idempotent(aws_env):
    arn = _edge_function()
    api, lam = (boto3.client(s, region_name=REGION) for s in ("apigatewayv2", "lambda"))
    (step,) = plan_front(build_plan("pro", front="function-url"), _deployed(arn), "dev")
    url = ensure_front(api, lam, step)
    assert ensure_front(api, lam, step) == url
    assert lam.get_function_concurrency(FunctionName=arn)["ReservedConcurrentExecutions"] == 40
    config = lam.get_function_url_config(FunctionName=arn)
    assert config["AuthType"] == "NONE" and config["FunctionUrl"] == url
    (grant,) = _policy(lam, arn)
    assert grant["Action"] == "lambda:InvokeFunctionUrl"
    assert api.get_apis()["Items"] == []  # no API Gateway at all


def test_the_rest_front_only_sets_the_edge_logging(aws_env):
    arn = _edge_function()
    api, lam = (boto3.client(s, region_name=REGION) for s in ("apigatewayv2", "lambda"))
    deployed = {"resources": [{"name": "api_handler", "resource_type": "lambda_function",
                               "lambda_arn": arn}]}
    (step,) = plan_front(build_plan("pro"), deployed, "dev")
    assert ensure_front(api, lam, step) == ""  # Chalice's REST API has its own URL
    assert api.get_apis()["Items"] == []


def test_a_front_without_its_deployed_function_needs_no_step_or_is_a_config_error():
    assert plan_front(build_plan("pro"), {"resources": []}, "dev") == ()
    with pytest.raises(ConfigError, match="'edge' function"):
        plan_front(build_plan("pro", front="http"), {"resources": []}, "dev")


def test_preflight_packages_with_the_stages_front_in_its_merge_template(tmp_path):
    """``spillway deploy``'s preflight lints what the stage deploys: its merge template holds
    the stage's front (here a function URL, from the stage's tier file)."""
    from spillway.deploy_preflight import _merge_template

    chalice = tmp_path / ".chalice"
    chalice.mkdir()
    (chalice / "tier-dev.json").write_text(json.dumps(
        {"knobs": {"name": "free", "front": "function-url"}}))
    args, front = _merge_template(tmp_path, "dev", tmp_path / "merge.json")
    assert front == "function-url" and args == ["--merge-template", str(tmp_path / "merge.json")]
    resources = json.loads((tmp_path / "merge.json").read_text())["Resources"]
    assert resources["EdgeFunctionUrl"]["Type"] == "AWS::Lambda::Url"
    (chalice / "tier-dev.json").write_text(json.dumps({"knobs": {"name": "free",
                                                                 "front": "grpc"}}))
    assert _merge_template(tmp_path, "dev", tmp_path / "merge.json") == ([], None)
