"""``spillway deploy --stage dev|prod [--dry-run] [--parameter KEY=VALUE]... [--skip-infra]``:
infra stack + ``chalice deploy`` + ReportBatchItemFailures on the mappings (``spillway.deploy``
plans and carries it out)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spillway.deploy import (
    STAGES,
    DeployInfraStack,
    Executor,
    deployed_file,
    describe,
    load_deployed,
    plan_deploy,
    plan_event_source_updates,
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
    p.add_argument("--stage", choices=STAGES, required=True)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--parameter", type=_parameter, action="append", default=[],
                   metavar="KEY=VALUE", help="infra/template.yaml parameter (repeatable), "
                   "e.g. AlarmEmail=ops@example.com")
    p.add_argument("--skip-infra", action="store_true", help="do not deploy the infra stack")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, project_dir: Path = ROOT) -> int:
    """Deploy (or with ``--dry-run`` print the plan for) the project in ``project_dir``.
    Errors are :mod:`chalicelib.errors` errors, reported by ``spillway.cli``."""
    steps = plan_deploy(args.stage, project_dir, args.parameter)
    if args.skip_infra:
        steps = tuple(s for s in steps if not isinstance(s, DeployInfraStack))
    deployed_path = deployed_file(project_dir, args.stage)
    if args.dry_run:
        for step in steps:
            print(describe(step))
        if deployed_path.exists():
            for step in plan_event_source_updates(load_deployed(deployed_path)):
                print(describe(step))
        else:
            print(f"(then ReportBatchItemFailures on each sqs_event in {deployed_path})")
        return 0
    import boto3

    session = boto3.session.Session()
    executor = Executor(cloudformation=session.client("cloudformation"),
                        lambda_client=session.client("lambda"))
    executor.execute(steps)
    executor.execute(plan_event_source_updates(load_deployed(deployed_path)))
    return 0
