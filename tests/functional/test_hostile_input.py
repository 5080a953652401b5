"""Hostile and odd deliveries, end to end through the real app on both backends.

The promise under test: bad input gets a clear error and loses nothing -- a rejected delivery
is never half-stored (nothing queued, no dedup record: the same id sent correctly afterwards is
new), an accepted one is never dropped (it reaches the ledger, or the DLQ with a reason).

Regressions of bugs found by attacking a live local stack:

* ``1e400`` was accepted, became ``inf`` in Python and dead-lettered in the worker
  (PostgreSQL refuses ``Infinity`` in jsonb) -- now a 400 at the edge.
* claim-check blob keys were ``<hook>/<delivery>``: hook ``a/b`` + delivery ``c`` and hook ``a``
  + delivery ``b/c`` (or hook ``""`` and hook ``-``) shared one blob, so one delivery was stored
  with the other's payload -- keys are now the percent-encoded idempotency key.
* a login, full name, ref or SHA longer than a btree index entry (2704 bytes) failed the whole
  transaction, ledger row included, and dead-lettered a valid delivery -- such strings are now
  dropped from the normalized rows (the ledger keeps the payload as sent).
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import Counter
from urllib.parse import quote

import psycopg

from chalicelib.ports import QUEUES, WORK_QUEUES
from tests.functional.conftest import OMIT, Harness, compact, sign

SMALL = {"action": "opened", "issue": {"id": 1, "number": 1, "title": "hello"}}
BIG_INT = 2**70


def assert_nothing_queued(edge: Harness) -> None:
    assert edge.depths() == dict.fromkeys(QUEUES, 0)


def ledger(worker: Harness) -> dict[tuple[str, str], dict]:
    """``(hook_id, delivery_id) -> payload`` of every ledger row."""
    with psycopg.connect(worker.app_db) as conn:
        rows = conn.execute("SELECT hook_id, delivery_id, payload FROM webhook_deliveries")
        return {(h, d): p for h, d, p in rows.fetchall()}


def drain(worker: Harness) -> None:
    """Run every queued message through its worker; nothing may fail or be dead-lettered.
    Successful records are deleted afterwards, as Lambda's event source mapping does."""
    for priority in WORK_QUEUES:  # the priority queues and the heavy / batch target queues
        while (depth := worker.depths()[priority]):
            batch = worker.receive(priority, min(10, depth))
            answer = worker.invoke_worker(priority, batch)
            assert answer.get("batchItemFailures", []) == [], answer
            worker.queue.delete(priority, [m.receipt_handle for m in batch])
    assert worker.depths() == dict.fromkeys(QUEUES, 0)


def random_text(n: int) -> str:
    """``n`` incompressible characters (a btree entry may hold compressed values)."""
    return secrets.token_urlsafe(n)[:n]


# --- the edge: rejected inputs --------------------------------------------------------------------
NESTED_TOO_DEEP = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"
RECURSION_BOMB = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
FORM = "application/x-www-form-urlencoded"

