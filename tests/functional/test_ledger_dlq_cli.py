"""``spillway ledger`` and ``spillway dlq`` on both backends: deliveries go through the real edge
and worker handlers into the ledger; dead letters are listed by reason and stay in the DLQ."""

from __future__ import annotations

import json

from chalicelib.ports import DLQ
from spillway.cli import main
from tests.functional.conftest import ISSUE_PAYLOAD, PR_PAYLOAD, corpus_payload


def _lines(capsys) -> list[dict]:
    """The deliveries of ``ledger --json``'s one JSON document."""
    return json.loads(capsys.readouterr().out)["deliveries"]


def test_ledger_lists_what_the_workers_stored(worker, capsys):
    pr, issue = corpus_payload(PR_PAYLOAD), corpus_payload(ISSUE_PAYLOAD)
    assert worker.post(pr, event="pull_request", delivery="d-pr").status == 202
    assert worker.post(issue, event="issues", delivery="d-issue").status == 202
    messages = worker.receive("high", 2)
    assert worker.invoke_worker("high", messages) == {"batchItemFailures": []}

    assert main(["ledger", "--json"]) == 0
    rows = {row["delivery_id"]: row for row in _lines(capsys)}
    assert set(rows) == {"d-pr", "d-issue"}
    assert rows["d-pr"]["event"] == "pull_request" and rows["d-pr"]["action"] == "closed"
    assert rows["d-pr"]["repository"] == pr["repository"]["full_name"]
    assert rows["d-pr"]["status"] == "stored" and rows["d-pr"]["attempts"] == 1
    assert rows["d-pr"]["delay_s"] >= 0

    assert main(["ledger", "--json", "--event", "issues"]) == 0
    assert [r["delivery_id"] for r in _lines(capsys)] == ["d-issue"]
    assert main(["ledger", "--json", "--since", "2099-01-01"]) == 0
    assert _lines(capsys) == []
    assert main(["ledger"]) == 0
    assert "2 rows, 2 distinct deliveries" in capsys.readouterr().out


def test_ledger_refuses_a_bad_since_with_status_2(worker, capsys):
    try:
        main(["ledger", "--since", "yesterday-ish"])
    except SystemExit as exc:  # argparse's own exit for a bad value
        assert exc.code == 2
    assert "expected a duration" in capsys.readouterr().err


def test_dlq_groups_by_reason_and_deletes_nothing(worker, capsys):
    queue = worker.queue
    queue.send(DLQ, "{}", {"delivery_id": "d1", "event": "issues", "priority": "high",
                           "error": "bad envelope: not JSON"})
    queue.send(DLQ, "{}", {"delivery_id": "d2", "event": "issues", "priority": "high",
                           "error": "bad envelope: not JSON"})
    queue.send(DLQ, "{}", {"delivery_id": "d3", "event": "push", "priority": "low"})

    assert main(["dlq", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(m["delivery_id"] for m in report["messages"]) == ["d1", "d2", "d3"]
    assert report["by_reason"]["bad envelope: not JSON"] == 2
    assert [r for r in report["by_reason"] if r.startswith("receive count exceeded")]
    assert queue.stats(DLQ).total == 3  # nothing deleted
    if worker.backend == "postgres":
        assert "nothing received" in report["read"]
        assert all(m["receive_count"] == 0 for m in report["messages"])
    else:
        assert "received once" in report["read"]

    assert main(["dlq"]) == 0
    out = capsys.readouterr().out
    assert "DLQ: 3 messages" in out and "bad envelope: not JSON" in out
    assert "redrive --reason ...`" in out  # the hint works as typed: redrive needs a reason


def test_dlq_says_one_message_in_the_singular(worker, capsys):
    worker.queue.send(DLQ, "{}", {"delivery_id": "d1", "event": "issues", "priority": "high",
                                  "error": "bad envelope: not JSON"})
    assert main(["dlq"]) == 0
    assert "DLQ: 1 message (" in capsys.readouterr().out
