"""The pure parts of ``spillway loadtest``: the Locust command line and its summary line."""

from __future__ import annotations

import sys

from spillway.loadtest import LOCUSTFILE, locust_command, parse_summary


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
