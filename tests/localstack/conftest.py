"""Fixtures of the LocalStack tier: one LocalStack (``localstack-core`` on the host, no Docker)
for the session, started from ``.localstack/venv`` (``scripts/localstack-setup``).

* ``localstack`` -- the running :class:`~tests.localstack.server.LocalStackServer`; when it
  cannot start, every test of the tier is skipped with the reason (what is missing).
* ``ls_env``     -- boto3 pointed at it (``AWS_ENDPOINT_URL``, fake credentials).
* ``stack``      -- a fresh ``infra/template.yaml`` stack under a prefix of its own (returns
  the prefix and the stack's outputs), created through CloudFormation by
  :func:`spillway.deploy.provision`.
* ``queue_backend`` -- the contract suites' one on LocalStack, its ``advance`` allowing for
  LocalStack's 1 s SQS timer tick (:data:`SQS_TICK_S`).
* ``aws_env``    -- overrides the moto one of ``tests/conftest.py`` so that the contract suites
  re-collected here (``test_contract_suites.py``) run on LocalStack: before each test the
  contract stack (prefix ``ct``) is deleted, so ``provision`` creates it anew, as moto's reset
  gives them an empty account.

Every test under this folder gets the ``localstack`` marker. The tier is opt-in (about 4 min:
see tests/README.md): it runs under ``-m localstack``, a path into this folder, or
``SPILLWAY_LOCALSTACK=1``, and a plain ``pytest`` deselects it. Of the re-collected contract
tests only those touching AWS run here (``postgres`` / ``memory`` cases are deselected).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from spillway.local.embedded import FAKE_AWS_ENV

# The contract suites' fixtures, so their tests can be collected in this folder too.
from tests.contract.conftest import (  # noqa: F401
    PREFIX as CONTRACT_PREFIX,
)
from tests.contract.conftest import (  # noqa: F401
    Backend,
    aws_stack,
    blob_backend,
    idempotency_backend,
    queue_pool,
    state_backend,
)
from tests.localstack.server import LocalStackServer, LocalStackUnavailable

HERE = Path(__file__).resolve().parent
NON_AWS_PARAMS = {"postgres", "memory"}
#: LocalStack's SQS returns expired in-flight messages and due delayed ones to their queue on a
#: 1 s scheduler tick (``QueueUpdateWorker``, ``period=1``, in localstack/services/sqs/
#: provider.py): a timer set for T s fires by T + 1 s (seen: DelaySeconds=1 visible after
#: 1.7-2.0 s). The contract suites' ``advance`` on SQS sleeps that much longer here.
SQS_TICK_S = 1.0
_started: dict[str, float] = {}
_opted_out: list[int] = []


def _in_tier(item) -> bool:
    return HERE in Path(str(item.fspath)).resolve().parents


def _tier_requested(config) -> bool:
    """The tier runs when asked for: ``-m`` naming ``localstack``, a path inside this folder,
    or ``SPILLWAY_LOCALSTACK=1``; a plain ``pytest`` (``make test``) leaves it out."""
    if "localstack" in (config.getoption("markexpr") or ""):
        return True
    if os.environ.get("SPILLWAY_LOCALSTACK") == "1":
        return True
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def _touches_aws(item) -> bool:
    """A re-collected contract test that runs against AWS: an ``aws`` parameter, or the
    ``aws_env`` fixture (the others are PostgreSQL or in-memory only)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    values = {v for v in params.values() if isinstance(v, str)}
    if values & NON_AWS_PARAMS:
        return False
    return "aws" in values or "aws_env" in item.fixturenames


