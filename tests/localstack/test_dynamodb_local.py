"""DynamoDB Local's validation (LocalStack's DynamoDB is Amazon's DynamoDB Local) through the
real :class:`~chalicelib.adapters.aws.dynamo_state.DynamoState` on the template's state table.

Limits from the AWS DynamoDB developer guide ("Service, account, and table quotas"): item size
at most 400 KB = 409,600 bytes, counted as the UTF-8 bytes of every attribute name plus value;
a key attribute's string value may not be empty.
"""

from __future__ import annotations

import boto3
import pytest

from chalicelib.adapters.aws.dynamo_state import DynamoState
from chalicelib.breaker_item import breaker_key
from chalicelib.errors import ConflictError, PermanentDependencyError

#: 400 KB (AWS DynamoDB quotas).
MAX_ITEM_BYTES = 409_600


@pytest.fixture
def state(stack) -> DynamoState:
    prefix, outputs = stack
    return DynamoState(boto3.client("dynamodb"), outputs["StateTableName"])


def test_breaker_item_compare_and_set_conditions(state):
    """The conditions the breaker's writes carry (``attribute_not_exists(id)`` for the first
    write, ``version = :expected`` after), as DynamoDB Local evaluates them."""
    key = breaker_key("database")
    first = state.put(key, {"state": "CLOSED", "failures": 0}, expected_version=None)
    assert first.version == 1
    with pytest.raises(ConflictError, match="ConditionalCheckFailedException"):
        state.put(key, {"state": "CLOSED"}, expected_version=None)  # someone created it first
    opened = state.put(key, {"state": "OPEN", "open_until": 1.5e9}, expected_version=1,
                       expires_at=2e9)
    with pytest.raises(ConflictError):
        state.put(key, {"state": "HALF_OPEN"}, expected_version=1)  # a stale writer loses
    with pytest.raises(ConflictError):
        state.put(breaker_key("absent"), {}, expected_version=4)
    with pytest.raises(ConflictError):
        state.delete(key, expected_version=1)
    assert state.get(key) == opened
    state.delete(key, expected_version=2)
    assert state.get(key) is None


def test_empty_string_key_is_rejected_and_nothing_is_stored(state):
    with pytest.raises(PermanentDependencyError, match="ValidationException"):
        state.put("", {"state": "CLOSED"}, expected_version=None)
    with pytest.raises(PermanentDependencyError, match="ValidationException"):
        state.get("")
    assert state.scan("") == []


def test_item_over_400_kb_is_rejected_through_the_adapter(state):
    key = breaker_key("big")
    fits = "x" * (MAX_ITEM_BYTES - 2_000)
    stored = state.put(key, {"note": fits}, expected_version=None)
    assert state.get(key).data["note"] == fits
    with pytest.raises(PermanentDependencyError, match="ValidationException"):
        state.put(key, {"note": "x" * MAX_ITEM_BYTES}, expected_version=1)
    assert state.get(key) == stored  # the failed write changed nothing


@pytest.mark.parametrize("extra, accepted", [(0, True), (1, False)])
def test_item_size_counts_attribute_names_and_values_in_utf8_bytes(stack, extra, accepted):
    """Exactly 409,600 bytes is accepted, one more is not; a two-byte character counts 2."""
    _, outputs = stack
    ddb = boto3.client("dynamodb")
    key = "k"
    # "id" + "k" + "data" + value == limit + extra; the value ends with "é" (2 bytes in UTF-8)
    value = "y" * (MAX_ITEM_BYTES + extra - len("id") - len(key) - len("data") - 2) + "é"
    item = {"id": {"S": key}, "data": {"S": value}}
    if accepted:
        ddb.put_item(TableName=outputs["StateTableName"], Item=item)
        got = ddb.get_item(TableName=outputs["StateTableName"], Key={"id": {"S": key}},
                           ConsistentRead=True)["Item"]
        assert got["data"]["S"] == value
    else:
        with pytest.raises(ddb.exceptions.ClientError, match="Item size has exceeded"):
            ddb.put_item(TableName=outputs["StateTableName"], Item=item)


def test_table_name_shorter_than_3_characters_is_rejected(ls_env):
    ddb = boto3.client("dynamodb")
    with pytest.raises(ddb.exceptions.ClientError, match="between 3 and 255 characters"):
        ddb.create_table(TableName="t1", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
