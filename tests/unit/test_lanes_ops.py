"""Which Lambda functions the lanes verbs switch, and when they switch none."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigError
from spillway.ops.lanes import aws_mappings

AWS = {"SPILLWAY_BACKEND": "aws", "AWS_DEFAULT_REGION": "us-east-1"}


def test_no_lambda_mappings_on_postgres_or_a_local_stack():
    assert aws_mappings({"SPILLWAY_BACKEND": "postgres"}) is None
    assert aws_mappings({**AWS, "SPILLWAY_URL": "http://127.0.0.1:1/webhooks/github"}) is None


def test_function_names_follow_the_stage_or_spillway_functions():
    m = aws_mappings({**AWS, "SPILLWAY_STAGE": "prod"})
    assert m.qualified("worker_high", "lane-1") == "spillway-prod-worker_high"
    assert m.qualified("worker_high", "lane-2") == "spillway-prod-worker_high:lane-2"
    m = aws_mappings({**AWS, "SPILLWAY_FUNCTIONS": '{"worker_high": "spillway-prod-WorkerHigh-x"}'})
    assert m.qualified("worker_high", "lane-3") == "spillway-prod-WorkerHigh-x:lane-3"
    assert m.qualified("worker_low", "lane-1") == "spillway-dev-worker_low"
    with pytest.raises(ConfigError, match="SPILLWAY_FUNCTIONS"):
        aws_mappings({**AWS, "SPILLWAY_FUNCTIONS": "{nope"})
