"""The edge's front beside Chalice: an API Gateway HTTP API or a Lambda function URL in front of
the plain ``edge`` function (``front`` in the tier plan; ``rest`` is Chalice's own REST API and
needs nothing here). docs/FRONTS.md says what each costs and how each is throttled.

Two paths build the same front, as for the lanes (:mod:`spillway.deploy_lanes`):

* ``chalice package --merge-template``: :func:`front_resources` are CloudFormation resources
  merged into the packaged template (``spillway tier merge-template``);
* ``spillway deploy``: :func:`plan_front` (pure, from the plan and Chalice's deployed-resources
  file) and :func:`ensure_front` (the I/O on boto3 ``apigatewayv2`` and ``lambda`` clients;
  idempotent: an existing API, integration, route, stage, URL or permission is updated or kept).

Throttling each front supports:

* ``http`` -- the ``$default`` stage's default route throttling: ``ThrottlingRateLimit`` = the
  plan's ``api_rate_limit`` (edge concurrency / edge latency, requests/s) and
  ``ThrottlingBurstLimit`` = its ``burst`` (AWS API Gateway docs, "Throttle requests to your
  HTTP APIs"); over them API Gateway answers 429 without invoking the edge.
* ``function-url`` -- **none of its own**: a function URL has no rate or burst limit; the only
  bound is the edge's reserved concurrency (the plan's ``edge_concurrency``), over which Lambda
  answers 429 (AWS Lambda docs, "Lambda function URLs"; "configuration-concurrency").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.core.concurrency.plan import TierPlan
from chalicelib.core.concurrency.render import PLAIN_EDGE_FUNCTION, edge_function, logical_id
from chalicelib.errors import ConfigError

#: The routes every front serves (the REST API's: ``app.py``).
ROUTES = ("POST /webhooks/github", "GET /health")
#: HTTP API integration timeout, ms: the edge answers within its deadline (< GitHub's 10 s).
INTEGRATION_TIMEOUT_MS = 10_000
#: The edge's logging: JSON format so that the platform's own lines (START, END, REPORT: ~300
#: bytes per invocation, INFO level) can be left out with ``SystemLogLevel`` WARN. At one edge
#: invocation per delivery they are the largest log bytes per delivery and buy nothing the free
#: AWS/Lambda metrics (Duration, Errors, Throttles, ConcurrentExecutions) do not show. The
#: application's lines are unchanged: Powertools' JSON is not encoded twice and EMF lines printed
#: to stdout stay plain text (AWS Lambda docs, "Configuring JSON and plain text log formats";
#: "Log and monitor Python Lambda functions"). Platform warnings and errors are kept.
EDGE_LOGGING = {"LogFormat": "JSON", "SystemLogLevel": "WARN"}
#: Chalice's logical id of the REST API's handler function (aws/chalice ``package.py``).
REST_EDGE_LOGICAL_ID = "APIHandler"
#: Statement ids of the invoke permissions (one per front).
PERMISSION_IDS = {"http": "spillway-http-api-invoke", "function-url": "spillway-function-url"}


@dataclass(frozen=True)
class EnsureFront:
    """The ``front`` (``http`` / ``function-url``) of ``function_arn`` for ``stage``; rates
    in requests per second; ``reserved_concurrency`` the edge's (the plan's edge concurrency:
    set by this step too, since it is a function URL's only throttle)."""

    front: str
    stage: str
    function_arn: str
    rate_limit: float
    burst_limit: int
    reserved_concurrency: int

    @property
    def api_name(self) -> str:
        return f"spillway-{self.stage}-edge"


def plan_front(plan: TierPlan, deployed: Mapping[str, Any], stage: str) -> tuple[EnsureFront, ...]:
    """The front step for ``plan.front`` on the edge function Chalice recorded in ``deployed``
    (``api_handler`` for ``rest``: only its logging, :data:`EDGE_LOGGING`; none when it is not
    deployed yet; ``edge`` otherwise) (the parsed ``.chalice/deployed/<stage>.json``). Raises ConfigError
    when the plan wants an HTTP API or function URL but Chalice deployed no ``edge`` function
    (the app was packaged for another plan)."""
    arns = {r.get("name"): r.get("lambda_arn") for r in deployed.get("resources", [])
            if isinstance(r, Mapping) and r.get("resource_type") == "lambda_function"}
    function = edge_function(plan)
    if not arns.get(function):
        if plan.front == "rest":  # nothing deployed yet to adjust
            return ()
        raise ConfigError(f"front {plan.front!r} needs the {function!r} function, "
                          f"which chalice did not deploy for stage {stage}")
    return (EnsureFront(plan.front, stage, arns[function], plan.api_rate_limit,
                        plan.burst, plan.edge_concurrency),)


