"""The edge's own dependency clients, sized to its deadline (``EDGE_DEADLINE_S``).

The workers keep :func:`chalicelib.wiring.boto_client` (2 s connect, 10 s read, 3 attempts)
and the queue pool's 5 s wait; the edge must answer GitHub within its deadline, so its SQS,
DynamoDB and S3 clients make one attempt with :func:`chalicelib.edge.call_timeouts`, and on
the postgres backend it borrows from its own pool whose wait (``psycopg_pool`` ``timeout``)
is one call's share of the deadline. Built on first use, once per process, from the process's one
boto3 session (:func:`chalicelib.wiring.boto_session`): the S3 client only when a claim check
needs it, each queue URL when the queue is first sent to. :func:`chalicelib.wiring.reset`
forgets them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from chalicelib.edge import EDGE_DEPENDENCY_CALLS, call_timeouts
from chalicelib.errors import ConfigError
from chalicelib.settings import get_settings
from chalicelib.wiring import new_boto_client, on_reset


@cache
def edge_boto_client(service: str):
    """A boto3 client for ``service`` for the edge: one attempt (``total_max_attempts=1``:
    a retry would spend another call's share), connect/read timeouts from
    :func:`~chalicelib.edge.call_timeouts` (0.42 s / 0.83 s at the default 5 s)."""
    from botocore.config import Config

    connect_s, read_s = call_timeouts(get_settings().edge_deadline_s)
    cfg = Config(retries={"mode": "standard", "total_max_attempts": 1},
                 max_pool_connections=64, connect_timeout=connect_s, read_timeout=read_s)
    return new_boto_client(service, cfg)


class OnFirstUse:
    """A stand-in for the client ``build()`` returns, built at its first attribute access
    (then cached): an adapter holding it costs nothing until it calls the client."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)


@lru_cache(maxsize=1)
def edge_pool():
    """The edge's pool on ``QUEUE_DATABASE_URL`` (postgres backend): waits at most one call's
    share of the deadline (1.25 s at 5 s) for a connection, then ``Throttled`` /
    ``DependencyUnavailable``. Raises :class:`ConfigError` when no URL is set."""
    from chalicelib.adapters.postgres.pool import make_pool

    settings = get_settings()
    if not settings.queue_database_url:
        raise ConfigError("QUEUE_DATABASE_URL (or DATABASE_URL) is required for the postgres backend")
    return make_pool(settings.queue_database_url, min_size=1, max_size=settings.queue_pool_size,
                     timeout_s=settings.edge_deadline_s / EDGE_DEPENDENCY_CALLS,
                     name="spillway-edge")


@on_reset
def _forget() -> None:
    """Close the edge's pool (if built) and forget its clients (:func:`wiring.reset`)."""
    if edge_pool.cache_info().currsize:
        edge_pool().close()
    edge_pool.cache_clear()
    edge_boto_client.cache_clear()


def edge_dependencies() -> dict[str, Any]:
    """``queue``, ``blobs`` and ``dedup`` (:class:`chalicelib.dedup.DedupStore`) of the
    configured backend, on the edge's clients; ``shared_store`` is True when the dedup records
    live in the queue's store (postgres). Makes no request."""
    settings = get_settings()
    if settings.backend == "postgres":
        from chalicelib.adapters.postgres.blob import PgBlob
        from chalicelib.adapters.postgres.idempotency import PgIdempotencyLayer
        from chalicelib.adapters.postgres.queue import PgQueue

        pool = edge_pool()
        return {"queue": PgQueue(pool, max_receive_count=settings.max_receive_count),
                "blobs": PgBlob(pool), "dedup": PgIdempotencyLayer(pool), "shared_store": True}
    from chalicelib.adapters.aws.dynamo_dedup import DynamoDedup
    from chalicelib.adapters.aws.s3_blob import S3Blob
    from chalicelib.adapters.aws.sqs_queue import SqsQueue

    if not settings.claim_check_bucket:
        raise ConfigError("CLAIM_CHECK_BUCKET is required by the aws backend (the infra "
                          "stack's ClaimCheckBucketName output)")
    return {"queue": SqsQueue.on_first_use(edge_boto_client("sqs"), settings.queue_prefix),
            "blobs": S3Blob(OnFirstUse(lambda: edge_boto_client("s3")),
                            settings.claim_check_bucket),
            "dedup": DynamoDedup(edge_boto_client("dynamodb"), settings.idempotency_table),
            "shared_store": False}
