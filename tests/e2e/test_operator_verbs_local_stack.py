"""End to end: the operator verbs as a user types them (``spillway --local ...`` console
script in a child process) against a running local stack with its real workers, on each
backend: ``status --json``, a breaker force, ``redrive --event issues --dry-run`` (lists only
``issues`` deliveries, moves nothing), the redrive itself (each stored exactly once, the
others stay dead-lettered) and ``audit`` showing both actions.

The dead letters are what ``Worker._dead_letter`` writes: the envelope the edge builds from a
signed corpus delivery (its own functions), sent to the DLQ with an ``error`` attribute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.core.classify import classify
from chalicelib.core.delivery import parse_delivery
from chalicelib.core.envelope import build_envelope
from chalicelib.core.signature import sign
from chalicelib.ports import DLQ
from spillway.local.drain import wait_drained
from spillway.local.stack import LocalStack, StackOptions
from spillway.ops.ledger import ledger_counts_at
from spillway.paths import ROOT, SAMPLES
from spillway.replay import iter_payloads

pytestmark = pytest.mark.e2e
OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")
SCRIPT = Path(sys.executable).parent / "spillway"


@pytest.fixture
def workdir():
    """Not under pytest's basetemp (see tests/e2e/test_dashboard_local_stack.py)."""
    path = tempfile.mkdtemp(prefix="spillway-test-verbs-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def spillway(workdir: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
    env["SPILLWAY_WORKDIR"] = str(workdir)
    proc = subprocess.run([str(SCRIPT), "--local", *argv], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def dead_letter(queue, secret: str, payload) -> str:
    """Dead-letter one delivery as the worker does; returns its delivery id."""
    delivery_id = str(uuid.uuid4())
    headers = {"X-GitHub-Event": payload.event, "X-GitHub-Delivery": delivery_id,
               "X-GitHub-Hook-ID": "4242", "Content-Type": "application/json",
               "X-Hub-Signature-256": sign(secret, payload.body)}
    delivery = parse_delivery(headers, payload.body, secret=secret, max_body_bytes=10**7,
                              received_at=time.time())
    body, attributes = build_envelope(delivery, classify(
        delivery.event, delivery.action, delivery.body_bytes)).to_message()
    queue.send(DLQ, body, {**attributes, "error": "OperationalError: database was down"})
    return delivery_id


@pytest.mark.parametrize("backend", ["postgres", "aws"])
def test_status_breaker_redrive_and_audit_on_a_running_stack(backend, workdir, monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    payloads = list(iter_payloads([SAMPLES / "issues", SAMPLES / "push", SAMPLES / "star"]))
    issues = [p for p in payloads if p.event == "issues"]
    assert issues and len(issues) < len(payloads)
    with LocalStack(StackOptions(backend=backend, workdir=workdir)) as stack:
        queue = wiring.get_queue()
        ids = {p.event: [] for p in payloads}
        for p in payloads:
            ids[p.event].append(dead_letter(queue, stack.secret, p))

        status = json.loads(spillway(workdir, "status", "--json").stdout)
        assert status["labels"]["backend"] == backend
        assert status["queues"]["dlq"]["visible"] == len(payloads)
        assert status["breaker"]["state"] == "CLOSED"
        assert status["health"]["status"] == "healthy", status["health"]
        # each alarm of the template, evaluated from the stack's collector rows
        assert status["alarms"].get("source") == "local", status["alarms"]
        states = {a["name"]: a["state"] for a in status["alarms"]["alarms"]}
        assert len(states) >= 7 and "spillway-dlq-not-empty" in states, states
        assert set(states.values()) <= {"OK", "ALARM", "INSUFFICIENT_DATA"}, states

        spillway(workdir, "breaker", "open", "postgres", "--for", "1h", "--reason",
                 "e2e: db failover", "--by", "e2e")
        health = json.loads(spillway(workdir, "status", "--json").stdout)["health"]
        assert (health["status"], health["reasons"]) == ("critical",
                                                         ["circuit breaker FORCED_OPEN"])
        spillway(workdir, "breaker", "reset", "postgres", "--reason", "e2e: db back")

        dry = json.loads(spillway(workdir, "redrive", "--event", "issues", "--dry-run",
                                  "--json").stdout)
        assert sorted(m["delivery_id"] for m in dry["would_move"]) == sorted(ids["issues"])
        assert {m["event"] for m in dry["would_move"]} == {"issues"}
        assert queue.stats(DLQ).visible == len(payloads)  # nothing moved, nothing hidden

        out = spillway(workdir, "redrive", "--event", "issues", "--rate", "20/s", "--reason",
                       "e2e: db back", "--by", "e2e").stdout
        assert f"redrove {len(issues)} message(s)" in out
        assert wait_drained(queue, 120) is not None
        counts = ledger_counts_at(stack.env["DATABASE_URL"])
        assert counts.per_delivery == {i: 1 for i in ids["issues"]}  # each once, only them
        assert queue.stats(DLQ).visible == len(payloads) - len(issues)

        actions = json.loads(spillway(workdir, "audit", "--json").stdout)
        assert [a["verb"] for a in actions] == ["breaker force", "breaker reset", "redrive"]
        force, reset, redrive = actions
        assert reset["details"]["to"] == "CLOSED" and reset["by"]  # the OS user by default
        assert (force["by"], force["reason"], force["details"]["to"]) == \
            ("e2e", "e2e: db failover", "FORCED_OPEN")
        assert redrive["details"]["moved"] == len(issues)
        assert redrive["details"]["filter"] == {"event": "issues"}
        text = spillway(workdir, "audit").stdout
        assert "breaker force" in text and "redrive" in text and "e2e: db back" in text
