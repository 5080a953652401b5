"""Composition root: builds the edge and the worker from :class:`Settings`, lazily, once per
process (cold start). No I/O at import; clients are created on first use, as in the Chalice
sample apps (``get_app_db()``).

Backends (``SPILLWAY_BACKEND``):

* ``aws``      -- SQS queues, DynamoDB state and idempotency tables, S3 claim checks; boto3
  honours ``AWS_ENDPOINT_URL`` (the moto server locally).
* ``postgres`` -- queues, state, idempotency records and blobs in the PostgreSQL database at
  ``QUEUE_DATABASE_URL`` (defaults to ``DATABASE_URL``); the application tables may live in
  another database or server, so an application-database outage does not stop the edge.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

from chalicelib.errors import ConfigError
from chalicelib.settings import get_settings

_lock = threading.RLock()
#: The dependency the workers' circuit breaker protects.
BREAKER_NAME = "postgres"


def _built(getter: Callable[[], Any]) -> Any:
    """``getter()``, built under a lock the first time (threads of the local runtime race)."""
    if getter.cache_info().currsize:
        return getter()
    with _lock:
        return getter()


#: Cache-clearing functions of other composition roots (e.g. the reconciler's), called by
#: :func:`reset`; they register with :func:`on_reset`.
_reset_hooks: list[Callable[[], None]] = []


def on_reset(fn: Callable[[], None]) -> Callable[[], None]:
    """Have :func:`reset` call ``fn`` (a cache's ``cache_clear``) too; returns ``fn``."""
    _reset_hooks.append(fn)
    return fn


def reset() -> None:
    """Close the connection pools and forget every cached object (tests; the local runtime
    after changing settings); the next invocation logs as a cold start. Safe to call at any
    time; never raises."""
    from chalicelib import logs

    logs.reset_cold_start()
    with _lock:
        for hook in _reset_hooks:
            with contextlib.suppress(Exception):
                hook()
        for getter in (get_queue_pool, _app_pool):
            if getter.cache_info().currsize:
                with contextlib.suppress(Exception):
                    getter().close()
        for fn in (get_settings, boto_session, boto_client, get_queue_pool, _app_pool, get_queue, get_state,
                   get_blobs, get_edge, get_worker, get_breaker, get_slots, get_lanes,
                   _secret_getter, get_metrics):
            fn.cache_clear()


@lru_cache(maxsize=1)
def boto_session():
    """The process's one boto3 session: every client (the edge's and the workers') is built
    from it, so credentials, endpoints and service models are loaded once per cold start."""
    import boto3

    return boto3.session.Session()


def new_boto_client(service: str, config: Any):
    """A client for ``service`` from :func:`boto_session` with botocore ``config``, in the
    configured region; honours AWS_ENDPOINT_URL. Built under the wiring lock (a boto3 session
    is not thread-safe while it builds clients)."""
    with _lock:
        return boto_session().client(service, region_name=get_settings().region, config=config)


@cache
def boto_client(service: str):
    """A boto3 client for ``service``, one per process (thread-safe); honours AWS_ENDPOINT_URL."""
    from botocore.config import Config

    cfg = Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=64,
                 connect_timeout=2, read_timeout=10)
    return new_boto_client(service, cfg)


@lru_cache(maxsize=1)
def get_queue_pool():
    """The postgres backend's connection pool on ``QUEUE_DATABASE_URL`` (queues, state,
    idempotency records, blobs). Raises :class:`ConfigError` when no URL is set."""
    from chalicelib.adapters.postgres.pool import make_pool

    settings = get_settings()
    if not settings.queue_database_url:
        raise ConfigError("QUEUE_DATABASE_URL (or DATABASE_URL) is required for the postgres backend")
    return make_pool(settings.queue_database_url, min_size=1, max_size=settings.queue_pool_size,
                     name="spillway-queue")


def app_pool():
    """The workers' (and the reconciler's) pool on the application database, built once.
    Raises :class:`ConfigError` when neither ``DATABASE_URL`` nor ``DATABASE_URL_PARAM`` is set."""
    return _built(_app_pool)


