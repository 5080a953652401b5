"""Per-dependency circuit breaker settings (:class:`BreakerConfig`), validated on creation."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import ConfigError


@dataclass(frozen=True)
class BreakerConfig:
    """Per-dependency settings. Seconds unless named otherwise; rates in percent (0-100].

    ``window_type`` ``"time"``: the window is the last ``window_size`` seconds, kept as buckets of
    ``bucket_s`` seconds (5 s buckets keep a DynamoDB item under 1 KB = 1 write unit); a bucket
    counts while its start is inside the window, so the window spans
    ``window_size - bucket_s`` to ``window_size`` seconds). ``"count"``: the window is about
    the last ``window_size`` calls (whole flushed tallies are dropped oldest-first while at
    least ``window_size`` calls remain).
    ``slow_call_rate_threshold`` 100 means slow calls never trip (off).
    ``consecutive_failure_threshold`` (the original strategy's "failure threshold 5"; 0 = off):
    that many failures flushed by any instances with no success in between also trip it, once
    ``minimum_calls`` are in the window. ``probe_lease_s``: how long
    the half-open prober owns the probe before another instance may take over (its lease renews
    with each probe success). ``half_open_retry_s``: the longest ``retry_after_s`` given to a
    caller refused while another instance probes. ``skew_margin_s``: extra seconds an instance's clock must be past
    ``open_until`` before it may half-open.

    Raises :class:`~chalicelib.errors.ConfigError` naming the invalid field.
    """

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_s: float = 60.0
    window_type: str = "time"
    window_size: int = 60
    bucket_s: float = 5.0
    minimum_calls: int = 10
    consecutive_failure_threshold: int = 5
    wait_in_open_s: float = 60.0
    permitted_calls_in_half_open: int = 3
    probe_lease_s: float = 30.0
    half_open_retry_s: float = 2.0
    skew_margin_s: float = 0.0
    trip_history: int = 10

    def __post_init__(self) -> None:
        checks = {
            "failure_rate_threshold": 0 < self.failure_rate_threshold <= 100,
            "slow_call_rate_threshold": 0 < self.slow_call_rate_threshold <= 100,
            "slow_call_duration_s": self.slow_call_duration_s > 0,
            "window_type": self.window_type in ("time", "count"),
            "window_size": self.window_size >= 1,
            "bucket_s": self.bucket_s > 0,
            "minimum_calls": self.minimum_calls >= 1,
            "consecutive_failure_threshold": self.consecutive_failure_threshold >= 0,
            "wait_in_open_s": self.wait_in_open_s > 0,
            "permitted_calls_in_half_open": self.permitted_calls_in_half_open >= 1,
            "probe_lease_s": self.probe_lease_s > 0,
            "half_open_retry_s": self.half_open_retry_s > 0,
            "skew_margin_s": self.skew_margin_s >= 0,
            "trip_history": self.trip_history >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"breaker {key} is invalid: {getattr(self, key)!r}")


#: The original strategy's defaults (DESIGN.md section 2c).
DEFAULT_CONFIG = BreakerConfig()
