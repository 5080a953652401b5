"""Folding a batch's repeated normalized rows (chalicelib.core.normalize.fold): the rows it
keeps. That the end state is exactly one-at-a-time's is proven on PostgreSQL by
tests/functional/test_pg_store_fold.py."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.appdb.statements import ALWAYS_COPIED
from chalicelib.core.normalize.fold import Upsert, fold

T0 = 1_780_000_000.0


def test_rows_repeated_in_a_batch_are_written_once_where_that_is_exact():
    at = [datetime.fromtimestamp(T0 + i, tz=UTC) for i in range(3)]
    user = {"id": 11, "login": "a", "name": None, "updated_at": None, "precedence": 0}
    # the same user in three deliveries: the newest covers the others -> one upsert
    rounds = fold([Upsert("users", dict(user), f"d{i}", at[i]) for i in range(3)],
                  ALWAYS_COPIED)
    assert [[u.delivery_id for u in r] for r in rounds] == [["d2"]]
    # an older version holding a value the newest lacks must still be written first
    older = Upsert("users", {**user, "name": "Ann"}, "d0", at[0])
    newer = Upsert("users", dict(user), "d1", at[1])
    assert [[u.delivery_id for u in r] for r in fold([older, newer], ALWAYS_COPIED)] == [
        ["d0"], ["d1"]]
    # a version below an earlier one of the batch is never applied: dropped
    assert [[u.delivery_id for u in r] for r in fold([newer, older], ALWAYS_COPIED)] == [
        ["d1"]]


def test_a_tie_only_the_delivery_id_decides_is_not_folded():
    at = datetime.fromtimestamp(T0, tz=UTC)
    user = {"id": 11, "login": "a", "updated_at": None, "precedence": 0}
    rounds = fold([Upsert("users", dict(user), "b", at), Upsert("users", dict(user), "a", at)],
                  ALWAYS_COPIED)
    assert [[u.delivery_id for u in r] for r in rounds] == [["b"], ["a"]]


def test_an_immutable_row_keeps_its_first_writer():
    at = datetime.fromtimestamp(T0, tz=UTC)
    commit = {"repository_id": 1, "sha": "c" * 40, "message": "m"}
    rounds = fold([Upsert("commits", dict(commit), "d1", at),
                   Upsert("commits", {**commit, "message": "n"}, "d0", at)], ALWAYS_COPIED)
    assert [[u.delivery_id for u in r] for r in rounds] == [["d1"]]
