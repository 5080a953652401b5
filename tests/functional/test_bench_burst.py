"""``spillway bench burst`` end to end on a small burst: 60 signed deliveries over 4 s with a
2 s application-database outage from t=1 s, through Spillway's local stack (postgres
backend), the naive verify-and-INSERT handler and the FastAPI + procrastinate peer, each on
its own real embedded PostgreSQL. Spillway must lose nothing and store nothing twice; every
system's figures must add up; the outage must really have hit (the naive handler, which has
no queue, loses what was sent while the database was down)."""

from __future__ import annotations

import json

import pytest

from bench.burst.summary import FIELDS, consistent
from spillway.cli import main
from spillway.paths import SAMPLES

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def burst(tmp_path_factory):
    out = tmp_path_factory.mktemp("burst")
    return out, ["bench", "burst", "--json", "--corpus", str(SAMPLES), "--repeat", "1",
                 "--limit", "60", "--duration", "4", "--outage", "2", "--outage-at", "1",
                 "--settle-timeout", "60", "--out", str(out)]


def test_three_systems_side_by_side(burst, capsys):
    out, argv = burst
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["system"] for r in rows] == ["spillway", "naive", "peer"]
    for row in rows:
        assert set(FIELDS) <= row.keys(), row["system"]
        assert consistent(row) == [], row["system"]
        assert row["sent"] == 60
        assert row["db_connections_max"] >= 1, row["system"]
        start, end = row["outage_s"]
        assert 0 < start < end
        assert row["recovery_s"] is not None and row["recovery_s"] >= 0
    spillway, naive, _peer = rows
    assert spillway["accepted"] == 60 and spillway["first_5xx_s"] is None
    assert (spillway["lost"], spillway["duplicated"], spillway["acked_lost"]) == (0, 0, 0)
    assert spillway["stored"] == 60 and spillway["settled"] is True
    # the outage hit: the handler without a queue refused (5xx) and lost deliveries
    assert naive["lost"] > 0 and naive["first_5xx_s"] is not None
    assert naive["lost"] == naive["rejected"]
    assert json.loads((out / "burst.json").read_text()) == rows
    assert (out / "burst.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv", [
    ["bench", "burst", "--repeat", "0"],
    ["bench", "burst", "--duration", "soon"],
    ["bench", "burst", "--systems", "spillway,kafka"],
    ["bench"],
])
def test_bad_flags_exit_2_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "spillway bench" in capsys.readouterr().err


def test_a_corpus_that_is_not_a_folder_or_has_no_payload_exits_2(tmp_path, capsys):
    assert main(["bench", "burst", "--corpus", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["bench", "burst", "--corpus", str(tmp_path)]) == 2
    assert "no payloads" in capsys.readouterr().err
