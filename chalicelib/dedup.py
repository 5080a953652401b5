"""Deduplication of deliveries with Powertools idempotency: :func:`make_dedupe` wraps a function
so it runs once per idempotency key, and turns Powertools' errors into :mod:`chalicelib.errors`
at this boundary. The persistence layer (DynamoDB or PostgreSQL) is chosen by the wiring."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalicelib.errors import DedupUnavailable, DeliveryIdReused, DeliveryInProgress

#: What identifies a delivery in the ``key=`` argument, and the payload fingerprint that must
#: match on a repeat. The key's hash is the same as when the whole ``{hook_id, delivery_id}``
#: dict was the key, so records written before the fingerprint existed still deduplicate.
KEY_JMESPATH = "{hook_id: hook_id, delivery_id: delivery_id}"
FINGERPRINT_JMESPATH = "payload_sha256"


def make_dedupe(layer: Any, ttl_s: int) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """A decorator making a function run once per ``key=`` argument (Powertools idempotency):
    ``key`` is ``{"hook_id", "delivery_id", "payload_sha256"}``; the first two identify the
    delivery (:data:`KEY_JMESPATH`), the third is checked on a repeat (Powertools payload
    validation, :data:`FINGERPRINT_JMESPATH`).

    A repeated key with the same fingerprint returns the first result with ``"duplicate": True``
    added (response hook); a different fingerprint raises :class:`DeliveryIdReused` without
    running the function (a record written before fingerprints has none: its repeats are refused
    too, which loses nothing -- the first copy was accepted). Raises
    :class:`DeliveryInProgress` while another invocation holds the key and
    :class:`DedupUnavailable` when the idempotency store fails; the function's own errors pass.
    Records expire after ``ttl_s`` seconds; an in-progress record expires with the Lambda
    context's remaining time, so a crashed invocation does not block redelivery.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        BaseError,
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(expires_after_seconds=ttl_s, event_key_jmespath=KEY_JMESPATH,
                               payload_validation_jmespath=FINGERPRINT_JMESPATH,
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
            except IdempotencyValidationError as exc:
                raise DeliveryIdReused("this delivery id was already accepted with a different "
                                       "payload; a redelivery carries the same bytes") from exc
            except BaseError as exc:
                raise DedupUnavailable(f"dedup store: {exc}") from exc

        wrapped.config = config  # so handlers can register the Lambda context
        return wrapped

    return decorate