#: name -> (body, post keyword arguments, status, error code, word in the message)
REJECTED = {
    "invalid_utf8": (b'{"x":"\xff\xfe"}', {}, 400, "malformed_payload", "UTF-8"),
    "overlong_utf8": (b'{"x":"\xc0\xaf"}', {}, 400, "malformed_payload", "UTF-8"),
    "utf8_encoded_surrogate": (b'{"x":"\xed\xa0\x80"}', {}, 400, "malformed_payload", "UTF-8"),
    "bom": (b'\xef\xbb\xbf{"action":"opened"}', {}, 400, "malformed_payload", "BOM"),
    "trailing_garbage": (b'{"action":"opened"} xyz', {}, 400, "malformed_payload", "JSON"),
    "number_overflowing_a_double": (b'{"n":1e400}', {}, 400, "malformed_payload", "range"),
    "negative_overflow": (b'{"n":-1E+999}', {}, 400, "malformed_payload", "range"),
    "nan": (b'{"n":NaN}', {}, 400, "malformed_payload", "NaN"),
    "int_of_5000_digits": (b'{"n":' + b"9" * 5000 + b"}", {}, 400, "malformed_payload", "JSON"),
    "empty_body": (b"", {}, 400, "malformed_payload", "JSON"),
    "array": (b"[]", {}, 400, "malformed_payload", "object"),
    "string": (b'"x"', {}, 400, "malformed_payload", "object"),
    "null": (b"null", {}, 400, "malformed_payload", "object"),
    "nested_300_deep": (NESTED_TOO_DEEP, {}, 400, "malformed_payload", "256"),
    "recursion_bomb": (RECURSION_BOMB, {}, 400, "malformed_payload", "deeply"),
    "event_path": (b"{}", {"event": "../etc"}, 400, "invalid_header", "X-GitHub-Event"),
    "event_101_chars": (b"{}", {"event": "x" * 101}, 400, "invalid_header", "X-GitHub-Event"),
    "event_unicode": (b"{}", {"event": "évent"}, 400, "invalid_header", "ASCII"),
    "event_crlf_injection": (b"{}", {"event": "issues\r\nX-Evil: 1"}, 400, "invalid_header",
                             "X-GitHub-Event"),
    "hook_with_colon": (b"{}", {"hook": "1:2"}, 400, "invalid_header", "X-GitHub-Hook-ID"),
    "hook_unicode": (b"{}", {"hook": "ü"}, 400, "invalid_header", "ASCII"),
    "text_plain": (b"{}", {"content_type": "text/plain"}, 415, "unsupported_media_type",
                   "text/plain"),
    "form_invalid_utf8": (b"payload=%7B%22a%22%3A%22%FF%22%7D", {"content_type": FORM}, 400,
                          "malformed_payload", "form"),
    "form_two_payloads": (b"payload=%7B%7D&payload=%7B%7D", {"content_type": FORM}, 400,
                          "malformed_payload", "more than one"),
    "form_no_payload": (b'{"action":"opened"}', {"content_type": FORM}, 400, "malformed_payload",
                        "payload"),
    "form_too_many_fields": ("&".join(f"f{i}=1" for i in range(100)).encode()
                             + b"&payload=%7B%7D", {"content_type": FORM}, 400,
                             "malformed_payload", "fields"),
    "form_raw_nul": (b"payload=" + quote('{"a":"\x00"}').encode(), {"content_type": FORM}, 400,
                     "malformed_payload", "JSON"),
}


def test_hostile_inputs_are_rejected_clearly_and_leave_no_trace(edge):
    deliveries = {}
    for name, (body, kwargs, status, code, word) in REJECTED.items():
        delivery = f"rejected-{name}-{uuid.uuid4()}"
        reply = edge.post(body, delivery=delivery, **kwargs)
        assert reply.status == status, (name, reply.body)
        assert reply.body["error"] == code, (name, reply.body)
        assert word.lower() in reply.body["message"].lower(), (name, reply.body)
        deliveries[name] = delivery
    assert_nothing_queued(edge)
    # No dedup record either: the same (hook, delivery), sent correctly now, is new.
    for name, delivery in deliveries.items():
        again = edge.post(SMALL, delivery=delivery)
        assert again.status == 202 and "duplicate" not in again.body, (name, again.body)


def test_delivery_id_header_limits(edge):
    for delivery, status in (("d" * 201, 400), ("dé", 400), ("a\r\nb", 400),
                             ("d" * 200, 202), ("a'\"%;-- ../../x", 202)):
        reply = edge.post(SMALL, delivery=delivery)
        assert reply.status == status, (delivery, reply.body)
        if status == 400:
            assert "X-GitHub-Delivery" in reply.body["message"], reply.body
    assert edge.depths()["high"] == 2


def test_body_just_under_and_over_the_default_cap(edge):
    """``MAX_BODY_BYTES`` defaults to 6,000,000 (the Lambda payload limit)."""
    head, tail = b'{"action":"opened","x":"', b'"}'
    at_cap = head + b"a" * (6_000_000 - len(head) - len(tail)) + tail
    assert len(at_cap) == 6_000_000
    assert edge.post(at_cap).status == 202
    over = edge.post(at_cap[:-2] + b'a"}')
    assert over.status == 413 and over.body["error"] == "payload_too_large", over.body
    assert "6000000" in over.body["message"]
    assert edge.depths()["heavy"] == 1  # the 6 MB body is heavy (over 64 KiB): its own queue
    assert sum(edge.depths().values()) == 1