def describe(step: EnsureFront) -> str:
    """One line for ``--dry-run``."""
    if step.front == "rest":
        return f"lambda logging {EDGE_LOGGING} on {step.function_arn} (REST API: Chalice's)"
    if step.front == "http":
        return (f"apigatewayv2 HTTP API {step.api_name} ({', '.join(ROUTES)}) -> "
                f"{step.function_arn}, throttling {step.rate_limit:g} requests/s, burst "
                f"{step.burst_limit}, reserved concurrency {step.reserved_concurrency}")
    return (f"lambda function URL (auth NONE) -> {step.function_arn}; no throttling of its own, "
            f"only the function's reserved concurrency {step.reserved_concurrency}")


def ensure_front(apigatewayv2: Any, lambda_client: Any, step: EnsureFront) -> str:
    """Create or update the front of ``step`` and the edge's logging; returns the front's base
    URL (``""`` for ``rest``: Chalice's ``EndpointURL``). botocore errors propagate
    (the command reports them)."""
    lambda_client.update_function_configuration(FunctionName=step.function_arn,
                                                LoggingConfig=EDGE_LOGGING)
    if step.front == "rest":
        return ""
    lambda_client.put_function_concurrency(FunctionName=step.function_arn,
                                           ReservedConcurrentExecutions=step.reserved_concurrency)
    if step.front == "http":
        return _ensure_http_api(apigatewayv2, lambda_client, step)
    return _ensure_function_url(lambda_client, step)


def _ensure_http_api(api: Any, lam: Any, step: EnsureFront) -> str:
    found = [a for a in api.get_apis().get("Items", []) if a.get("Name") == step.api_name]
    api_id = found[0]["ApiId"] if found else api.create_api(
        Name=step.api_name, ProtocolType="HTTP")["ApiId"]
    integration = {"IntegrationType": "AWS_PROXY", "IntegrationUri": step.function_arn,
                   "PayloadFormatVersion": "2.0", "TimeoutInMillis": INTEGRATION_TIMEOUT_MS}
    existing = api.get_integrations(ApiId=api_id).get("Items", [])
    if existing:
        integration_id = existing[0]["IntegrationId"]
        api.update_integration(ApiId=api_id, IntegrationId=integration_id, **integration)
    else:
        integration_id = api.create_integration(ApiId=api_id, **integration)["IntegrationId"]
    target = f"integrations/{integration_id}"
    routes = {r["RouteKey"]: r["RouteId"] for r in api.get_routes(ApiId=api_id).get("Items", [])}
    for key in ROUTES:
        if key in routes:
            api.update_route(ApiId=api_id, RouteId=routes[key], Target=target)
        else:
            api.create_route(ApiId=api_id, RouteKey=key, Target=target)
    throttling = {"ThrottlingRateLimit": step.rate_limit,
                  "ThrottlingBurstLimit": step.burst_limit}
    stages = {s["StageName"]: s for s in api.get_stages(ApiId=api_id).get("Items", [])}
    if "$default" in stages:
        now = stages["$default"].get("DefaultRouteSettings") or {}
        if any(now.get(k) != v for k, v in throttling.items()):  # only when the plan changed
            api.update_stage(ApiId=api_id, StageName="$default", DefaultRouteSettings=throttling)
    else:
        api.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                         DefaultRouteSettings=throttling)
    region = lam.meta.region_name
    account = step.function_arn.split(":")[4]
    _ensure_permission(lam, step.function_arn, PERMISSION_IDS["http"], {
        "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
        "SourceArn": f"arn:aws:execute-api:{region}:{account}:{api_id}/*"})
    return api.get_api(ApiId=api_id)["ApiEndpoint"]


def _ensure_function_url(lam: Any, step: EnsureFront) -> str:
    from botocore.exceptions import ClientError

    try:
        url = lam.get_function_url_config(FunctionName=step.function_arn)["FunctionUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        url = lam.create_function_url_config(FunctionName=step.function_arn, AuthType="NONE",
                                             InvokeMode="BUFFERED")["FunctionUrl"]
    _ensure_permission(lam, step.function_arn, PERMISSION_IDS["function-url"], {
        "Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"})
    return url


