"""Settings: one frozen dataclass, loaded and validated once per cold start.

Every key is an environment variable (set by ``.chalice/config.json`` on AWS, by the local
stack locally). An invalid value raises :class:`~chalicelib.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.queues import queue_name
from chalicelib.errors import ConfigError

BACKENDS = ("aws", "postgres")

#: Default body cap in bytes: AWS Lambda's synchronous invocation payload limit is 6 MB
#: (AWS Lambda quotas); API Gateway's is 10 MB and GitHub's own cap 25 MB (GitHub docs,
#: "Webhook events and payloads"), so 6 MB is the binding one on AWS.
DEFAULT_MAX_BODY_BYTES = 6 * 1000 * 1000

#: GitHub lets a failed delivery be redelivered for 3 days (GitHub docs, "Redelivering
#: webhooks"); dedup records outlive that by a day. Seconds.
DEFAULT_IDEMPOTENCY_TTL_S = 4 * 24 * 3600

#: GitHub records a delivery as failed when no answer came within 10 s (GitHub docs, "Best
#: practices for using webhooks": respond within 10 seconds). The edge answers by this many
#: seconds (``EDGE_DEADLINE_S``, default 5, at most 9), leaving room for API Gateway, the
#: network and a cold start.
DEFAULT_EDGE_DEADLINE_S = 5.0
MAX_EDGE_DEADLINE_S = 9.0


def _number(env: Mapping[str, str], key: str, default, lo, hi, parse, kind: str):
    """``env[key]`` parsed by ``parse`` (``int`` or ``float``) within ``[lo, hi]``, or
    ``default`` when unset; raises :class:`ConfigError` naming ``key`` (NaN is refused)."""
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{key} must be {kind}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be between {lo} and {hi}, got {value}")
    return value


def _int(env: Mapping[str, str], key: str, default: int, lo: int, hi: int) -> int:
    return _number(env, key, default, lo, hi, int, "an integer")


def _float(env: Mapping[str, str], key: str, default: float, lo: float, hi: float) -> float:
    return _number(env, key, default, lo, hi, float, "a number")


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(key) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {allowed}, got {value!r}")
    return value


def _instant(env: Mapping[str, str], key: str) -> float | None:
    """An instant as epoch seconds from an ISO 8601 text (``2026-12-02T18:00:00Z``; no zone
    means UTC) or a number of epoch seconds; None when unset."""
    import datetime as dt

    raw = (env.get(key) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{key} must be an ISO 8601 instant (2026-12-02T18:00:00Z) or epoch "
                          f"seconds, got {raw!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def queue_prefix(env: Mapping[str, str] | None = None) -> str:
    """``SPILLWAY_QUEUE_PREFIX`` from ``env`` (default ``os.environ``; default ``spillway``),
    validated, without reading any other key: safe when ``chalice package`` imports ``app.py``
    with no secrets or database set. Raises :class:`ConfigError` naming the key."""
    env = os.environ if env is None else env
    prefix = env.get("SPILLWAY_QUEUE_PREFIX", "spillway").strip()
    if not prefix or not all(c.isalnum() or c in "-_" for c in prefix):
        raise ConfigError(f"SPILLWAY_QUEUE_PREFIX must be [A-Za-z0-9_-]+, got {prefix!r}")
    return prefix


@dataclass(frozen=True)
class Settings:
    """All of Spillway's runtime settings.

    ``backend``: ``aws`` (SQS/DynamoDB/S3) or ``postgres`` (single-node). ``queue_prefix``
    names the queues ``<prefix>-high|medium|low|heavy|batch|dlq``, the tables ``<prefix>-state`` and
    ``<prefix>-idempotency``; ``claim_check_bucket`` is the S3 bucket of claim checks (the infra
    stack's ``ClaimCheckBucketName`` output, ``<prefix>-claim-checks-<account id>``), required
    by the aws backend's edge and workers when they first need it. ``webhook_secret`` is the
    secret itself (local) and ``webhook_secret_param`` an SSM parameter name (AWS); one of them
    is required by the edge. During a secret rotation ``webhook_secret_previous`` (or the SSM
    parameter ``webhook_secret_previous_param``) is accepted too, until
    ``webhook_secret_previous_until`` (epoch s; None: until removed). ``database_url`` is the application database (workers), or
    ``database_url_param`` the SSM SecureString parameter holding it (AWS: keeps the password out
    of the function's environment);
    ``queue_database_url`` is where the postgres backend keeps queues and state (defaults to
    ``database_url``). ``max_body_bytes`` caps request bodies (bytes). ``db_pool_size`` and
    ``queue_pool_size`` are the connection pool sizes per process (application database;
    postgres-backend queue database). ``retry_base_s``/``retry_max_s`` shape the
    worker's exponential backoff (seconds; original strategy: 1 min to 1 h). ``breaker_open_s``
    is how long the database circuit breaker stays open before a half-open probe (seconds).
    ``slots_enabled`` turns on the shared database slots (``chalicelib/shared_slots.py``):
    ``slot_min_limit`` .. ``slot_max_limit`` bound the adaptive limit (the tier plan's
    ``slot_min_limit`` / ``slot_max_limit``; defaults are the free tier's), ``slot_lease_s`` is
    a lease's life in seconds without a heartbeat (the plan's ``WorkerPlan.lease_s``, at most
    ``SLOT_LEASE_S`` = 20: renewed every quarter of it while a batch runs),
    ``slot_count`` the slots a batch holds (the plan's pool size) and ``slot_algorithm`` the
    adaptive limit (``aimd`` or ``gradient2``). ``lift_cache_s``: seconds the slots trust their
    last read of a tier lift (``tier#lift``, :mod:`chalicelib.tier_lift`).
    ``edge_deadline_s`` is the edge's overall answer deadline in seconds (see
    :data:`DEFAULT_EDGE_DEADLINE_S`): its dependency calls are sized to fit in it, and a
    delivery not accepted by then is answered 503 ``deadline``.
    ``lane_minimum_calls`` / ``lane_eject_s`` shape the lanes' ejection (:attr:`lane_config`).
    ``breaker_skew_margin_s`` is the clock skew allowed between instances (seconds): an
    instance other than the one that tripped the breaker half-opens only that long after
    ``open_until`` (``BreakerConfig.skew_margin_s``).
    """

    backend: str = "aws"
    queue_prefix: str = "spillway"
    webhook_secret: str | None = None
    webhook_secret_param: str | None = None
    webhook_secret_previous: str | None = None
    webhook_secret_previous_param: str | None = None
    webhook_secret_previous_until: float | None = None
    database_url: str | None = None
    database_url_param: str | None = None
    queue_database_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    idempotency_ttl_s: int = DEFAULT_IDEMPOTENCY_TTL_S
    max_receive_count: int = 5
    region: str = "us-east-1"
    claim_check_bucket: str | None = None
    db_pool_size: int = 4
    queue_pool_size: int = 4
    retry_base_s: int = 60
    retry_max_s: int = 3600
    breaker_enabled: bool = True
    breaker_open_s: int = 60
    slots_enabled: bool = False
    slot_min_limit: int = 3
    slot_max_limit: int = 15
    slot_lease_s: int = 20
    slot_count: int = 1
    slot_algorithm: str = "aimd"
    breaker_skew_margin_s: int = 10
    edge_deadline_s: float = DEFAULT_EDGE_DEADLINE_S
    lane_minimum_calls: int = 10
    lane_eject_s: int = 30
    lift_cache_s: float = 5.0

    @property
    def lane_config(self):
        """The :class:`~chalicelib.core.concurrency.lanes.LaneConfig` of the shared lanes:
        ``lane_minimum_calls`` invocations (batches) in the 60 s window before a lane's error
        rate can eject it (threshold 50 %), ejected for ``lane_eject_s`` seconds."""
        from chalicelib.core.concurrency.lanes import LaneConfig

        return LaneConfig(minimum_calls=self.lane_minimum_calls, eject_s=self.lane_eject_s)

    @property
    def state_table(self) -> str:
        return f"{self.queue_prefix}-state"

    @property
    def idempotency_table(self) -> str:
        return f"{self.queue_prefix}-idempotency"

    def queue_name(self, queue: str) -> str:
        return queue_name(self.queue_prefix, queue)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build and validate settings from ``env`` (default ``os.environ``).

        Raises :class:`ConfigError` naming the offending key.
        """
        env = os.environ if env is None else env
        backend = env.get("SPILLWAY_BACKEND", "aws").strip().lower()
        if backend not in BACKENDS:
            raise ConfigError(f"SPILLWAY_BACKEND must be one of {BACKENDS}, got {backend!r}")
        prefix = queue_prefix(env)
        database_url = env.get("DATABASE_URL") or None
        bucket = env.get("CLAIM_CHECK_BUCKET") or None
        if bucket and "ACCOUNT_ID" in bucket:
            raise ConfigError(f"CLAIM_CHECK_BUCKET still holds the placeholder: {bucket!r} "
                              "(use the infra stack's ClaimCheckBucketName output)")
        settings = cls(
            backend=backend,
            queue_prefix=prefix,
            webhook_secret=env.get("GITHUB_WEBHOOK_SECRET") or None,
            webhook_secret_param=env.get("GITHUB_WEBHOOK_SECRET_PARAM") or None,
            webhook_secret_previous=env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS") or None,
            webhook_secret_previous_param=env.get("GITHUB_WEBHOOK_SECRET_PREVIOUS_PARAM") or None,
            webhook_secret_previous_until=_instant(env, "GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL"),
            database_url=database_url,
            database_url_param=env.get("DATABASE_URL_PARAM") or None,
            queue_database_url=env.get("QUEUE_DATABASE_URL") or database_url,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 100 * 2**20),
            idempotency_ttl_s=_int(env, "IDEMPOTENCY_TTL_S", DEFAULT_IDEMPOTENCY_TTL_S,
                                   60, 30 * 24 * 3600),
            max_receive_count=_int(env, "MAX_RECEIVE_COUNT", 5, 1, 1000),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            claim_check_bucket=bucket,
            db_pool_size=_int(env, "DB_POOL_SIZE", 4, 1, 100),
            queue_pool_size=_int(env, "QUEUE_POOL_SIZE", 4, 1, 200),
            retry_base_s=_int(env, "RETRY_BASE_S", 60, 1, 43200),
            retry_max_s=_int(env, "RETRY_MAX_S", 3600, 1, 43200),
            breaker_enabled=_bool(env, "BREAKER_ENABLED", True),
            breaker_open_s=_int(env, "BREAKER_OPEN_S", 60, 1, 86400),
            slots_enabled=_bool(env, "SLOTS_ENABLED", False),
            slot_min_limit=_int(env, "SLOT_MIN_LIMIT", 3, 1, 10_000),
            slot_max_limit=_int(env, "SLOT_MAX_LIMIT", 15, 1, 10_000),
            slot_lease_s=_int(env, "SLOT_LEASE_S", 20, 1, 900 + 60),
            slot_count=_int(env, "SLOT_COUNT", 1, 1, 100),
            slot_algorithm=_choice(env, "SLOT_ALGORITHM", "aimd", ("aimd", "gradient2")),
            lift_cache_s=_float(env, "LIFT_CACHE_S", 5.0, 0.0, 300.0),
            breaker_skew_margin_s=_int(env, "BREAKER_SKEW_MARGIN_S", 10, 0, 3600),
            edge_deadline_s=_float(env, "EDGE_DEADLINE_S", DEFAULT_EDGE_DEADLINE_S, 1.0,
                                   MAX_EDGE_DEADLINE_S),
            lane_minimum_calls=_int(env, "LANE_MINIMUM_CALLS", 10, 1, 100_000),
            lane_eject_s=_int(env, "LANE_EJECT_S", 30, 1, 86400),
        )
        if settings.slot_max_limit < settings.slot_min_limit:
            raise ConfigError(f"SLOT_MAX_LIMIT ({settings.slot_max_limit}) must be at least "
                              f"SLOT_MIN_LIMIT ({settings.slot_min_limit})")
        if settings.webhook_secret_previous_until is not None and not (
                settings.webhook_secret_previous or settings.webhook_secret_previous_param):
            raise ConfigError("GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL is set but there is no "
                              "previous secret (GITHUB_WEBHOOK_SECRET_PREVIOUS or "
                              "GITHUB_WEBHOOK_SECRET_PREVIOUS_PARAM)")
        if settings.retry_max_s < settings.retry_base_s:
            raise ConfigError(f"RETRY_MAX_S ({settings.retry_max_s}) must be at least "
                              f"RETRY_BASE_S ({settings.retry_base_s})")
        return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once (cold start). Tests call ``cache_clear()``."""
    return Settings.from_env()