@lru_cache(maxsize=1)
def _app_pool():
    from chalicelib.adapters.postgres.pool import make_pool

    settings = get_settings()
    url = settings.database_url
    if not url and settings.database_url_param:
        from aws_lambda_powertools.utilities import parameters

        url = parameters.get_parameter(settings.database_url_param, decrypt=True)
    if not url:
        raise ConfigError("DATABASE_URL or DATABASE_URL_PARAM is required by the workers")
    return make_pool(url, min_size=0, max_size=settings.db_pool_size)


@lru_cache(maxsize=1)
def get_queue():
    """The :class:`~chalicelib.ports.QueuePort` of the configured backend."""
    settings = get_settings()
    if settings.backend == "postgres":
        from chalicelib.adapters.postgres.queue import PgQueue

        return PgQueue(get_queue_pool(), max_receive_count=settings.max_receive_count)
    from chalicelib.adapters.aws.sqs_queue import SqsQueue

    return SqsQueue.from_prefix(boto_client("sqs"), settings.queue_prefix)


@lru_cache(maxsize=1)
def get_state():
    """The :class:`~chalicelib.ports.StatePort` (circuit breaker items) of the configured backend."""
    settings = get_settings()
    if settings.backend == "postgres":
        from chalicelib.adapters.postgres.state import PgState

        return PgState(get_queue_pool())
    from chalicelib.adapters.aws.dynamo_state import DynamoState

    return DynamoState(boto_client("dynamodb"), settings.state_table)


@lru_cache(maxsize=1)
def get_blobs():
    """Claim-check storage (:class:`~chalicelib.ports.BlobPort`)."""
    settings = get_settings()
    if settings.backend == "postgres":
        from chalicelib.adapters.postgres.blob import PgBlob

        return PgBlob(get_queue_pool())
    if not settings.claim_check_bucket:
        raise ConfigError("CLAIM_CHECK_BUCKET is required by the aws backend (the infra "
                          "stack's ClaimCheckBucketName output)")
    from chalicelib.adapters.aws.s3_blob import S3Blob

    return S3Blob(boto_client("s3"), settings.claim_check_bucket)


@lru_cache(maxsize=1)
def _secret_getter() -> Callable[[], tuple[str, ...]]:
    """The edge's accepted-secrets callable (:func:`chalicelib.webhook_secrets.secret_getter`),
    built once per process."""
    from chalicelib.webhook_secrets import secret_getter

    return secret_getter(get_settings())


@lru_cache(maxsize=1)
def get_metrics():
    """Powertools EMF metrics (namespace ``Spillway``); off with POWERTOOLS_METRICS_DISABLED."""
    from aws_lambda_powertools import Metrics

    return Metrics(namespace="Spillway", service="spillway")


@lru_cache(maxsize=1)
def get_edge():
    """The edge, on its own deadline-sized clients (:mod:`chalicelib.edge_clients`)."""
    from chalicelib import edge_clients, logs
    from chalicelib.edge import Edge

    logs.setup()
    settings = get_settings()
    deps = edge_clients.edge_dependencies()
    return Edge(queue=deps["queue"], blobs=deps["blobs"], secret=_secret_getter(),
                max_body_bytes=settings.max_body_bytes,
                dedup=deps["dedup"], ttl_s=settings.idempotency_ttl_s,
                metrics=get_metrics(), deadline_s=settings.edge_deadline_s,
                shared_store=deps["shared_store"])


@lru_cache(maxsize=1)
def get_breaker():
    """The shared circuit breaker protecting the application database (``postgres``)."""
    settings = get_settings()
    if not settings.breaker_enabled:
        return None
    from chalicelib.core.breaker import BreakerConfig
    from chalicelib.shared_breaker import SharedCircuitBreaker

    # fail_open: if the state store is unreachable, the database path still runs (the
    # breaker protects PostgreSQL; it must not become a second single point of failure).
    return SharedCircuitBreaker(BREAKER_NAME, get_state(),
                                BreakerConfig(wait_in_open_s=settings.breaker_open_s,
                                              skew_margin_s=settings.breaker_skew_margin_s),
                                store_failure_policy="fail_open", metrics=get_metrics())