# --- the edge: odd but valid inputs ---------------------------------------------------------------
ACCEPTED = {
    "emoji_rtl_combining": ({"action": "opened", "t": "🚀 مرحبا שלום e\u0301 \u202e"}, {}),
    "escaped_nul_in_value_key_action": (b'{"action":"op\\u0000en","k\\u0000":"a\\u0000"}', {}),
    "escaped_lone_surrogates": (b'{"action":"\\ud800","\\udfff":"\\udc00x"}', {}),
    "duplicate_keys": (b'{"action":"opened","action":"closed"}', {}),
    "empty_object": (b"{}", {}),
    "trailing_whitespace": (b'{"action":"opened"} \n', {}),
    "big_int": ({"action": "opened", "n": BIG_INT, "issue": {"id": BIG_INT}}, {}),
    "tiny_float_underflows": (b'{"n":1e-400}', {}),
    "action_number": ({"action": 5}, {}),
    "action_object": ({"action": {"a": 1}}, {}),
    "action_null": ({"action": None}, {}),
    "action_10k_chars": ({"action": "x" * 10_000}, {}),
    "nested_256_deep": (b'{"a":' * 255 + b"1" + b"}" * 255, {}),
    "event_never_seen": ({"action": "x"}, {"event": "security_and_analysis"}),
    "event_100_chars": ({"action": "x"}, {"event": "x" * 100}),
    "no_hook_id": ({"action": "x"}, {"hook": ""}),
    "no_content_type": ({"action": "x"}, {"content_type": None}),
    "json_odd_parameters": ({"action": "x"}, {"content_type": "Application/JSON;;; charset=x"}),
    "form_plus_and_emoji": (b"payload=" + quote('{"action":"op en","t":"🚀"}').encode()
                            .replace(b"%20", b"+"), {"content_type": FORM}),
}


def test_odd_but_valid_inputs_are_accepted(edge):
    for name, (body, kwargs) in ACCEPTED.items():
        kwargs = dict(kwargs)
        if kwargs.get("content_type", "") is None:
            del kwargs["content_type"]
            kwargs["Content_Type"] = OMIT
        reply = edge.post(body, **kwargs)
        assert reply.status == 202, (name, reply.body)
        assert reply.body["queued"] is True, (name, reply.body)
    assert sum(edge.depths().values()) == len(ACCEPTED)


