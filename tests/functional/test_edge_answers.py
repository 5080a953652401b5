"""The README's "What the edge answers" rows that the dedup record decides, through the real
edge route on both backends (moto server / PostgreSQL), one conditional write per delivery:

* a new delivery -> 202, queued;
* repeated inside the first edge's deadline -> 409 ``in_progress``, nothing queued;
* repeated after it, same payload -> 200 ``duplicate``, queued again (stored once: the
  workers' ledger is idempotent, see ``test_edge_crash.py``);
* repeated with another payload -> 409 ``delivery_id_reused``, nothing queued, in and after
  the window;
* repeated when a ``COMPLETED`` record of the Powertools edge exists -> 200 ``duplicate``,
  not queued (records written before the upgrade still deduplicate).

The 503 rows (queue or deadline, record released) are ``test_edge_deadline.py``'s; the
dedup-store-down row is ``test_edge_http.py``'s.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from chalicelib.dedup import COMPLETED, fingerprint, record_id
from tests.functional.conftest import compact
from tests.functional.test_edge_http import SMALL

WINDOW_S = 1.0


def _write_completed(edge, delivery: str, body: bytes, hook: str = "1001") -> None:
    """The record the Powertools edge left after sending ``body`` as ``delivery``."""
    rid = record_id(hook, delivery)
    validation = fingerprint(hashlib.sha256(body).hexdigest())
    expiration = int(time.time()) + 3600
    if edge.backend == "aws":
        import boto3

        boto3.client("dynamodb").put_item(TableName="spillway-idempotency", Item={
            "id": {"S": rid}, "status": {"S": COMPLETED}, "expiration": {"N": str(expiration)},
            "validation": {"S": validation}, "data": {"S": "{}"}})
        return
    import os

    import psycopg

    with psycopg.connect(os.environ["QUEUE_DATABASE_URL"]) as conn:
        conn.execute("INSERT INTO idempotency_records (id, status, expiration, validation, data)"
                     " VALUES (%s, %s, %s, %s, '{}')", (rid, COMPLETED, expiration, validation))


def test_the_answers_a_dedup_record_decides(edge):
    edge.configure(EDGE_DEADLINE_S=str(WINDOW_S))
    other = {**SMALL, "action": "closed"}
    delivery = str(uuid.uuid4())

    first = edge.post(SMALL, delivery=delivery)
    assert first.status == 202 and first.body["queued"] is True, first.body
    assert "duplicate" not in first.body

    soon = edge.post(SMALL, delivery=delivery)
    assert (soon.status, soon.body["error"]) == (409, "in_progress"), soon.body
    reused = edge.post(other, delivery=delivery)
    assert (reused.status, reused.body["error"]) == (409, "delivery_id_reused"), reused.body
    assert edge.depths()["high"] == 1

    time.sleep(WINDOW_S + 0.2)
    again = edge.post(SMALL, delivery=delivery)
    assert again.status == 200, again.body
    assert again.body["duplicate"] is True and again.body["queued"] is True, again.body
    assert {k: again.body[k] for k in ("delivery", "priority", "target", "queue")} == {
        k: first.body[k] for k in ("delivery", "priority", "target", "queue")}
    late_reuse = edge.post(other, delivery=delivery)
    assert late_reuse.status == 409 and late_reuse.body["error"] == "delivery_id_reused"
    assert edge.depths()["high"] == 2

    legacy = str(uuid.uuid4())
    _write_completed(edge, legacy, compact(SMALL))
    done = edge.post(SMALL, delivery=legacy)
    assert done.status == 200 and done.body["duplicate"] is True, done.body
    legacy_reuse = edge.post(other, delivery=legacy)
    assert legacy_reuse.status == 409 and legacy_reuse.body["error"] == "delivery_id_reused"
    assert edge.depths()["high"] == 2  # a completed record was sent by the edge that wrote it
