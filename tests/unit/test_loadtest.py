"""The pure parts of ``spillway loadtest``: the Locust command line and its summary line, and
the load-test suite's deliveries, scenarios and thresholds (``loadtest/``)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from chalicelib.core.signature import verify_signature
from spillway.loadtest import LOCUSTFILE, locust_command, parse_summary
from spillway.paths import ROOT, SAMPLES


def test_command_is_headless_against_the_given_url():
    cmd = locust_command("http://127.0.0.1:1234/webhooks/github", users=20, run_time="30s",
                         html="r.html")
    assert cmd[:4] == [sys.executable, "-m", "locust", "-f"] and cmd[4] == str(LOCUSTFILE)
    assert cmd[cmd.index("--host") + 1] == "http://127.0.0.1:1234/webhooks/github"
    assert "--headless" in cmd
    assert cmd[cmd.index("--users") + 1] == "20" and cmd[cmd.index("--run-time") + 1] == "30s"
    assert cmd[cmd.index("--html") + 1] == "r.html"


def test_scenario_defaults_are_left_to_the_locustfile():
    cmd = locust_command("http://h/x", users=None, run_time=None, html=None)
    assert "--users" not in cmd and "--run-time" not in cmd and "--html" not in cmd


def test_the_last_summary_line_wins_and_its_absence_is_empty():
    stderr = ("noise\nloadtest summary: {\"requests\": 1}\nmore\n"
              "loadtest summary: {\"requests\": 1000, \"failures\": 0}\n")
    assert parse_summary(stderr) == {"requests": 1000, "failures": 0}
    assert parse_summary("Traceback ...") == {}


# --- the suite's own modules (loaded by path: importing Locust would monkey-patch this process)
def _load(name: str):
    path = ROOT / "loadtest" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"loadtest_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_loadtest_deliveries_are_signed_with_fresh_delivery_ids():
    deliveries = _load("deliveries")
    corpus = deliveries.load_corpus(SAMPLES)
    assert corpus and {d.priority for d in corpus} <= {"high", "medium", "low"}
    first = corpus[0]
    a = deliveries.signed_headers(first, "s3cret", "42")
    b = deliveries.signed_headers(first, "s3cret", "42")
    verify_signature("s3cret", first.body, a["X-Hub-Signature-256"])
    assert a["X-GitHub-Delivery"] != b["X-GitHub-Delivery"]
    assert a["X-GitHub-Event"] == first.event and a["X-GitHub-Hook-ID"] == "42"


def test_loadtest_scenarios_follow_the_original_strategy():
    sc = _load("scenarios")
    ramp = sc.select({"LOADTEST_SCENARIO": "ramp"})
    assert ramp.tick(0) == (1, ramp.spawn_rate)
    assert ramp.tick(ramp.duration_s - 0.001)[0] == 74
    assert ramp.tick(ramp.duration_s) is None
    burst = sc.select({"LOADTEST_SCENARIO": "burst"})
    assert (burst.users, burst.request_budget, burst.duration_s) == (100, 1000, 60)
    assert sc.select({}).tick(10) == (40, 10)  # sustained is the default
    short = sc.select({"LOADTEST_SCENARIO": "sustained"}, users=20, duration_s=20)
    assert short.tick(19) == (20, 10) and short.tick(20) is None
    mix = sc.select({"LOADTEST_SCENARIO": "mix", "LOADTEST_PRIORITY_MIX": "high=1,low=3"})
    assert sc.task_weights(mix, {"high": 5, "medium": 5, "low": 0}) == {"high": 100}
    with pytest.raises(ValueError):
        sc.select({"LOADTEST_SCENARIO": "soak"})


def test_loadtest_thresholds():
    sc = _load("scenarios")
    ok = sc.RunSummary(requests=100, failures=9, p50_s=0.1, p95_s=2.9)
    assert sc.violations(ok, within_s=60) == []
    slow = sc.RunSummary(requests=100, failures=10, p50_s=0.1, p95_s=3.0)
    assert len(sc.violations(slow, within_s=60)) == 2
    late = sc.RunSummary(requests=1000, failures=0, p50_s=0.1, p95_s=0.2, budget=1000,
                         budget_done_in_s=61.0)
    assert sc.violations(late, within_s=60) == ["the 1000 requests took 61.0 s > 60 s"]
    assert sc.violations(sc.RunSummary(0, 0, 0.0, 0.0), within_s=60) == ["no request was sent"]
