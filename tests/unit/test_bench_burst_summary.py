"""The burst benchmark's pure summary (bench.burst.summary): every figure from a hand-made run
whose answers are known, and the consistency rules the functional test relies on."""

from __future__ import annotations

from bench.burst.send import Ack
from bench.burst.summary import FIELDS, Stored, consistent, recovery_s, summarize, table

OUTAGE = (10.0, 30.0)


def _run():
    acks = [
        Ack("a", 1.0, 200, 10.0),    # accepted, stored at once
        Ack("b", 12.0, 202, 30.0),   # accepted during the outage, stored after it
        Ack("c", 15.0, 500, 2000.0),  # refused after 2 s, never stored: lost
        Ack("d", 16.0, 0, 10000.0),  # timed out, stored all the same (twice)
        Ack("e", 31.0, 200, 40.0),   # accepted after the outage, never stored
        Ack("f", 32.0, 503, 1.0),
    ]
    stored = {"a": Stored(1, 1.1), "b": Stored(1, 33.5), "d": Stored(2, 34.0),
              "e": Stored(0, 0.0), "zz": Stored(5, 2.0)}  # zz: not sent, ignored
    return acks, stored


def test_every_figure_of_a_known_run():
    acks, stored = _run()
    row = summarize("x", acks, stored, OUTAGE, 7)
    assert set(FIELDS) <= row.keys()
    assert (row["sent"], row["accepted"], row["rejected"]) == (6, 3, 3)
    assert row["rejected_by_status"] == {"0": 1, "500": 1, "503": 1}
    assert (row["stored"], row["lost"], row["acked_lost"]) == (3, 3, 1)
    assert (row["stored_unacked"], row["duplicated"]) == (1, 1)
    assert row["p95_ack_ms"] == 40.0  # nearest rank over the 2xx answers only
    assert row["first_5xx_s"] == 17.0  # when the answer came, not when it was sent
    assert row["db_connections_max"] == 7
    # the backlog: b (accepted in the outage) stored at 33.5 s, d (timed out in it, stored
    # all the same) at 34.0 s; the outage ended at 30 s
    assert row["recovery_s"] == 4.0
    assert row["outage_s"] == [10.0, 30.0] and row["settled"] is True
    assert consistent(row) == []


def test_recovery_is_zero_without_a_backlog_and_none_without_an_outage():
    acks = [Ack("a", 1.0, 200, 5.0), Ack("late", 31.0, 200, 5.0)]
    assert recovery_s(acks, {"a": Stored(1, 1.0), "late": Stored(1, 40.0)}, OUTAGE) == 0.0
    assert recovery_s(acks, {}, OUTAGE) == 0.0  # lost, not waiting: counted in lost
    assert recovery_s(acks, {"a": Stored(1, 1.0)}, None) is None


def test_nothing_answered_has_no_percentile_and_no_5xx():
    row = summarize("x", [Ack("a", 0.0, 0, 10000.0)], {}, None, 0, settled=False)
    assert row["p95_ack_ms"] is None and row["first_5xx_s"] is None
    assert row["lost"] == 1 and row["settled"] is False
    assert consistent(row) == []


def test_consistency_names_what_does_not_add_up():
    acks, stored = _run()
    row = summarize("x", acks, stored, OUTAGE, 1)
    assert consistent({**row, "accepted": row["accepted"] + 1}) == [
        "accepted + rejected != sent"]
    assert "stored + lost != sent" in consistent({**row, "lost": 0})


def test_table_shows_every_field_for_every_system():
    acks, stored = _run()
    rows = [summarize(name, acks, stored, OUTAGE, 1) for name in ("spillway", "peer")]
    text = table(rows)
    assert text.splitlines()[0].split() == ["spillway", "peer"]
    assert [line.split()[0] for line in text.splitlines()[1:]] == list(FIELDS[1:])