def _ensure_permission(lam: Any, function_arn: str, sid: str, statement: dict) -> None:
    """Grant ``statement`` as ``sid`` unless the function's policy already has that sid."""
    import json

    from botocore.exceptions import ClientError

    try:
        policy = json.loads(lam.get_policy(FunctionName=function_arn)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        policy = {}
    if any(s.get("Sid") == sid for s in policy.get("Statement", [])):
        return
    lam.add_permission(FunctionName=function_arn, StatementId=sid, **statement)


def front_resources(plan: TierPlan) -> dict[str, Any]:
    """CloudFormation resources of ``plan.front`` for the merge template, on Chalice's ``edge``
    function (logical id ``Edge``, given the plan's reserved concurrency), the edge's
    :data:`EDGE_LOGGING` included (for ``rest`` that is all, on Chalice's ``APIHandler``);
    for ``http`` an
    ``AWS::ApiGatewayV2::Api`` with its Lambda proxy integration (payload 2.0), the
    :data:`ROUTES`, the ``$default`` stage with route throttling and the invoke permission; for
    ``function-url`` an ``AWS::Lambda::Url`` (auth NONE) and its permission."""
    fn = logical_id(PLAIN_EDGE_FUNCTION)
    if plan.front == "rest":
        return {REST_EDGE_LOGICAL_ID: {"Properties": {"LoggingConfig": EDGE_LOGGING}}}
    # The plan's edge concurrency on the function whatever .chalice/config.json says: for a
    # function URL it is the only throttle there is.
    edge = {fn: {"Properties": {"ReservedConcurrentExecutions": plan.edge_concurrency,
                                "LoggingConfig": EDGE_LOGGING}}}
    if plan.front == "function-url":
        return {**edge,
            f"{fn}FunctionUrl": {"Type": "AWS::Lambda::Url", "Properties": {
                "TargetFunctionArn": {"Fn::GetAtt": [fn, "Arn"]}, "AuthType": "NONE",
                "InvokeMode": "BUFFERED"}},
            f"{fn}FunctionUrlPermission": {"Type": "AWS::Lambda::Permission", "Properties": {
                "FunctionName": {"Ref": fn}, "Action": "lambda:InvokeFunctionUrl",
                "Principal": "*", "FunctionUrlAuthType": "NONE"}}}
    api, integration = f"{fn}HttpApi", f"{fn}HttpApiIntegration"
    resources: dict[str, Any] = {
        **edge,
        api: {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
            "Name": {"Fn::Sub": "${AWS::StackName}-edge"}, "ProtocolType": "HTTP"}},
        integration: {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
            "ApiId": {"Ref": api}, "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {"Fn::GetAtt": [fn, "Arn"]}, "PayloadFormatVersion": "2.0",
            "TimeoutInMillis": INTEGRATION_TIMEOUT_MS}},
        f"{api}Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
            "ApiId": {"Ref": api}, "StageName": "$default", "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": plan.api_rate_limit,
                                     "ThrottlingBurstLimit": plan.burst}}},
        f"{api}Permission": {"Type": "AWS::Lambda::Permission", "Properties": {
            "FunctionName": {"Ref": fn}, "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:"
                                     f"${{AWS::AccountId}}:${{{api}}}/*"}}},
    }
    for key in ROUTES:
        method = key.split(" ", 1)[0].title()
        resources[f"{api}{method}Route"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
            "ApiId": {"Ref": api}, "RouteKey": key,
            "Target": {"Fn::Sub": f"integrations/${{{integration}}}"}}}
    return resources


def front_outputs(plan: TierPlan) -> dict[str, Any]:
    """CloudFormation outputs naming the front's base URL (``EdgeUrl``); ``{}`` for ``rest``
    (Chalice's own ``EndpointURL``)."""
    fn = logical_id(PLAIN_EDGE_FUNCTION)
    if plan.front == "http":
        return {"EdgeUrl": {"Value": {"Fn::GetAtt": [f"{fn}HttpApi", "ApiEndpoint"]}}}
    if plan.front == "function-url":
        return {"EdgeUrl": {"Value": {"Fn::GetAtt": [f"{fn}FunctionUrl", "FunctionUrl"]}}}
    return {}
