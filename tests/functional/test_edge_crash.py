"""An edge that dies between its dedup write and its send does not cost the delivery.

Real components: an edge in its own Python process (``wiring.handle_webhook``, as ``app.py``
calls it) on the moto server, whose SQS endpoint (``AWS_ENDPOINT_URL_SQS``) is a socket that
reads the request and never answers. When the edge's first SQS request arrives, its dedup
record is already written (the claim comes first); the test then kills the process with
SIGKILL -- nothing is sent, nothing released. GitHub's redelivery (same delivery id) reaches a
live edge: 409 ``in_progress`` while the dead edge's window lasts, then 200 ``duplicate`` and
sent again; the real worker stores it, once, and a later redelivery is stored no second time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.dedup import record_id
from spillway.ops.ledger import ledger_counts
from tests.functional.conftest import compact, sign
from tests.functional.test_edge_deadline import SMALL, _redeliver
from tests.functional.test_hostile_input import drain

ROOT = Path(__file__).resolve().parents[2]
_EDGE = """
import json, sys
from chalicelib import wiring
d = json.load(open(sys.argv[1]))
wiring.handle_webhook(d["headers"], d["body"].encode("utf-8"), None)
"""


def _records(delivery: str, hook: str = "1001") -> list[dict]:
    import boto3

    item = boto3.client("dynamodb").get_item(TableName="spillway-idempotency",
                                             Key={"id": {"S": record_id(hook, delivery)}})
    return [item["Item"]] if "Item" in item else []


@pytest.mark.parametrize("worker", ["aws"], indirect=True)
def test_an_edge_killed_between_its_dedup_write_and_its_send_loses_nothing(worker, tmp_path):
    delivery = str(uuid.uuid4())
    body = compact(SMALL)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "issues",
               "X-GitHub-Delivery": delivery, "X-GitHub-Hook-ID": "1001",
               "X-Hub-Signature-256": sign(body)}
    request = tmp_path / "delivery.json"
    request.write_text(json.dumps({"headers": headers, "body": body.decode("utf-8")}))

    silent = socket.create_server(("127.0.0.1", 0))  # SQS that never answers
    env = {**os.environ, "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{silent.getsockname()[1]}",
           "EDGE_DEADLINE_S": "9", "POWERTOOLS_METRICS_DISABLED": "true"}
    child = subprocess.Popen([sys.executable, "-c", _EDGE, str(request)], env=env,
                             cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        silent.settimeout(60)
        conn, _ = silent.accept()  # the edge's first SQS request: its record is written
        conn.settimeout(10)
        assert conn.recv(65536), "the edge sent nothing to SQS"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        conn.close()
    finally:
        if child.poll() is None:
            child.kill()
        silent.close()

    assert [r["status"]["S"] for r in _records(delivery)] == ["INPROGRESS"]
    assert sum(worker.depths().values()) == 0  # the message was never sent

    again = _redeliver(worker, delivery)  # 409 while the dead edge's window lasts
    assert again.status == 200, again.body
    assert again.body["duplicate"] is True and again.body["queued"] is True, again.body
    drain(worker)
    counts = ledger_counts(wiring.app_pool(), [delivery])
    assert counts.per_delivery == {delivery: 1}, counts.per_delivery

    time.sleep(5.5)  # past the live edge's own window (its deadline, 5 s)
    later = worker.post(SMALL, delivery=delivery)
    assert later.status == 200 and later.body["duplicate"] is True, later.body
    drain(worker)
    counts = ledger_counts(wiring.app_pool(), [delivery])
    assert counts.per_delivery == {delivery: 1}, counts.per_delivery