@lru_cache(maxsize=1)
def get_slots():
    """The shared database slots guarding the application database, or None when
    ``SLOTS_ENABLED`` is off (see :mod:`chalicelib.shared_slots`); they follow a tier lift
    (``tier#lift``, read at most once per ``LIFT_CACHE_S``)."""
    settings = get_settings()
    if not settings.slots_enabled:
        return None
    from chalicelib.core.concurrency.limit import Aimd, Bounds, Gradient2
    from chalicelib.shared_slots import SharedSlots
    from chalicelib.tier_lift import LiftView

    algorithm = Gradient2() if settings.slot_algorithm == "gradient2" else Aimd()
    state = get_state()
    return SharedSlots(BREAKER_NAME, state,
                       bounds=Bounds(settings.slot_min_limit, settings.slot_max_limit),
                       lease_s=settings.slot_lease_s, count=settings.slot_count,
                       algorithm=algorithm, metrics=get_metrics(),
                       lift=LiftView(state, cache_ttl_s=settings.lift_cache_s))


@lru_cache(maxsize=1)
def get_lanes():
    """The workers' lane outcome recorder (:mod:`chalicelib.lane_outcomes`): each batch counts
    for the lane of its invoked ARN."""
    from chalicelib.lane_outcomes import LaneOutcomes

    return LaneOutcomes(get_state(), get_settings().lane_config, metrics=get_metrics())


@lru_cache(maxsize=1)
def get_worker():
    from chalicelib import logs
    from chalicelib.appdb import AppDatabase
    from chalicelib.worker import Worker

    logs.setup()
    settings = get_settings()
    return Worker(queue=get_queue(), blobs=get_blobs(), store=AppDatabase(_app_pool()),
                  breaker=get_breaker(), slots=get_slots(), retry_base_s=settings.retry_base_s,
                  lanes=get_lanes(),
                  retry_max_s=settings.retry_max_s, metrics=get_metrics())


# --- entry points used by app.py ------------------------------------------------------------
def handle_webhook(headers: Any, body: bytes | None, context: Any):
    """The edge route: returns an :class:`~chalicelib.edge.EdgeResponse`; flushes metrics."""
    edge = _built(get_edge)
    _cold_start()
    if context is not None:
        edge.register_context(context)
    try:
        return edge.handle(headers, body)
    finally:
        flush_metrics()


def handle_sqs(event: dict, context: Any, *, queue: str) -> dict:
    """A worker invocation: returns the partial batch response; flushes metrics."""
    worker = _built(get_worker)
    _cold_start()
    try:
        return worker.handle_batch(event, context, queue=queue)
    finally:
        flush_metrics()


def _cold_start() -> None:
    """Mark an invocation for the logs' ``cold_start`` flag (the first one of the process)."""
    from chalicelib import logs

    logs.invocation()


def liveness() -> dict:
    """The public health route: no I/O at all. It runs on the edge function, whose reserved
    concurrency belongs to GitHub's deliveries, so it must be cheap; depths and breaker state
    are ``spillway status``'s (``spillway/ops/status.py``)."""
    return {"status": "ok", "backend": get_settings().backend}


def flush_metrics() -> None:
    """Write out (or, when disabled, drop) the metrics recorded so far; never raises."""
    # Powertools' log_metrics cannot wrap a one-argument Chalice handler (DESIGN.md 2b).
    try:
        metrics = get_metrics()
        if metrics.metric_set:  # an empty flush only warns "No application metrics to publish"
            metrics.flush_metrics()
        # With POWERTOOLS_METRICS_DISABLED, flush neither prints nor clears, and Powertools
        # prints by itself once a metric holds 100 values: clear so nothing piles up.
        metrics.clear_metrics()
    except Exception:  # metrics must never fail a delivery
        pass


def close() -> None:
    """Shut down (local runtime, tests): write out the breaker's and the lanes' pending
    outcomes, then :func:`reset`. Never raises."""
    if get_breaker.cache_info().currsize:
        with contextlib.suppress(Exception):
            breaker = get_breaker()
            if breaker is not None:
                breaker.flush()
    if get_lanes.cache_info().currsize:
        with contextlib.suppress(Exception):
            get_lanes().flush()
    reset()
