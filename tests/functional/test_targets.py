"""Targets end to end on both backends (moto server / PostgreSQL queue, real PostgreSQL
application database): a heavy delivery (a ``workflow_run``, a push of more than 20 commits, a
body over 64 KiB) and a batch one (``check_run``) land in their own queue with their priority
kept, are stored by their own worker function (``app.worker_heavy`` / ``app.worker_batch``),
and a dead-lettered heavy message is redriven back to ``heavy``. Over the edge's body cap: 413
``payload_too_large`` and the metric ``Rejected_payload_too_large``."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from chalicelib.core.concurrency.routing import HEAVY_BODY_BYTES, HEAVY_PUSH_COMMITS
from chalicelib.ports import DLQ, WORK_QUEUES
from tests.functional.conftest import Harness, compact, corpus_payload
from tests.functional.test_observability import emf_metrics

PUSH_PAYLOAD = "push/payload.json"
WORKFLOW_RUN = "workflow_run/completed.payload.json"
CHECK_RUN = "check_run/completed.payload.json"


def _send(worker: Harness, payload: dict | bytes, event: str) -> dict:
    reply = worker.post(payload, event=event, delivery=str(uuid.uuid4()))
    assert reply.status == 202, reply.body
    return reply.body


def _ledger(worker: Harness) -> dict[str, tuple]:
    with psycopg.connect(worker.app_db) as conn:
        rows = conn.execute("SELECT delivery_id, event, priority FROM webhook_deliveries")
        return {r[0]: r[1:] for r in rows.fetchall()}


def _big_push() -> dict:
    base = corpus_payload(PUSH_PAYLOAD)
    commit = (base.get("commits") or [{"id": "0" * 40, "message": "m"}])[0]
    return {**base, "commits": [{**commit, "id": f"{i:040x}", "message": f"commit {i}"}
                                for i in range(HEAVY_PUSH_COMMITS + 1)]}


def _only_in(worker: Harness, queue: str, count: int) -> None:
    depths = worker.depths()
    assert depths[queue] == count and sum(depths.values()) == count, depths


@pytest.mark.parametrize(("what", "event", "priority"), [
    ("workflow_run", "workflow_run", "low"),
    ("push > 20 commits", "push", "high"),
    ("body > 64 KiB", "issues", "high"),
])
def test_a_heavy_delivery_has_its_own_queue_and_is_stored_by_worker_heavy(
        worker, what, event, priority):
    if what == "workflow_run":
        payload = corpus_payload(WORKFLOW_RUN)
    elif event == "push":
        payload = _big_push()
    else:
        payload = {"action": "opened", "issue": {"id": 7, "number": 7, "title": "big",
                                                 "body": "x" * (HEAVY_BODY_BYTES + 1)}}
    answer = _send(worker, payload, event)
    assert (answer["target"], answer["queue"], answer["priority"]) == ("heavy", "heavy",
                                                                       priority)
    _only_in(worker, "heavy", 1)
    (message,) = worker.receive("heavy", 1)
    assert message.attributes["priority"] == priority  # kept for slots and metrics
    assert message.attributes["target"] == "heavy"
    assert worker.invoke_worker("heavy", [message]) == {"batchItemFailures": []}
    assert _ledger(worker) == {answer["delivery"]: (event, priority)}


def test_a_batch_delivery_has_its_own_queue_and_is_stored_by_worker_batch(worker):
    payload = corpus_payload(CHECK_RUN)
    answers = [_send(worker, payload, "check_run") for _ in range(3)]
    assert {(a["target"], a["queue"], a["priority"]) for a in answers} == {
        ("batch", "batch", "low")}
    _only_in(worker, "batch", 3)
    messages = worker.receive("batch", 3)
    assert worker.invoke_worker("batch", messages) == {"batchItemFailures": []}
    assert _ledger(worker) == {a["delivery"]: ("check_run", "low") for a in answers}


def test_light_deliveries_stay_on_their_priority_queues(worker):
    _send(worker, corpus_payload(PUSH_PAYLOAD), "push")  # a few commits: light, high
    _send(worker, {"action": "created", "starred_at": None}, "star")  # medium
    _send(worker, {"zen": "hi", "hook_id": 1}, "ping")  # low
    depths = worker.depths()
    assert {q: depths[q] for q in WORK_QUEUES} == {"high": 1, "medium": 1, "low": 1,
                                                   "heavy": 0, "batch": 0}


def test_a_dead_lettered_heavy_message_is_redriven_back_to_heavy(worker):
    answer = _send(worker, corpus_payload(WORKFLOW_RUN), "workflow_run")
    # received max_receive_count (5) times and never deleted: the next receive dead-letters it
    for _ in range(5):
        worker.receive("heavy", 1, visibility_timeout_s=0)
    assert worker.queue.receive("heavy", 1, 0, 0.2) == []
    assert worker.depths()[DLQ] == 1 and worker.depths()["heavy"] == 0

    assert worker.queue.move(DLQ) == 1  # destination None: each message's own queue
    depths = worker.depths()
    assert depths["heavy"] == 1 and depths[DLQ] == 0 and depths["low"] == 0, depths
    (message,) = worker.receive("heavy", 1)
    assert worker.invoke_worker("heavy", [message]) == {"batchItemFailures": []}
    assert _ledger(worker) == {answer["delivery"]: ("workflow_run", "low")}


def test_over_the_edge_cap_is_a_413_with_its_metric(edge, capsys):
    edge.configure(MAX_BODY_BYTES="4096", POWERTOOLS_METRICS_DISABLED="false")
    capsys.readouterr()
    body = compact({"action": "opened", "issue": {"id": 1, "body": "x" * 5000}})
    reply = edge.post(body, event="issues")
    assert reply.status == 413 and reply.body["error"] == "payload_too_large", reply.body
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["Rejected_payload_too_large"] == [1.0]
    assert "DeliveriesAccepted" not in metrics
    assert sum(edge.depths().values()) == 0  # nothing enqueued anywhere


def test_each_worker_function_passes_its_own_queue(worker, tmp_path):
    """app.py makes the worker functions in a loop: each must be exported under its own name
    and hold back onto its own queue (a loop variable captured late would send every held-back
    record to the last queue). Database unreachable: the first record fails, the rest of the
    batch is re-sent, delayed, to the queue the handler was given."""
    import app

    handlers = {s.name: s.handler_string for s in app.app.event_sources if hasattr(s, "queue")}
    assert handlers == {f"worker_{q}": f"app.worker_{q}" for q in WORK_QUEUES}
    _send(worker, corpus_payload(CHECK_RUN), "check_run")
    _send(worker, corpus_payload(CHECK_RUN), "check_run")
    messages = worker.receive("batch", 2)
    worker.configure(DATABASE_URL=f"host={tmp_path} dbname=nowhere user=nobody",
                     RETRY_BASE_S="30")
    response = worker.invoke_worker("batch", messages)
    assert len(response["batchItemFailures"]) == 1
    stats = {q: worker.queue.stats(q) for q in WORK_QUEUES}
    assert stats["batch"].delayed == 1, stats
    assert sum(s.delayed for s in stats.values()) == 1
