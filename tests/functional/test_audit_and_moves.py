"""The audit trail (``spillway.ops.audit``) on every state store, and the audited, filtered,
paced queue verbs (``spillway.ops.moves``, ``spillway redrive``/``promote``/``audit``) on each
backend's real queues and state store."""

from __future__ import annotations

import argparse
import json

import pytest

from chalicelib import wiring
from chalicelib.errors import ConfigError
from chalicelib.ports import DLQ, MessageFilter
from spillway.commands import audit as audit_command
from spillway.commands import promote as promote_command
from spillway.commands import redrive as redrive_command
from spillway.ops import audit, moves
from spillway.ops.breaker import audit_log, force
from tests.contract.conftest import FakeClock
from tests.contract.test_breaker_store import open_store

T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "aws", "postgres"])
def store(request):
    return open_store(request.param, request)


def clock_at(t: float):
    return lambda: t


def test_records_come_back_oldest_first_filtered_by_since_and_verb(store):
    for i, verb in enumerate(["breaker force", "redrive", "promote", "breaker reset"]):
        audit.record(store, verb=verb, by="alice", reason=f"r{i}", details={"i": i},
                     clock=clock_at(T0 + i))
    found = audit.list_actions(store, since=None)
    assert [r["verb"] for r in found] == ["breaker force", "redrive", "promote",
                                          "breaker reset"]
    first = found[0]
    assert set(first) == {"id", "verb", "by", "reason", "at", "details"}
    assert (first["by"], first["reason"], first["at"], first["details"]) == \
        ("alice", "r0", T0, {"i": 0})
    assert [r["details"]["i"] for r in audit.list_actions(store, since=T0 + 2)] == [2, 3]
    assert [r["verb"] for r in audit.list_actions(store, verb="breaker")] == \
        ["breaker force", "breaker reset"]
    assert [r["details"]["i"] for r in audit.list_actions(store, limit=2)] == [2, 3]
    assert audit.list_actions(store, limit=0) == []
    item = store.get(first["id"])
    assert item.expires_at == pytest.approx(T0 + audit.RETENTION_S)


def test_an_unexplained_change_is_refused(store):
    with pytest.raises(ConfigError, match="reason"):
        audit.record(store, verb="redrive", by="alice", reason="  ", details={})
    assert audit.list_actions(store) == []


def test_breaker_verbs_write_the_one_trail_and_old_breaker_records_still_show(store):
    clock = FakeClock()
    store.put("breaker-audit#postgres#0001#abc", {
        "name": "postgres", "action": "force", "from": "CLOSED", "to": "FORCED_OPEN",
        "reason": "before the merge", "by": "bob", "at": clock() - 10, "until": None},
        expected_version=None, expires_at=clock() + 3600)
    force(store, "postgres", "FORCED_CLOSED", reason="false alarm", by="carol", clock=clock)
    trail = audit.list_actions(store)
    assert [(r["verb"], r["by"]) for r in trail] == [("breaker force", "bob"),
                                                     ("breaker force", "carol")]
    assert trail[1]["details"] == {"name": "postgres", "from": "CLOSED",
                                   "to": "FORCED_CLOSED", "until": None}
    assert [r["to"] for r in audit_log(store, "postgres")] == ["FORCED_OPEN", "FORCED_CLOSED"]


def _dead_letters(queue, events: dict[str, int]) -> None:
    for event, n in events.items():
        for i in range(n):
            queue.send(DLQ, f"{event}-{i}", {"event": event, "priority": "medium",
                                              "error": "OperationalError: down"})


def test_a_paced_filtered_redrive_moves_only_matches_in_chunks_and_is_audited(edge):
    queue, state = wiring.get_queue(), wiring.get_state()
    _dead_letters(queue, {"issues": 23, "push": 4})
    clock, sleeps = FakeClock(), []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        clock.advance(seconds)

    progress: list[int] = []
    entry = moves.redrive(queue, state, match=MessageFilter(event="issues"), max_messages=100,
                          by="dave", reason="db back", rate_per_s=5, clock=clock, sleep=sleep,
                          progress=progress.append)
    # 5 a second: chunks of 5 with 1 s between them; the last, short chunk ends the run.
    assert progress == [5, 10, 15, 20, 23] and sleeps == [1.0, 1.0, 1.0, 1.0]
    assert entry["details"] == {"source": DLQ, "destination": "by priority",
                                "filter": {"event": "issues"}, "max": 100, "rate_per_s": 5,
                                "moved": 23}
    assert queue.stats("medium").visible == 23 and queue.stats(DLQ).visible == 4
    assert audit.list_actions(state)[-1] == entry


def test_redrive_and_promote_from_the_command_line(edge, capsys):
    queue, state = wiring.get_queue(), wiring.get_state()
    _dead_letters(queue, {"issues": 2, "star": 3})
    parser = argparse.ArgumentParser(prog="spillway")
    sub = parser.add_subparsers(dest="command")
    for command in (redrive_command, promote_command, audit_command):
        command.register(sub)

    def run(*argv: str) -> str:
        args = parser.parse_args(list(argv))
        assert args.func(args) == 0
        return capsys.readouterr().out

    dry = json.loads(run("redrive", "--event", "star", "--dry-run", "--json"))
    assert sorted(m["event"] for m in dry["would_move"]) == ["star"] * 3
    assert queue.stats(DLQ).visible == 5 and audit.list_actions(state) == []
    with pytest.raises(ConfigError, match="--reason is required"):
        run("redrive", "--event", "star")
    assert "redrove 2 message(s)" in run("redrive", "--error", "operationalerror", "--max", "2",
                                         "--reason", "retry", "--by", "erin")
    assert "promoted 2 message(s) from medium to high" in run(
        "promote", "medium", "--reason", "backlog", "--by", "erin")
    actions = json.loads(run("audit", "--json", "--since", "1h"))
    assert [(a["verb"], a["details"]["moved"]) for a in actions] == [("redrive", 2),
                                                                     ("promote", 2)]
    assert "promote" in run("audit", "--verb", "promote") and \
        "redrive" not in run("audit", "--verb", "promote")


@pytest.mark.parametrize("argv", [["redrive", "--rate", "fast"], ["redrive", "--since", "soon"],
                                  ["audit", "--since", "yesterday-ish"]])
def test_bad_flags_exit_2_with_a_message(argv, capsys):
    from spillway.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "Traceback" not in capsys.readouterr().err


def test_a_bad_max_exits_2_without_a_traceback(edge, capsys):
    from spillway.cli import main

    assert main(["redrive", "--max", "0", "--dry-run"]) == 2
    assert "--max must be at least 1" in capsys.readouterr().err


def test_a_move_that_fails_part_way_is_audited_with_its_error(pg_url):
    """The queue database goes away under a redrive: the error reaches the operator and the
    audit record says what was asked and that it failed."""
    from chalicelib.adapters.postgres.pool import make_pool
    from chalicelib.adapters.postgres.queue import PgQueue
    from chalicelib.errors import SpillwayError
    from spillway.migrate import migrate
    from tests.fakes import MemoryState

    migrate(pg_url, "queue")
    pool = make_pool(pg_url, min_size=0, max_size=1, timeout_s=1.0, name="audit-test")
    queue, state = PgQueue(pool), MemoryState()
    _dead_letters(queue, {"issues": 1})
    pool.close()
    with pytest.raises(SpillwayError):
        moves.redrive(queue, state, match=MessageFilter(), max_messages=5, by="fay",
                      reason="try it")
    [entry] = audit.list_actions(state)
    assert entry["verb"] == "redrive" and entry["details"]["moved"] == 0
    assert entry["details"]["error"]
