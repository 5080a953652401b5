"""Deduplication of deliveries with Powertools idempotency: :func:`make_dedupe` wraps a function
so it runs once per idempotency key, and turns Powertools' errors into :mod:`chalicelib.errors`
at this boundary. The persistence layer (DynamoDB or PostgreSQL) is chosen by the wiring."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalicelib.errors import DedupUnavailable, DeliveryInProgress


def make_dedupe(layer: Any, ttl_s: int) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """A decorator making a function run once per ``key=`` argument (Powertools idempotency).

    A repeated key returns the first result with ``"duplicate": True`` added (response hook).
    Raises :class:`DeliveryInProgress` while another invocation holds the key and
    :class:`DedupUnavailable` when the idempotency store fails; the function's own errors pass.
    Records expire after ``ttl_s`` seconds; an in-progress record expires with the Lambda
    context's remaining time, so a crashed invocation does not block redelivery.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        BaseError,
        IdempotencyAlreadyInProgressError,
    )

    config = IdempotencyConfig(expires_after_seconds=ttl_s,
                               response_hook=lambda response, _record: {**response,
                                                                        "duplicate": True})

    def decorate(fn: Callable[..., dict]) -> Callable[..., dict]:
        once = idempotent_function(fn, data_keyword_argument="key", persistence_store=layer,
                                   config=config, key_prefix="delivery")

        @functools.wraps(fn)
        def wrapped(**kwargs: Any) -> dict:
            # Powertools' errors become ours here, at the boundary (it wraps every store
            # failure in one of its BaseError classes); fn's own errors pass unchanged.
            try:
                return once(**kwargs)
            except IdempotencyAlreadyInProgressError as exc:
                raise DeliveryInProgress(str(exc)) from exc
            except BaseError as exc:
                raise DedupUnavailable(f"dedup store: {exc}") from exc

        wrapped.config = config  # so handlers can register the Lambda context
        return wrapped

    return decorate
