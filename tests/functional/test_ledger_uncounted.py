"""The demo's loss check (issue 8 item 6): it counts through the stack's pool and, when it
cannot count, says why instead of crashing (spillway.ops.ledger.counts_or_reason)."""

from __future__ import annotations

import socket

from chalicelib.adapters.postgres.pool import make_pool, pooled
from spillway.demo import format_summary
from spillway.migrate import migrate
from spillway.ops.ledger import counts_or_reason


def test_counts_through_the_given_pool(pg_url):
    migrate(pg_url)
    with make_pool(pg_url, max_size=1) as pool:
        with pooled(pool) as conn:
            conn.execute("INSERT INTO webhook_deliveries (delivery_id, event, priority, "
                         "received_at, payload, payload_bytes) VALUES ('d1', 'issues', 'high',"
                         " now(), '{}', 2)")
        counts, reason = counts_or_reason(lambda: pool, ["d1", "d2"])
    assert reason is None and counts.per_delivery == {"d1": 1}


def test_no_free_connection_slot_is_reported_not_raised(pg_url):
    migrate(pg_url)
    with make_pool(pg_url, max_size=1, timeout_s=0.5) as pool, pool.connection():
        counts, reason = counts_or_reason(lambda: pool, ["d1"])  # the only slot is taken
    assert counts is None and reason.startswith("Throttled")


def test_a_database_that_is_down_is_reported_and_the_summary_says_so():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    with make_pool(f"postgresql://x@127.0.0.1:{port}/x", max_size=1, timeout_s=0.5) as pool:
        counts, reason = counts_or_reason(lambda: pool, ["d1"])
    assert counts is None and reason.startswith("DependencyUnavailable")
    summary = {"sent": 3, "accepted": 3, "rejected": 0, "stored": None, "dead_lettered": 0,
               "missing": None, "duplicated": None, "accepted_per_s": 1.0, "stored_per_s": 0.0,
               "ack_p50_ms": 1.0, "ack_p95_ms": 1.0, "ack_max_ms": 1.0, "drained": True,
               "uncounted": {"deliveries": 3, "reason": reason}}
    text = format_summary(summary)
    assert "not counted    3 accepted deliveries" in text and "FAILED" in text
