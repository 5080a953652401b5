"""Settings are validated once, at cold start, and a bad value names its key."""

from __future__ import annotations

import pytest

from chalicelib.errors import ConfigError
from chalicelib.settings import DEFAULT_MAX_BODY_BYTES, Settings


def test_defaults_need_nothing_set():
    s = Settings.from_env({})
    assert (s.backend, s.queue_prefix, s.max_body_bytes) == ("aws", "spillway",
                                                              DEFAULT_MAX_BODY_BYTES)
    assert s.queue_name("high") == "spillway-high" and s.state_table == "spillway-state"
    assert s.queue_database_url is None and s.breaker_enabled is True
    assert s.claim_check_bucket is None  # no account id is guessed


def test_slot_settings_default_to_the_free_tier_plan_and_off():
    from chalicelib.core.concurrency.plan import build_plan

    s, plan = Settings.from_env({}), build_plan("free")
    assert s.slots_enabled is False and s.slot_algorithm == "aimd"
    assert (s.slot_min_limit, s.slot_max_limit) == (plan.slot_min_limit, plan.slot_max_limit)
    assert s.slot_lease_s == plan.worker("worker_high").lease_s
    assert s.slot_count == plan.pool_size


def test_queue_database_defaults_to_the_application_database():
    s = Settings.from_env({"DATABASE_URL": "postgresql://db/app"})
    assert s.queue_database_url == "postgresql://db/app"
    s = Settings.from_env({"DATABASE_URL": "postgresql://db/app",
                           "QUEUE_DATABASE_URL": "postgresql://other/q"})
    assert s.queue_database_url == "postgresql://other/q"


@pytest.mark.parametrize(("env", "key"), [
    ({"SPILLWAY_BACKEND": "redis"}, "SPILLWAY_BACKEND"),
    ({"SPILLWAY_QUEUE_PREFIX": "bad prefix!"}, "SPILLWAY_QUEUE_PREFIX"),
    ({"MAX_BODY_BYTES": "ten"}, "MAX_BODY_BYTES"),
    ({"MAX_BODY_BYTES": "10"}, "MAX_BODY_BYTES"),
    ({"MAX_RECEIVE_COUNT": "0"}, "MAX_RECEIVE_COUNT"),
    ({"RETRY_BASE_S": "0"}, "RETRY_BASE_S"),
    ({"RETRY_BASE_S": "120", "RETRY_MAX_S": "60"}, "RETRY_MAX_S"),
    ({"BREAKER_ENABLED": "maybe"}, "BREAKER_ENABLED"),
    ({"CLAIM_CHECK_BUCKET": "spillway-claim-checks-ACCOUNT_ID"}, "CLAIM_CHECK_BUCKET"),
    ({"SLOTS_ENABLED": "sometimes"}, "SLOTS_ENABLED"),
    ({"SLOT_MIN_LIMIT": "0"}, "SLOT_MIN_LIMIT"),
    ({"SLOT_MIN_LIMIT": "10", "SLOT_MAX_LIMIT": "5"}, "SLOT_MAX_LIMIT"),
    ({"SLOT_LEASE_S": "0"}, "SLOT_LEASE_S"),
    ({"SLOT_COUNT": "x"}, "SLOT_COUNT"),
    ({"SLOT_ALGORITHM": "vegas"}, "SLOT_ALGORITHM"),
])
def test_a_bad_value_is_refused_naming_its_key(env, key):
    with pytest.raises(ConfigError, match=key):
        Settings.from_env(env)


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("1", True), ("off", False),
                                            ("No", False), ("", True)])
def test_booleans(raw, value):
    assert Settings.from_env({"BREAKER_ENABLED": raw}).breaker_enabled is value


def test_the_aws_backend_needs_the_claim_check_bucket_named(monkeypatch):
    from chalicelib import wiring

    monkeypatch.setenv("SPILLWAY_BACKEND", "aws")
    monkeypatch.delenv("CLAIM_CHECK_BUCKET", raising=False)
    wiring.reset()
    try:
        with pytest.raises(ConfigError, match="CLAIM_CHECK_BUCKET"):
            wiring.get_blobs()
    finally:
        wiring.reset()
