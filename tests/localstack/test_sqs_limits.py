"""SQS's message size limit in bytes, attributes included, on LocalStack's SQS, through the real
:class:`~chalicelib.adapters.aws.sqs_queue.SqsQueue`.

AWS SQS quotas: a message is at most 1 MiB (1,048,576 bytes), counting the body and, for every
message attribute, its name, data type and value. The adapter checks this before the call
(``queue_rules.check_message``); with that check lifted the server's own count is seen.
"""

from __future__ import annotations

import boto3
import pytest

from chalicelib.adapters.aws.sqs_queue import SQS_MAX_MESSAGE_BYTES, SqsQueue
from chalicelib.core.queues import message_bytes
from chalicelib.errors import PermanentDependencyError

ATTRIBUTES = {"priority": "high", "event": "issues", "delivery_id": "d-ü-1"}


def body_for(total_bytes: int) -> str:
    """A body that makes body + :data:`ATTRIBUTES` exactly ``total_bytes`` (ends in a 3-byte
    character, so characters and bytes differ)."""
    attr_bytes = message_bytes("", ATTRIBUTES)
    return "b" * (total_bytes - attr_bytes - 3) + "✓"


@pytest.fixture
def queue(stack) -> SqsQueue:
    prefix, _ = stack
    return SqsQueue.from_prefix(boto3.client("sqs"), prefix)


@pytest.fixture
def unchecked_queue(queue) -> SqsQueue:
    """The same adapter with its own size check lifted, so LocalStack decides."""
    queue.max_message_bytes = 10 * SQS_MAX_MESSAGE_BYTES
    return queue


def test_exactly_1_mib_with_attributes_is_accepted_and_round_trips(queue):
    body = body_for(SQS_MAX_MESSAGE_BYTES)
    assert message_bytes(body, ATTRIBUTES) == SQS_MAX_MESSAGE_BYTES
    queue.send("high", body, ATTRIBUTES)
    [msg] = queue.receive("high", 1, 30, wait_s=1)
    assert msg.body == body
    assert msg.attributes == ATTRIBUTES


def test_one_byte_over_is_refused_by_the_adapter_and_nothing_is_sent(queue):
    with pytest.raises(PermanentDependencyError, match="exceeds the 1048576-byte limit"):
        queue.send("high", body_for(SQS_MAX_MESSAGE_BYTES + 1), ATTRIBUTES)
    assert queue.stats("high").total == 0


def test_localstack_counts_the_attributes_as_the_adapter_does(unchecked_queue):
    """Server side: over the limit only because of the attributes -> rejected (400, a
    permanent error); the same body without attributes is accepted."""
    body = body_for(SQS_MAX_MESSAGE_BYTES + 1)
    with pytest.raises(PermanentDependencyError, match="InvalidParameterValue|too long"):
        unchecked_queue.send("high", body, ATTRIBUTES)
    unchecked_queue.send("high", body)  # the body alone is under 1 MiB
    assert unchecked_queue.stats("high").visible == 1
