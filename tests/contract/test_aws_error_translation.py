"""botocore errors leave the AWS adapters as Spillway errors (``chalicelib.adapters.aws.errors``)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from chalicelib.adapters.aws.dynamo_state import DynamoState
from chalicelib.adapters.aws.s3_blob import S3Blob
from chalicelib.adapters.aws.sqs_queue import SqsQueue
from chalicelib.errors import DependencyUnavailable, NotFound
from spillway.local.embedded import free_port


def test_unreachable_endpoint_is_dependency_unavailable(aws_env):
    client = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{free_port()}",
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1))
    queue = SqsQueue(client, {"high": "http://127.0.0.1/123456789012/x-high"})
    with pytest.raises(DependencyUnavailable):
        queue.send("high", "x")


def test_missing_resources_are_not_found(aws_env):
    with pytest.raises(NotFound):
        SqsQueue.from_prefix(boto3.client("sqs"), "absent")
    with pytest.raises(NotFound):
        DynamoState(boto3.client("dynamodb"), "absent-state").get("k")
    with pytest.raises(NotFound):
        S3Blob(boto3.client("s3"), "absent-bucket").get("s3://absent-bucket/k")
