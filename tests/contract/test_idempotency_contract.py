"""Powertools idempotency over our persistence layers: DynamoDBPersistenceLayer on the aws
backend, PgIdempotencyLayer on postgres; both must run a function once per key."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)


class LambdaContext:
    """The one method of a Lambda context that Powertools idempotency reads."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _wrap(layer, calls: list):
    config = IdempotencyConfig(event_key_jmespath="delivery", expires_after_seconds=3600)
    config.register_lambda_context(LambdaContext())

    @idempotent_function(data_keyword_argument="event", persistence_store=layer, config=config)
    def handle(event: dict) -> dict:
        calls.append(event["delivery"])
        return {"stored": event["delivery"], "n": len(calls)}

    return handle, config


def test_runs_once_per_key(idempotency_backend):
    calls: list = []
    handle, _ = _wrap(idempotency_backend.port, calls)
    first = handle(event={"delivery": "d-1", "noise": 1})
    assert handle(event={"delivery": "d-1", "noise": 2}) == first == {"stored": "d-1", "n": 1}
    assert handle(event={"delivery": "d-2"}) == {"stored": "d-2", "n": 2}
    assert calls == ["d-1", "d-2"]


def test_in_progress_record_blocks_a_second_run(idempotency_backend):
    calls: list = []
    layer = idempotency_backend.port
    handle, config = _wrap(layer, calls)
    handle(event={"delivery": "warm-up"})  # configures the layer with the function's name
    event = {"delivery": "d-3"}
    layer.save_inprogress(data=event, remaining_time_in_millis=60_000)
    with pytest.raises(IdempotencyAlreadyInProgressError):
        handle(event=event)
    assert calls == ["warm-up"]


def test_expired_in_progress_record_is_taken_over(idempotency_backend):
    calls: list = []
    layer = idempotency_backend.port
    handle, _ = _wrap(layer, calls)
    handle(event={"delivery": "warm-up"})
    event = {"delivery": "d-4"}
    layer.save_inprogress(data=event, remaining_time_in_millis=-1000)  # its Lambda timed out
    assert handle(event=event) == {"stored": "d-4", "n": 2}
    assert calls == ["warm-up", "d-4"]


def test_pg_expired_completed_record_runs_again(queue_pool):
    """Expiry is checked in the conditional write, never left to a TTL sweeper."""
    import time

    from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer

    calls: list = []
    handle, _ = _wrap(PgIdempotencyLayer(queue_pool), calls)
    handle(event={"delivery": "d-5"})
    later, _ = _wrap(PgIdempotencyLayer(queue_pool, now=lambda: time.time() + 7200), calls)
    later(event={"delivery": "d-5"})  # the 1 h record has expired by then
    assert calls == ["d-5", "d-5"]