def test_concurrent_copies_of_one_delivery_queue_it_once(edge):
    """20 threads deliver the same (hook, delivery) at once: one 202, the others 200
    (duplicate) or 409 (being accepted right now), never a 5xx; one message queued. Each
    invocation gets a Lambda context (Chalice's local one, the edge's 10 s timeout), as on AWS:
    Powertools idempotency reads its remaining time for the in-progress record's expiry."""
    from chalice.local import LambdaContext

    from chalicelib import wiring

    body = compact(SMALL)
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "issues",
               "X-GitHub-Delivery": str(uuid.uuid4()), "X-GitHub-Hook-ID": "7",
               "X-Hub-Signature-256": sign(body)}
    wiring.get_edge()  # built once, as a warm Lambda would be
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def deliver():
        barrier.wait()
        context = LambdaContext("api_handler", 512, max_runtime_ms=10_000)
        statuses.append(wiring.handle_webhook(headers, body, context).status)

    threads = [threading.Thread(target=deliver) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = Counter(statuses)
    assert counts[202] == 1 and set(counts) <= {200, 202, 409}, counts
    assert edge.depths() == {"high": 1, "medium": 0, "low": 0, "heavy": 0, "batch": 0, "dlq": 0}


def test_a_delivery_id_reused_with_another_payload_is_refused_not_dropped(worker):
    """GitHub redelivers the same bytes under the same id: that is a duplicate (200). Other
    bytes -- another body, or the same id sent for another event -- were answered "duplicate"
    and silently dropped; now 409 ``delivery_id_reused``, nothing queued, the first kept."""
    import time

    # One dedup write per delivery (issue 18): a repeat inside the first edge's deadline is
    # 409 in_progress, so the window is 1 s here and the duplicate comes after it (it is sent
    # again and stored once); another payload is refused in and after the window.
    worker.configure(EDGE_DEADLINE_S="1")
    delivery = str(uuid.uuid4())
    first = {"action": "opened", "issue": {"id": 1, "number": 1, "title": "v1"}}
    assert worker.post(first, delivery=delivery).status == 202
    time.sleep(1.2)
    again = worker.post(first, delivery=delivery)
    assert again.status == 200 and again.body["duplicate"] is True
    for body, event in (({**first, "issue": {**first["issue"], "title": "v2"}}, "issues"),
                        ({"ref": "refs/heads/main", "commits": []}, "push")):
        reply = worker.post(body, delivery=delivery, event=event)
        assert reply.status == 409, reply
        assert reply.body["error"] == "delivery_id_reused", reply.body
    drain(worker)
    assert ledger(worker)[("1001", delivery)]["issue"]["title"] == "v1"
    time.sleep(1.2)
    assert worker.post(first, delivery=delivery).status == 200  # the original still dedups


# --- edge + worker: accepted deliveries end up stored -----------------------------------------
def test_claim_check_keys_never_collide(worker):
    """Regression: the blob key was ``<hook or '-'>/<delivery>``; these pairs shared a blob."""
    pad = "p" * 1_100_000  # over the SQS limit on aws: a claim check
    pairs = [(("a/b", "c"), ("a", "b/c")), (("", "x"), ("-", "x"))]
    sent = {}
    for pair in pairs:
        for hook, delivery in pair:
            payload = {"action": "opened", "tag": f"{hook}|{delivery}", "pad": pad}
            reply = worker.post(payload, hook=hook, delivery=delivery)
            assert reply.status == 202, reply.body
            assert reply.body["claim_check"] is (worker.backend == "aws")
            sent[(hook, delivery)] = payload["tag"]
    drain(worker)  # every blob written before any is read: the worst order
    stored = ledger(worker)
    assert {key: payload["tag"] for key, payload in stored.items()} == sent


def test_hostile_payloads_are_stored_not_dead_lettered(worker):
    """Odd but valid deliveries of the events chalicelib.core.normalize handles all reach the ledger."""
    repo = {"id": 42, "full_name": "o/r", "owner": {"id": 9, "login": "o"}}
    weird = ["x", [1], None, BIG_INT, -5, 1.5, True, "123", 0, {"id": "nope"}]
    cases: list[tuple[str, object]] = []
    for value in weird:
        cases.append(("issues", {"action": "opened", "repository": value, "sender": value,
                                 "organization": value, "issue": {"id": 1, "user": value}}))
        cases.append(("pull_request", {"action": "closed", "repository": {"id": value},
                                       "pull_request": {"id": value, "number": value,
                                                        "labels": value, "user": value,
                                                        "merged_by": value, "head": value}}))
        cases.append(("star", {"action": value, "repository": repo, "sender": {"id": value},
                               "starred_at": value}))
    long_ref, long_sha = random_text(3000), random_text(10_000)
    cases += [
        ("issue_comment", {"action": "created", "issue": [1], "comment": {"id": 5},
                           "repository": repo}),
        ("pull_request_review", {"action": "submitted", "review": {"id": 6, "user": {"id": 1}},
                                 "repository": repo}),
        ("issues", {"action": "opened", "repository": repo, "issue": {
            "id": 7, "labels": [{"name": "a\u0000"}, {"name": 5}, "x", None],
            "created_at": "9999-12-31T23:59:59-01:00", "updated_at": "2020-01-01T24:00:00Z",
            "closed_at": 1e308}}),
        ("star", {"action": "created", "repository": {"id": "511"}, "sender": {"id": "9"}}),
        # Regression: strings too long for a btree entry failed the whole transaction.
        ("issues", {"action": "opened", "repository": {"id": 43, "full_name": random_text(10_000)},
                    "sender": {"id": 44, "login": random_text(10_000)}}),
        ("push", {"ref": long_ref, "before": "a", "after": "b", "repository": repo}),
        ("push", {"ref": "refs/heads/x", "before": "a", "after": "b", "repository": repo,
                  "commits": [{"id": long_sha, "author": {"email": random_text(5000),
                                                          "username": random_text(5000)}},
                              {"id": "c" * 40, "author": {"email": random_text(5000)}}]}),
        ("push", {"ref": "refs/heads/y", "before": "a", "after": "c", "repository": repo,
                  "commits": [{"id": "s"}] * 3000}),
    ]
    ids = []
    for event, payload in cases:
        reply = worker.post(payload, event=event)
        assert reply.status == 202, (event, payload, reply.body)
        ids.append(reply.body["delivery"])
    drain(worker)
    stored = {delivery for _, delivery in ledger(worker)}
    assert stored == set(ids)
    with psycopg.connect(worker.app_db) as conn:
        shas = {sha for (sha,) in conn.execute("SELECT sha FROM commits")}
        logins = {login for (login,) in conn.execute("SELECT login FROM users WHERE id = 44")}
    assert shas == {"c" * 40, "s"} and logins == {None}


def test_push_of_2048_commits_and_5_mb_is_stored_whole(worker):
    commits = [{"id": f"{i:040x}", "message": "m" * 2300, "timestamp": "2024-01-01T00:00:00Z",
                "author": {"name": "a", "email": "e"}, "added": ["x"]} for i in range(2048)]
    payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": "f" * 40,
               "repository": {"id": 42, "owner": {"id": 9}}, "sender": {"id": 9},
               "commits": commits}
    body = compact(payload)
    assert 5_000_000 < len(body) < 6_000_000
    reply = worker.post(body, event="push")
    assert reply.status == 202, reply.body
    drain(worker)
    with psycopg.connect(worker.app_db) as conn:
        (count,) = conn.execute("SELECT commit_count FROM pushes").fetchone()
        (rows,) = conn.execute("SELECT count(*) FROM commits").fetchone()
        (size,) = conn.execute("SELECT payload_bytes FROM webhook_deliveries").fetchone()
    assert (count, rows, size) == (2048, 2048, len(body))
