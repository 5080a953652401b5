"""The human summaries (replay, loadtest), the ledger accounting they share with the demo, and
``--since`` parsing: pure functions, no I/O."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from spillway.commands.ledger import parse_since
from spillway.commands.loadtest import format_summary as loadtest_summary
from spillway.commands.replay import format_summary as replay_summary
from spillway.ops.ledger import LedgerCounts, account

NOW = datetime(2026, 12, 2, 19, 0, tzinfo=UTC)


def test_account_counts_stored_missing_duplicated_and_dead_lettered():
    counts = LedgerCounts({"a": 1, "b": 2, "other-run": 1})
    assert account(counts, ["a", "b", "c", "d"], dead_lettered_ids=["d", "not-ours"]) == {
        "stored": 3, "dead_lettered": 1, "missing": 1, "duplicated": 1}


def test_replay_summary_says_ok_only_when_nothing_is_lost():
    base = {"sent": 261, "accepted": 261, "rejected": 0, "stored": 261, "dead_lettered": 0,
            "missing": 0, "duplicated": 0, "replay_s": 9.1, "drain_s": 5.5, "drained": True}
    assert "stored         261" in replay_summary(base)
    assert "OK: nothing lost" in replay_summary(base)
    assert "FAILED: deliveries missing" in replay_summary({**base, "missing": 1})
    assert "FAILED: queues did not drain" in replay_summary({**base, "drained": False})
    assert "result" not in replay_summary({"sent": 3, "accepted": 3, "rejected": 0})  # --no-wait


def test_loadtest_summary_rounds_its_figures():
    summary = {"scenario": "burst", "backend": "postgres", "requests": 12345, "failures": 0,
               "error_rate": 0.0, "p50_s": 0.0123456, "p95_s": 0.0456789, "rps": 411.52,
               "budget_done_in_s": 8.033115709999947, "violations": [], "exit_code": 0,
               "drained": True, "ledger_rows_added": 12345, "dead_lettered": 0,
               "accepted": 12345, "missing": 0}
    text = loadtest_summary(summary)
    assert "12,345 (412/s)" in text
    assert "p50 12 ms, p95 46 ms" in text
    assert "budget done in 8.0 s" in text and "8.0331" not in text
    assert "OK: thresholds held" in text
    assert "FAILED" in loadtest_summary({**summary, "missing": 2})


@pytest.mark.parametrize("value,expected", [
    ("30s", NOW - timedelta(seconds=30)), ("10m", NOW - timedelta(minutes=10)),
    ("2h", NOW - timedelta(hours=2)), ("1d", NOW - timedelta(days=1)),
    ("2026-12-01T08:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
    ("2026-12-01T08:00+02:00", datetime(2026, 12, 1, 6, 0, tzinfo=UTC)),
])
def test_since_accepts_durations_and_iso_times(value, expected):
    assert parse_since(value, now=NOW) == expected


@pytest.mark.parametrize("value", ["yesterday", "10 minutes", "-5m", ""])
def test_since_refuses_anything_else(value):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since(value, now=NOW)


def test_demo_summary_names_throttled_worker_functions_only():
    from spillway.demo import format_summary as demo_summary

    base = {"sent": 10, "accepted": 10, "rejected": 0, "stored": 10, "dead_lettered": 0,
            "missing": 0, "duplicated": 0, "accepted_per_s": 5.0, "stored_per_s": 4.0,
            "ack_p50_ms": 3.0, "ack_p95_ms": 9.0, "ack_max_ms": 12.0, "ok": True,
            "worker_throttles": {"worker_high": 0, "worker_low": 0}}
    assert "worker throttles" not in demo_summary(base)
    text = demo_summary({**base, "worker_throttles": {"worker_high": 3, "worker_low": 0}})
    assert "worker throttles {'worker_high': 3} (invocations over reserved concurrency)" in text


def test_replay_summary_names_rejected_deliveries():
    """A rejected payload is a failure the verdict names, never "result OK" (issue 19)."""
    base = {"sent": 3, "accepted": 2, "rejected": 1, "stored": 2, "dead_lettered": 0,
            "missing": 0, "duplicated": 0, "replay_s": 1.0, "drain_s": 1.0, "drained": True}
    text = replay_summary(base)
    assert "OK" not in text
    assert "FAILED: 1 of 3 deliveries rejected by the edge" in text
    assert "FAILED: 1 of 3" in replay_summary({"sent": 3, "accepted": 2, "rejected": 1})
