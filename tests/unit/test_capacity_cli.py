"""``spillway capacity``: one JSON document with every figure, ``--recommend``, and a one-line
refusal (exit 2, no traceback) for each kind of bad input. Runs the real CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spillway.capacity.check import compare, send_times
from spillway.capacity.inputs import build_profile, parse_burst


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spillway.cli", "capacity", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_json_prints_one_document_with_every_figure(tmp_path):
    proc = _run("--rate", "2/s", "--burst", "40/s:30s", "--tier", "free", "--json", "--arrivals", "even",
                "--bench", str(tmp_path / "none.json"), "--plot", str(tmp_path / "plots"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one document: json.loads refuses trailing text
    p = doc["prediction"]
    assert set(p["wait_p95_s"]["priority"]) == {"high", "medium", "low"}
    assert set(p["peak_depth"]) == {"high", "medium", "low", "heavy", "batch"}
    assert p["edge_refusals"] == "none" and p["github_failed"] == 0
    assert p["drained_s"] is not None and p["db_connections_peak"] <= p["db_connection_budget"]
    assert p["arrivals"] == 2 * 60 + 40 * 30
    assert doc["cost"]["usd_per_month"] > 0
    assert doc["plan"]["tier"] == "free"
    assert doc["service"]["source"].startswith("documented defaults")
    assert sorted(f.name for f in (tmp_path / "plots").iterdir()) == ["depth.png", "wait.png"]


def test_recommend_names_the_smallest_tier_and_why_the_smaller_ones_miss(tmp_path):
    proc = _run("--rate", "5/s", "--burst", "300/s:20s", "--recommend", "--no-edge-refusals",
                "--json", "--bench", str(tmp_path / "none.json"))
    assert proc.returncode == 0, proc.stderr
    rec = json.loads(proc.stdout)["recommend"]
    assert rec["tier"] == "pro"  # the free tier's API throttle is 100/s
    assert rec["tried"][0]["tier"] == "free" and not rec["tried"][0]["meets"]
    assert "edge refusals" in rec["tried"][0]["why_not"][0]


def test_a_profile_file_is_read(tmp_path):
    path = tmp_path / "day.txt"
    path.write_text("# rate per second\n" + "3\n" * 20 + "30\n" * 10 + "3\n" * 20)
    proc = _run("--profile", str(path), "--json", "--arrivals", "even",
                "--bench", str(tmp_path / "none.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["profile"]["deliveries"] == 3 * 40 + 30 * 10


@pytest.mark.parametrize("args, reason", [
    (["--rate", "fast"], "expected N/s"),
    (["--rate", "2/s", "--burst", "40/s"], "expected RATE:DURATION"),
    (["--rate", "2/s", "--burst", "40/s:0s"], "must be > 0"),
    (["--rate", "2/s", "--tier", "gold"], "unknown tier"),
    (["--rate", "2/s", "--knob", "burst"], "expected NAME=VALUE"),
    (["--rate", "2/s", "--knob", "pool_size=abc"], "must be JSON"),
    (["--rate", "2/s", "--outage", "20s"], "expected DURATION@START"),
    (["--rate", "2/s", "--store-rate", "0/s"], "must be > 0"),
    (["--rate", "2/s", "--recommend"], "needs a target"),
    (["--rate", "2/s", "--target-p95-wait", "high=5s"], "need --recommend"),
    (["--rate", "2/s", "--recommend", "--target-p95-wait", "urgent=5s"], "PRIORITY=DURATION"),
    (["--profile", "/nonexistent/profile.json"], "cannot read the profile"),
    ([], "no arrivals"),
])
def test_bad_input_exits_2_with_a_one_line_reason(args, reason):
    proc = _run(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert reason in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_send_times_follow_the_profile_rate_per_second():
    profile = build_profile(2.0, [parse_burst("10/s:2s@1s")], [], duration_s=4)
    times = send_times(profile)
    assert len(times) == 2 + 10 + 10 + 2
    assert [sum(1 for t in times if s <= t < s + 1) for s in range(4)] == [2, 10, 10, 2]


def test_compare_judges_depth_and_drain_at_30_percent_and_refusals_by_verdict():
    predicted = {"peak_depth_total": 40.0, "drained_s": 5.0, "edge_refusals": "none",
                 "peak_depth": dict.fromkeys(("high", "medium", "low", "heavy", "batch"), 1),
                 "wait_p95_s": {"priority": {}}, "db_connections_peak": 3}
    measured = {**predicted, "peak_depth_total": 52, "drained_s": 8.0, "edge_refusals": "some"}
    rows = {r["figure"]: r["verdict"] for r in compare(predicted, measured)}
    assert rows["peak depth (all queues)"] == "ok"  # 40 vs 52: within 30 % of 52
    assert rows["drained after last burst (s)"] == "off"  # 5 vs 8: 37.5 % off
    assert rows["edge refusals"] == "off"
