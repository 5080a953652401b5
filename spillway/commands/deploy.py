"""``spillway deploy --stage dev|prod [--dry-run] [--parameter KEY=VALUE]... [--skip-infra]``:
infra stack + ``chalice deploy`` + ReportBatchItemFailures on the mappings (``spillway.deploy``
plans and carries it out). Every deploy runs the preflight first
(``spillway.deploy_preflight``: region, credentials, placeholders, templates, SSM parameters,
tier plan) and stops with exit status 2 and the list of problems if any check fails;
``--dry-run`` runs the preflight and prints what would change."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigError
from spillway.deploy import (
    STAGES,
    DeployInfraStack,
    Executor,
    deployed_file,
    describe,
    load_deployed,
    plan_deploy,
    plan_event_source_updates,
    stage_parameters,
)
from spillway.paths import ROOT


def _parameter(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key, val


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "deploy", help="infra stack + chalice deploy + ReportBatchItemFailures on the mappings")
    p.add_argument("--stage", choices=STAGES, required=True, help="the Chalice stage to deploy")
    p.add_argument("--dry-run", action="store_true",
                   help="run the preflight checks and print what would change; change nothing")
    p.add_argument("--parameter", type=_parameter, action="append", default=[],
                   metavar="KEY=VALUE", help="infra/template.yaml parameter (repeatable), "
                   "e.g. AlarmEmail=ops@example.com; the stage's own (Prefix, ApiFunctionName, "
                   "ApiReservedConcurrency, VisibilityTimeout*) come from its tier plan")
    p.add_argument("--skip-infra", action="store_true", help="do not deploy the infra stack")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, project_dir: Path = ROOT) -> int:
    """Deploy (or with ``--dry-run`` print the plan for) the project in ``project_dir``.
    Errors are :mod:`chalicelib.errors` errors, reported by ``spillway.cli``."""
    steps = _steps(args, project_dir)
    from spillway.deploy_preflight import format_checks, preflight

    print(f"spillway deploy --stage {args.stage}: preflight", flush=True)
    checks = preflight(args.stage, project_dir)
    print(format_checks(checks))
    problems = [c for c in checks if c.failed]
    if problems:
        print(f"spillway deploy: {len(problems)} problem(s), nothing deployed:", file=sys.stderr)
        for c in problems:
            print(f"  - {c.name}: {c.detail}", file=sys.stderr)
        return 2
    if args.dry_run:
        print("Would do:")
        print_plan(args, project_dir)
        return 0
    import boto3

    session = boto3.session.Session()
    executor = Executor(cloudformation=session.client("cloudformation"),
                        lambda_client=session.client("lambda"))
    executor.execute(steps)
    deployed = load_deployed(deployed_file(project_dir, args.stage))
    executor.execute(plan_event_source_updates(deployed))
    from spillway.deploy_lanes import ensure_lane, plan_lanes

    for step in plan_lanes(_stage_plan(args.stage, project_dir), deployed):
        ensure_lane(session.client("lambda"), step)
    from spillway.deploy_front import describe as describe_front
    from spillway.deploy_front import ensure_front, plan_front

    for front in plan_front(_stage_plan(args.stage, project_dir), deployed, args.stage):
        print(describe_front(front))
        url = ensure_front(session.client("apigatewayv2"), session.client("lambda"), front)
        if url:  # the REST API's is Chalice's EndpointURL, printed by chalice deploy
            print(f"GitHub webhook URL: {url.rstrip('/')}/webhooks/github")
    return 0


def _stage_plan(stage: str, project_dir: Path):
    from chalicelib.tier_plan import stage_plan

    return stage_plan({"SPILLWAY_STAGE": stage}, project_dir=project_dir)


def print_plan(args: argparse.Namespace, project_dir: Path = ROOT) -> None:
    """Print the steps a deploy of ``args.stage`` would carry out, one line each."""
    deployed_path = deployed_file(project_dir, args.stage)
    for step in _steps(args, project_dir):
        print(describe(step))
    if deployed_path.exists():
        for step in plan_event_source_updates(load_deployed(deployed_path)):
            print(describe(step))
        from spillway.deploy_lanes import describe as describe_lane
        from spillway.deploy_lanes import plan_lanes

        for lane in plan_lanes(_stage_plan(args.stage, project_dir), load_deployed(deployed_path)):
            print(describe_lane(lane))
        from spillway.deploy_front import describe as describe_front
        from spillway.deploy_front import plan_front

        try:
            fronts = plan_front(_stage_plan(args.stage, project_dir),
                                load_deployed(deployed_path), args.stage)
        except ConfigError as exc:  # deployed for another front: the next deploy makes it
            print(f"(then the front: {exc})")
        else:
            for front in fronts:
                print(describe_front(front))
    else:
        print(f"(then ReportBatchItemFailures on each sqs_event in {deployed_path}, and lanes "
              "2..N of the tier plan as aliases with their own mappings)")


def _steps(args: argparse.Namespace, project_dir: Path) -> tuple:
    steps = plan_deploy(args.stage, project_dir, args.parameter,
                        derived=stage_parameters(args.stage, project_dir))
    if args.skip_infra:
        steps = tuple(s for s in steps if not isinstance(s, DeployInfraStack))
    return steps
