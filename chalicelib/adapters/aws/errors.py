"""Translate botocore errors into :mod:`chalicelib.errors` (one place for all AWS adapters).

Mapping (retryable vs permanent follows ``chalicelib.errors``):

* throttling codes (``Throttling``, ``ThrottlingException``, ``RequestThrottled``,
  ``ProvisionedThroughputExceededException``, ``SlowDown``, ...) -> :class:`Throttled`
* ``ConditionalCheckFailedException`` / ``TransactionConflictException`` -> :class:`ConflictError`
* missing queue / table / bucket / key -> :class:`NotFound`
* connection, endpoint and timeout errors (botocore ``HTTPClientError`` family) ->
  :class:`DependencyUnavailable`
* other 5xx -> :class:`DependencyError` (retryable); other 4xx -> :class:`PermanentDependencyError`
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    EndpointConnectionError,
    HTTPClientError,
    ParamValidationError,
)

from chalicelib.errors import (
    ConflictError,
    DependencyError,
    DependencyUnavailable,
    NotFound,
    PermanentDependencyError,
    SpillwayError,
    Throttled,
)

THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException", "KMSThrottlingException",
    "AWS.SimpleQueueService.RequestThrottled",
})
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})
NOT_FOUND_CODES = frozenset({
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "ResourceNotFoundException",
    "NoSuchBucket", "NoSuchKey", "NotFound", "404",
})


def error_code(exc: ClientError) -> str:
    """The AWS error code of ``exc`` (``Error.Code``), or ``""``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate_aws_error(exc: BaseException, what: str) -> SpillwayError:
    """The Spillway error for a botocore exception raised while doing ``what``.

    Returns the exception for the caller to ``raise ... from exc``.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"{what}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        if code in THROTTLING_CODES or status == 429:
            return Throttled(message)
        if code in CONFLICT_CODES:
            return ConflictError(message)
        if code in NOT_FOUND_CODES:
            return NotFound(message)
        if status >= 500 or status == 0:
            return DependencyError(message)
        return PermanentDependencyError(message)
    if isinstance(exc, (EndpointConnectionError, ConnectionError, HTTPClientError)):
        return DependencyUnavailable(f"{what}: {exc}")
    if isinstance(exc, ParamValidationError):
        return PermanentDependencyError(f"{what}: {exc}")
    if isinstance(exc, BotoCoreError):
        return DependencyError(f"{what}: {exc}")
    return DependencyError(f"{what}: {exc!r}")


@contextmanager
def translate_aws_errors(what: str, *, ignore_codes: frozenset[str] = frozenset()
                         ) -> Iterator[None]:
    """Run the ``with`` body; a botocore error leaving it is raised as the Spillway error of
    :func:`translate_aws_error` (``from`` the original), naming ``what`` (e.g.
    ``"get_item spillway-state"``). A ``ClientError`` whose code is in ``ignore_codes`` is
    swallowed: the body is then left as if it had returned."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in ignore_codes:
            return
        raise translate_aws_error(exc, what) from exc
    except BotoCoreError as exc:
        raise translate_aws_error(exc, what) from exc
