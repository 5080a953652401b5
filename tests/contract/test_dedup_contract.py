"""The edge's dedup records (:mod:`chalicelib.dedup`) on both backends: one conditional write
per claim, the same verdicts, the same "already accepted?" answer for the reconciler, and the
record ids and fingerprints Powertools idempotency wrote before (so its records still count)."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from chalicelib.dedup import (
    COMPLETED,
    DUPLICATE,
    IN_PROGRESS,
    NEW,
    RESEND,
    REUSED,
    fingerprint,
    record_id,
    verdict,
)

TTL_S = 3600
WINDOW_S = 5.0
NOW = time.time()
SHA = hashlib.sha256(b'{"action":"opened"}').hexdigest()
OTHER = hashlib.sha256(b'{"action":"closed"}').hexdigest()


def claim(store, rid: str, sha: str = SHA, now: float = NOW) -> str:
    """The verdict of one claim of ``rid`` for a payload hashing to ``sha`` at ``now``."""
    validation = fingerprint(sha)
    done = store.claim(rid, validation=validation, now=now, in_progress_s=WINDOW_S, ttl_s=TTL_S)
    return verdict(done, validation, now)


def rid_of(hook: str = "7") -> tuple[str, str]:
    import uuid

    guid = str(uuid.uuid4())
    return guid, record_id(hook, guid)


def write_completed(backend, rid: str, sha: str, expiration: int) -> None:
    """A record as the Powertools idempotency edge left it after its send."""
    item = {"id": rid, "status": COMPLETED, "expiration": expiration,
            "validation": fingerprint(sha), "data": '{"queued": true}'}
    if backend.kind == "aws":
        import boto3

        boto3.client("dynamodb").put_item(
            TableName="ct-idempotency",
            Item={k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in item.items()})
        return
    with backend.port._pool.connection() as conn:
        conn.execute("INSERT INTO idempotency_records (id, status, expiration, validation, data) "
                     "VALUES (%(id)s, %(status)s, %(expiration)s, %(validation)s, %(data)s)", item)


def test_first_claim_is_new_and_a_repeat_inside_the_window_is_in_progress(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    assert claim(store, rid) == NEW
    assert claim(store, rid, now=NOW + WINDOW_S - 1) == IN_PROGRESS


def test_a_repeat_after_the_window_is_sent_again_and_holds_a_new_window(idempotency_backend):
    """The edge that wrote the record may have died before its send: the repeat resends."""
    store = idempotency_backend.port
    _, rid = rid_of()
    assert claim(store, rid) == NEW
    later = NOW + WINDOW_S + 1
    assert claim(store, rid, now=later) == RESEND
    assert claim(store, rid, now=later + 1) == IN_PROGRESS  # the resend holds it now
    assert claim(store, rid, now=later + WINDOW_S + 1) == RESEND


def test_another_payload_under_the_same_id_is_refused_in_and_after_the_window(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    assert claim(store, rid) == NEW
    assert claim(store, rid, OTHER) == REUSED
    assert claim(store, rid, OTHER, now=NOW + WINDOW_S + 1) == REUSED
    assert claim(store, rid, now=NOW + WINDOW_S + 2) == RESEND  # the first payload kept


def test_an_expired_record_counts_as_absent(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    assert claim(store, rid) == NEW
    assert claim(store, rid, OTHER, now=NOW + TTL_S + 1) == NEW


def test_a_released_record_is_gone(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    assert claim(store, rid) == NEW
    store.release(rid)
    store.release(rid)  # releasing nothing is fine
    assert claim(store, rid) == NEW


def test_a_completed_record_of_the_powertools_edge_is_a_duplicate(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    write_completed(idempotency_backend, rid, SHA, int(NOW) + TTL_S)
    assert claim(store, rid, now=NOW + 60) == DUPLICATE
    assert claim(store, rid, OTHER, now=NOW + 60) == REUSED


def test_concurrent_claims_send_once(idempotency_backend):
    store = idempotency_backend.port
    _, rid = rid_of()
    verdicts: list[str] = []
    start = threading.Barrier(6)

    def one() -> None:
        start.wait()
        verdicts.append(claim(store, rid))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts) == [IN_PROGRESS] * 5 + [NEW]


def test_already_accepted_means_a_completed_unexpired_record(idempotency_backend):
    """The reconciler's question, answered the same on both backends: only a record written
    after a send (COMPLETED) proves the delivery was queued; the edge's own records, written
    before the send, never do."""
    store = idempotency_backend.port
    done, done_rid = rid_of("7")
    expired, expired_rid = rid_of("7")
    claimed, claimed_rid = rid_of("7")
    absent, _ = rid_of("7")
    write_completed(idempotency_backend, done_rid, SHA, int(NOW) + TTL_S)
    write_completed(idempotency_backend, expired_rid, SHA, int(NOW) - 1)
    assert claim(store, claimed_rid) == NEW
    guids = [done, expired, claimed, absent]
    assert store.accepted("7", guids, NOW) == {done}
    assert store.accepted("8", guids, NOW) == set()  # another hook's GUID is another key
    assert store.accepted(None, guids, NOW) == set()
    assert store.accepted("7", [], NOW) == set()
    many = [rid_of("7")[0] for _ in range(150)] + [done]  # past one BatchGetItem
    assert store.accepted("7", many, NOW) == {done}


def test_record_ids_and_fingerprints_are_powertools_own():
    """Records the Powertools idempotency edge wrote stay readable: its key and payload hash,
    computed by Powertools itself, are ours (this fails if either side changes)."""
    import boto3
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

    layer = DynamoDBPersistenceLayer(
        table_name="unused", boto3_client=boto3.client("dynamodb", region_name="us-east-1"))
    layer.configure(IdempotencyConfig(
        event_key_jmespath="{hook_id: hook_id, delivery_id: delivery_id}",
        payload_validation_jmespath="payload_sha256"), function_name="x", key_prefix="delivery")
    for hook, guid in [("292430182", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), ("", "g"),
                       ("1", "é\"\\")]:
        data = {"hook_id": hook, "delivery_id": guid, "payload_sha256": SHA}
        assert record_id(hook, guid) == layer._get_hashed_idempotency_key(data)
        assert fingerprint(SHA) == layer._get_hashed_payload(data)


@pytest.mark.parametrize("sha", [SHA, OTHER])
def test_verdict_is_pure(sha):
    from chalicelib.dedup import Claim, Prior

    prior = Prior(status="INPROGRESS", expiration=int(NOW) + 10, in_progress_expiration=None,
                  validation=fingerprint(SHA))
    assert verdict(Claim(written=False, prior=None), fingerprint(sha), NOW) == IN_PROGRESS
    assert verdict(Claim(written=False, prior=prior), fingerprint(sha), NOW) == (
        IN_PROGRESS if sha == SHA else REUSED)
