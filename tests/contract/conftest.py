"""Fixtures of the contract suite: every port, once per backend.

* ``aws``      -- adapters on the moto server, resources provisioned from
  ``infra/template.yaml`` through CloudFormation ``create_stack`` (as on AWS);
* ``postgres`` -- adapters on a fresh database with ``migrations/queue`` applied.

Each ``*_backend`` fixture yields a :class:`Backend`: the port, the backend's name and
``advance(seconds)`` -- real sleep against SQS (its clock is the server's), a fake clock step
against PostgreSQL (the adapters take an injected clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

PREFIX = "ct"
#: Small redrive threshold passed to the template's MaxReceiveCount parameter.
MAX_RECEIVE_COUNT = 2
BACKENDS = ["aws", "postgres"]


@dataclass
class Backend:
    kind: str
    port: Any
    advance: Callable[[float], None]


class FakeClock:
    """Epoch seconds that move only when told (starts at the real time)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def provision_stack(prefix: str = PREFIX, max_receive_count: int = MAX_RECEIVE_COUNT
                    ) -> dict[str, str]:
    """Create the template's stack in the AWS that boto3 points at; returns its outputs."""
    import boto3

    from spillway.deploy import provision

    return provision(prefix, max_receive_count, cfn=boto3.client("cloudformation"),
                     stack_name=f"{prefix}-stack")


@pytest.fixture
def aws_stack(aws_env):
    return provision_stack()


@pytest.fixture
def queue_pool(pg_url):
    """A connection pool on a fresh database with ``migrations/queue`` applied."""
    from psycopg_pool import ConnectionPool

    from spillway.migrate import migrate

    migrate(pg_url, "queue")
    pool = ConnectionPool(pg_url, min_size=1, max_size=12, open=True,
                          check=ConnectionPool.check_connection)
    yield pool
    pool.close()


def _aws_client(service: str) -> Any:
    import boto3

    return boto3.client(service)


@pytest.fixture(params=BACKENDS)
def queue_backend(request) -> Backend:
    if request.param == "aws":
        request.getfixturevalue("aws_stack")
        from chalicelib.adapters.aws.sqs_queue import SqsQueue

        return Backend("aws", SqsQueue.from_prefix(_aws_client("sqs"), PREFIX), time.sleep)
    from chalicelib.adapters.postgres.queue import PgQueue

    clock = FakeClock()
    pool = request.getfixturevalue("queue_pool")
    return Backend("postgres", PgQueue(pool, max_receive_count=MAX_RECEIVE_COUNT, now=clock),
                   clock.advance)


@pytest.fixture(params=[*BACKENDS, "memory"])
def state_backend(request) -> Backend:
    if request.param == "memory":  # the test fake must keep the same contract
        from tests.fakes import MemoryState

        return Backend("memory", MemoryState(), time.sleep)
    if request.param == "aws":
        request.getfixturevalue("aws_stack")
        from chalicelib.adapters.aws.dynamo_state import DynamoState

        return Backend("aws", DynamoState(_aws_client("dynamodb"), f"{PREFIX}-state"),
                       time.sleep)
    from chalicelib.adapters.postgres.state import PgState

    return Backend("postgres", PgState(request.getfixturevalue("queue_pool")), time.sleep)


@pytest.fixture(params=BACKENDS)
def blob_backend(request) -> Backend:
    if request.param == "aws":
        outputs = request.getfixturevalue("aws_stack")
        from chalicelib.adapters.aws.s3_blob import S3Blob

        return Backend("aws", S3Blob(_aws_client("s3"), outputs["ClaimCheckBucketName"]),
                       time.sleep)
    from chalicelib.adapters.postgres.blob import PgBlob

    return Backend("postgres", PgBlob(request.getfixturevalue("queue_pool")), time.sleep)


@pytest.fixture(params=BACKENDS)
def idempotency_backend(request) -> Backend:
    """The edge's dedup records (:class:`chalicelib.dedup.DedupStore`): DynamoDedup on the
    idempotency table (aws) or PgIdempotencyLayer (postgres). Callers pass ``now``."""
    if request.param == "aws":
        request.getfixturevalue("aws_stack")
        from chalicelib.adapters.aws.dynamo_dedup import DynamoDedup

        return Backend("aws", DynamoDedup(_aws_client("dynamodb"), f"{PREFIX}-idempotency"),
                       time.sleep)
    from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer

    return Backend("postgres", PgIdempotencyLayer(request.getfixturevalue("queue_pool")),
                   time.sleep)