def pytest_collection_modifyitems(config, items):
    requested = _tier_requested(config)
    keep, dropped = [], []
    for item in items:
        if not _in_tier(item):
            keep.append(item)
            continue
        item.add_marker(pytest.mark.localstack)
        contract = getattr(item, "function", None) is not None and \
            item.function.__module__.startswith("tests.contract.")
        if not requested or (contract and not _touches_aws(item)):
            dropped.append(item)
            continue
        keep.append(item)
    if not requested:
        _opted_out.append(len(dropped))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if _opted_out and _opted_out[0]:
        terminalreporter.write_line(
            f"LocalStack tier: {_opted_out[0]} tests left out (run them: make test-localstack)")
    if "start_s" in _started:
        terminalreporter.write_line(
            f"LocalStack: ready in {_started['start_s']:.1f} s (spawn to every service available)")


@pytest.fixture(scope="session")
def localstack():
    try:
        server = LocalStackServer.start()
    except LocalStackUnavailable as exc:
        pytest.skip(f"LocalStack tier: cannot start LocalStack: {exc}")
    _started["start_s"] = server.start_s
    yield server
    server.stop()


@pytest.fixture
def ls_env(localstack, monkeypatch) -> str:
    """Point boto3 at LocalStack; returns its endpoint URL."""
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", localstack.url)
    return localstack.url


def delete_stack(cfn, name: str, timeout_s: float = 60.0) -> None:
    """Delete stack ``name`` if it exists (emptying its claim-check bucket first, as
    CloudFormation refuses to delete a non-empty bucket) and wait until it is gone."""
    import boto3

    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return
    bucket = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}.get(
        "ClaimCheckBucketName")
    if bucket:
        s3 = boto3.resource("s3")
        try:
            s3.Bucket(bucket).objects.all().delete()
        except s3.meta.client.exceptions.NoSuchBucket:
            pass
    cfn.delete_stack(StackName=name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        except cfn.exceptions.ClientError:
            return
        if status == "DELETE_COMPLETE":
            return
        if status == "DELETE_FAILED":
            raise RuntimeError(f"stack {name} could not be deleted")
        time.sleep(0.2)
    raise RuntimeError(f"stack {name} not deleted within {timeout_s} s")


@pytest.fixture
def aws_env(ls_env):
    """The contract suites' AWS, on LocalStack: their stack deleted before each test."""
    import boto3

    delete_stack(boto3.client("cloudformation"), f"{CONTRACT_PREFIX}-stack")
    return ls_env


#: Seconds per ``VisibilityTimeout<Queue>`` parameter the ``stack`` fixture passes: distinct,
#: so a template that wires one queue to another's parameter fails the deploy test.
STACK_VISIBILITY = {"VisibilityTimeoutHigh": 190, "VisibilityTimeoutMedium": 191,
                    "VisibilityTimeoutLow": 192, "VisibilityTimeoutHeavy": 740,
                    "VisibilityTimeoutBatch": 741}


@pytest.fixture
def stack(ls_env):
    """A fresh template stack under a unique prefix: ``(prefix, outputs)``. MaxReceiveCount 2,
    each queue's visibility timeout :data:`STACK_VISIBILITY` (distinct per queue, each over its
    template MinValue). Deleted after the test."""
    import boto3

    from spillway.deploy import provision

    prefix = "ls-" + uuid.uuid4().hex[:8]
    cfn = boto3.client("cloudformation")
    outputs = provision(prefix, max_receive_count=2, visibility=STACK_VISIBILITY, cfn=cfn,
                        stack_name=f"{prefix}-stack")
    yield prefix, outputs
    delete_stack(cfn, f"{prefix}-stack")


@pytest.fixture(params=["aws"])
def queue_backend(request) -> Backend:
    """The contract suites' ``queue_backend`` (``aws`` only) with LocalStack's clock: ``advance``
    sleeps :data:`SQS_TICK_S` longer than asked."""
    import boto3

    request.getfixturevalue("aws_stack")
    from chalicelib.adapters.aws.sqs_queue import SqsQueue

    return Backend("aws", SqsQueue.from_prefix(boto3.client("sqs"), CONTRACT_PREFIX),
                   lambda seconds: time.sleep(seconds + SQS_TICK_S))
