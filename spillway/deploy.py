"""``spillway deploy --stage dev|prod``: the path to AWS (operator tooling, never shipped).

Three steps, as a pure planner emitting frozen instructions and one executor doing the I/O (the
shape of Chalice's own ``deploy/planner.py`` and ``deploy/executor.py``):

1. :class:`DeployInfraStack` -- create or update the CloudFormation stack
   ``spillway-<stage>-infra`` from ``infra/template.yaml`` (queues, dead-letter queue, tables,
   claim-check bucket, alarms) and wait for it, like ``aws cloudformation deploy``;
2. :class:`ChaliceDeploy` -- ``chalice deploy --stage <stage>`` (a subprocess);
3. :class:`UpdateEventSourceMapping` -- one per SQS event source Chalice recorded in
   ``.chalice/deployed/<stage>.json``: switch on ``ReportBatchItemFailures``. Chalice's
   ``@app.on_sqs_message`` never sets ``FunctionResponseTypes``, and without it Lambda ignores
   the ``batchItemFailures`` the workers return: one failed record would redeliver the whole
   batch (aws/chalice ``deploy/planner.py``; AWS Lambda docs, "Handling errors for an SQS event
   source"). Chalice's later ``update_lambda_event_source`` calls do not reset the setting.

The ``chalice package --merge-template infra/chalice-merge.json`` path does step 3 in the
template instead (docs/DEPLOY.md).

:func:`provision` creates the same stack in whatever AWS boto3 points at (the moto server of the
local stack, the contract suite and the benchmarks) through the same
:meth:`Executor.deploy_stack`: the one way the infra stack is created. The command line is
``spillway.commands.deploy``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.errors import ConfigError, PermanentDependencyError
from spillway.paths import INFRA_TEMPLATE, ROOT

STAGES = ("dev", "prod")
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
#: ``schema_version`` of the deployed-resources file written by Chalice 1.x
#: (aws/chalice ``deploy/deployer.py``).
DEPLOYED_SCHEMA_VERSION = "2.0"


def infra_stack_name(stage: str) -> str:
    """The CloudFormation stack holding ``infra/template.yaml`` for ``stage``."""
    return f"spillway-{stage}-infra"


def deployed_file(project_dir: Path, stage: str) -> Path:
    """Where ``chalice deploy`` records what it created: ``.chalice/deployed/<stage>.json``."""
    return project_dir / ".chalice" / "deployed" / f"{stage}.json"


# --- instructions -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DeployInfraStack:
    """Create or update ``stack_name`` from the template at ``template_path`` and wait.
    ``parameters``: (key, value) pairs; template defaults apply to the others."""

    stack_name: str
    template_path: str
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ChaliceDeploy:
    """Run ``chalice --project-dir <project_dir> deploy --stage <stage>``."""

    #: Chalice stage name (a key of .chalice/config.json "stages").
    stage: str
    #: Directory holding app.py and .chalice/ (the repository root).
    project_dir: str


@dataclass(frozen=True)
class UpdateEventSourceMapping:
    """``lambda.update_event_source_mapping(UUID=uuid, FunctionResponseTypes=[...])``.
    ``name`` (Chalice resource name) and ``queue`` are for messages only."""

    uuid: str
    function_response_types: tuple[str, ...]
    name: str = ""
    queue: str = ""


Instruction = DeployInfraStack | ChaliceDeploy | UpdateEventSourceMapping


# --- the stage's template parameters ---------------------------------------------------------
#: Template parameters that come from the stage (its edge function, its tier plan): never left
#: to a template default, which would watch another stage's function with another limit.
STAGE_PARAMETERS = ("Prefix", "ApiFunctionName", "ApiReservedConcurrency")


def plan_parameters(stage: str, plan: Any, *, app_name: str = "spillway",
                    prefix: str = "spillway") -> tuple[tuple[str, str], ...]:
    """The ``infra/template.yaml`` parameters a deploy of ``stage`` must pass, from its
    :class:`~chalicelib.core.concurrency.plan.TierPlan` ``plan`` (pure): ``Prefix`` (queue,
    table and alarm names), ``ApiFunctionName`` (the edge Lambda Chalice deploys,
    ``<app_name>-<stage>``), ``ApiReservedConcurrency`` (the plan's edge reserved concurrency,
    concurrent executions; the edge-concurrency alarm fires above 80 % of it) and
    ``VisibilityTimeout<Queue>`` per work queue (s, the plan's). As (key, value) pairs."""
    from chalicelib.core.concurrency.render import template_parameters

    return (("Prefix", prefix), ("ApiFunctionName", f"{app_name}-{stage}"),
            ("ApiReservedConcurrency", str(plan.edge_concurrency)),
            *((k, str(v)) for k, v in template_parameters(plan).items()))


def stage_parameters(stage: str, project_dir: Path = ROOT) -> tuple[tuple[str, str], ...]:
    """:func:`plan_parameters` of ``stage`` as the project records it: the tier plan
    ``.chalice/tier-<stage>.json`` (else the preset ``SPILLWAY_TIER``, default free), the app
    name and the stage's ``SPILLWAY_QUEUE_PREFIX`` from ``.chalice/config.json`` (both
    ``spillway`` without one). Raises
    :class:`ConfigError` for an unknown stage or an unreadable config, PlanError for a plan
    that breaks a rule."""
    from chalicelib.tier_plan import stage_plan

    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
    path = project_dir / ".chalice" / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    env = {**config.get("environment_variables", {}),
           **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}
    plan = stage_plan({"SPILLWAY_STAGE": stage}, project_dir=project_dir)
    return plan_parameters(stage, plan, app_name=config.get("app_name", "spillway"),
                           prefix=env.get("SPILLWAY_QUEUE_PREFIX", "spillway"))


def merge_parameters(derived: Sequence[tuple[str, str]],
                     given: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``derived`` (the stage's, :func:`stage_parameters`) then the operator's ``given`` ones
    (``--parameter``: ``AlarmEmail``, ``MaxReceiveCount``, ...). Raises :class:`ConfigError`
    when ``given`` sets a derived key to another value: the plan owns it (``spillway tier
    set``), and two sources for one number is how an alarm ends up watching the wrong limit."""
    derived_map = dict(derived)
    for key, value in given:
        if key in derived_map and derived_map[key] != value:
            raise ConfigError(f"--parameter {key}={value}: the stage's tier plan sets {key}="
                              f"{derived_map[key]}; change the plan (spillway tier set) instead")
    return (*derived, *((k, v) for k, v in given if k not in derived_map))


# --- planner (pure) ---------------------------------------------------------------------------
def plan_deploy(stage: str, project_dir: Path = ROOT,
                parameters: Sequence[tuple[str, str]] = (), *,
                derived: Sequence[tuple[str, str]] = ()) -> tuple[Instruction, ...]:
    """Steps 1 and 2 for ``stage`` (step 3 needs what step 2 records: see
    :func:`plan_event_source_updates`). The infra stack gets ``derived`` (the stage's own
    parameters, :func:`stage_parameters`) and then the operator's ``parameters``
    (:func:`merge_parameters`). Raises :class:`ConfigError` for an unknown stage or a
    parameter that contradicts ``derived``."""
    if stage not in STAGES:
        raise ConfigError(f"stage must be one of {STAGES}, got {stage!r}")
    return (
        DeployInfraStack(infra_stack_name(stage), str(project_dir / "infra" / "template.yaml"),
                         merge_parameters(derived, parameters)),
        ChaliceDeploy(stage, str(project_dir)),
    )


def plan_event_source_updates(deployed: Mapping[str, Any]) -> tuple[UpdateEventSourceMapping, ...]:
    """One :class:`UpdateEventSourceMapping` per ``sqs_event`` resource in ``deployed``, the
    parsed ``.chalice/deployed/<stage>.json``::

        {"schema_version": "2.0", "backend": "api",
         "resources": [{"name": "worker_high", "resource_type": "lambda_function",
                        "lambda_arn": "..."},
                       {"name": "worker_high-sqs-event-source", "resource_type": "sqs_event",
                        "queue_arn": "...", "event_uuid": "...", "queue": "spillway-high",
                        "lambda_arn": "..."}, ...]}

    Sorted by resource name. Raises :class:`ConfigError` if the document is not of that shape
    (another schema version, an ``sqs_event`` without ``event_uuid``).
    """
    if not isinstance(deployed, Mapping):
        raise ConfigError("deployed resources: expected a JSON object")
    version = str(deployed.get("schema_version", ""))
    if version != DEPLOYED_SCHEMA_VERSION:
        raise ConfigError(f"deployed resources: schema_version {version!r} is not "
                          f"{DEPLOYED_SCHEMA_VERSION!r} (Chalice 1.x)")
    resources = deployed.get("resources")
    if not isinstance(resources, list):
        raise ConfigError("deployed resources: 'resources' must be a list")
    out = []
    for res in resources:
        if not isinstance(res, Mapping) or res.get("resource_type") != "sqs_event":
            continue
        uuid = res.get("event_uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ConfigError(f"deployed resources: sqs_event {res.get('name')!r} has no "
                              "event_uuid")
        out.append(UpdateEventSourceMapping(uuid, (REPORT_BATCH_ITEM_FAILURES,),
                                            name=str(res.get("name", "")),
                                            queue=str(res.get("queue", ""))))
    return tuple(sorted(out, key=lambda i: (i.name, i.uuid)))


def describe(instruction: Instruction) -> str:
    """One line saying what ``instruction`` will do (``--dry-run`` output)."""
    if isinstance(instruction, DeployInfraStack):
        params = " ".join(f"{k}={v}" for k, v in instruction.parameters)
        return (f"cloudformation deploy {instruction.stack_name} <- {instruction.template_path}"
                + (f" ({params})" if params else ""))
    if isinstance(instruction, ChaliceDeploy):
        return f"chalice deploy --stage {instruction.stage} (in {instruction.project_dir})"
    types = ",".join(instruction.function_response_types)
    return (f"lambda update-event-source-mapping {instruction.uuid} "
            f"FunctionResponseTypes=[{types}] ({instruction.name} <- {instruction.queue})")


# --- executor (all the I/O) -------------------------------------------------------------------
class Executor:
    """Carries out instructions. Clients are boto3 clients (``cloudformation``, ``lambda``),
    needed only by the instructions that use them; ``run`` is :func:`subprocess.run`;
    ``sleep`` waits between retries of a mapping that is still being created (seconds);
    ``stack_poll_s`` is the seconds between two looks at a stack being created or updated
    (None: boto3's waiter default, 30 s, as ``aws cloudformation deploy``).

    Raises a :mod:`chalicelib.errors` error translated from botocore, or
    :class:`PermanentDependencyError` when ``chalice deploy`` fails.
    """

    #: An event source mapping answers ResourceInUseException while it is Creating/Updating
    #: (AWS Lambda API reference, UpdateEventSourceMapping): retry this many times.
    IN_USE_ATTEMPTS = 10
    IN_USE_DELAY_S = 3.0

    def __init__(self, *, cloudformation: Any = None, lambda_client: Any = None,
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 sleep: Callable[[float], None] = time.sleep,
                 out: Callable[[str], None] = print, stack_poll_s: int | None = None):
        self._cfn = cloudformation
        self._waiter_config = {"Delay": stack_poll_s} if stack_poll_s else {}
        self._lambda = lambda_client
        self._run = run
        self._sleep = sleep
        self._out = out

    def execute(self, instructions: Iterable[Instruction]) -> None:
        for instruction in instructions:
            self._out(describe(instruction))
            if isinstance(instruction, DeployInfraStack):
                self.deploy_stack(instruction)
            elif isinstance(instruction, ChaliceDeploy):
                self.chalice_deploy(instruction)
            else:
                self.update_mapping(instruction)

    def deploy_stack(self, step: DeployInfraStack, *, update: bool = True) -> str:
        """Create or update the stack and wait; returns ``"created"``, ``"updated"`` or
        ``"unchanged"`` (also when the stack exists and ``update`` is false: it is left as it
        is). A stack in ``ROLLBACK_COMPLETE`` must be deleted by hand first."""
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError

        from chalicelib.adapters.aws.errors import error_code, translate_aws_error

        body = Path(step.template_path).read_text(encoding="utf-8")
        kwargs = {"StackName": step.stack_name, "TemplateBody": body,
                  "Parameters": [{"ParameterKey": k, "ParameterValue": v}
                                 for k, v in step.parameters]}
        try:
            if self._stack_exists(step.stack_name):
                if not update:
                    return "unchanged"
                try:
                    self._cfn.update_stack(**kwargs)
                except ClientError as exc:
                    if error_code(exc) == "ValidationError" and "No updates" in str(exc):
                        return "unchanged"
                    raise
                self._cfn.get_waiter("stack_update_complete").wait(
                    StackName=step.stack_name, WaiterConfig=self._waiter_config)
                return "updated"
            self._cfn.create_stack(**kwargs)
            self._cfn.get_waiter("stack_create_complete").wait(
                StackName=step.stack_name, WaiterConfig=self._waiter_config)
            return "created"
        except WaiterError as exc:
            raise PermanentDependencyError(
                f"stack {step.stack_name} did not deploy: {exc.last_response}") from exc
        except (ClientError, BotoCoreError) as exc:
            raise translate_aws_error(exc, f"deploy stack {step.stack_name}") from exc

    def _stack_exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        from chalicelib.adapters.aws.errors import error_code

        try:
            stacks = self._cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as exc:
            if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
                return False
            raise
        return any(s.get("StackStatus") != "DELETE_COMPLETE" for s in stacks)

    def chalice_deploy(self, step: ChaliceDeploy) -> None:
        cmd = [chalice_executable(), "--project-dir", step.project_dir, "deploy",
               "--stage", step.stage]
        # app.py reads the stage's tier plan (.chalice/tier-<stage>.json) at import time
        env = {**os.environ, "SPILLWAY_STAGE": step.stage}
        result = self._run(cmd, check=False, env=env)
        if result.returncode != 0:
            raise PermanentDependencyError(f"{' '.join(cmd)} exited with {result.returncode}")

    def update_mapping(self, step: UpdateEventSourceMapping) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.adapters.aws.errors import error_code, translate_aws_error

        for attempt in range(1, self.IN_USE_ATTEMPTS + 1):
            try:
                self._lambda.update_event_source_mapping(
                    UUID=step.uuid, FunctionResponseTypes=list(step.function_response_types))
                return
            except ClientError as exc:
                if error_code(exc) == "ResourceInUseException" and attempt < self.IN_USE_ATTEMPTS:
                    self._sleep(self.IN_USE_DELAY_S)
                    continue
                raise translate_aws_error(exc, f"update event source mapping {step.uuid}") \
                    from exc
            except BotoCoreError as exc:
                raise translate_aws_error(exc, f"update event source mapping {step.uuid}") \
                    from exc


def chalice_executable() -> str:
    """The ``chalice`` beside this interpreter (the venv's), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "chalice"
    if beside.exists():
        return str(beside)
    found = shutil.which("chalice")
    if found is None:
        raise ConfigError("chalice is not installed (pip install -r requirements-dev.txt)")
    return found


def load_deployed(path: Path) -> dict:
    """The parsed deployed-resources file; :class:`ConfigError` if missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read Chalice's deployed resources ({exc})") from exc


# --- the local / test infra stack ----------------------------------------------------------
def provision(prefix: str = "spillway", max_receive_count: int = 5,
              visibility: dict[str, int] | None = None, *, cfn: Any = None,
              stack_name: str | None = None) -> dict[str, str]:
    """Create the ``infra/template.yaml`` stack (``stack_name``, default ``<prefix>-local``)
    in the AWS that boto3 points at (the moto server locally) unless it exists, wait for it
    (polling every second), and return its outputs ``{OutputKey: OutputValue}``.

    ``prefix`` and ``max_receive_count`` are the template's ``Prefix`` and ``MaxReceiveCount``
    parameters; ``visibility`` maps ``VisibilityTimeout<Queue>`` parameters to seconds (default:
    the template's, each 6 x function timeout + batching window); the edge alarms watch the
    dev stage's edge function with its plan's limit (:func:`stage_parameters`);
    ``cfn`` a boto3 CloudFormation client (default: ``chalicelib.wiring``'s). Raises
    :class:`PermanentDependencyError` if the stack is not ``CREATE_COMPLETE`` or
    ``UPDATE_COMPLETE``, or a :mod:`chalicelib.errors` error translated from botocore.
    """
    if cfn is None:
        from chalicelib import wiring

        cfn = wiring.boto_client("cloudformation")
    name = stack_name or f"{prefix}-local"
    dev = dict(stage_parameters("dev"))  # the local stack runs the dev stage's code
    step = DeployInfraStack(name, str(INFRA_TEMPLATE), (
        ("Prefix", prefix), ("MaxReceiveCount", str(max_receive_count)),
        *((key, dev[key]) for key in ("ApiFunctionName", "ApiReservedConcurrency")),
        *((key, str(value)) for key, value in (visibility or {}).items())))
    Executor(cloudformation=cfn, stack_poll_s=1).deploy_stack(step, update=False)
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise PermanentDependencyError(f"stack {name} is {stack['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
