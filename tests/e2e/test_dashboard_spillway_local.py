"""The dashboard as a user meets it: the real ``spillway local`` command serves it, a burst is
replayed with ``spillway --local replay`` (no URL, no secret: the stack's own), and a headless
browser sees the queue-depth chart rise, the edge's own acknowledgements counted, and the
stored count reach the burst -- by polling, never by timing. The replay then reports the
demo's accounting, and SIGHUP stops it all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.browser import browser, latest, open_dashboard  # noqa: F401  (fixture)
from tests.corpus import CORPUS

pytestmark = pytest.mark.e2e

OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL", "SPILLWAY_URL",
                   "GITHUB_WEBHOOK_SECRET")
#: Milliseconds the page may take to show each change (polled, generous on 2 busy cores).
SHOW_WITHIN_MS = 180_000
REPEAT = 2


@pytest.fixture
def workdir():
    """Not under pytest's basetemp (pgserver's postgres runs as another user when root)."""
    path = Path(tempfile.mkdtemp(prefix="spillway-test-dash-local-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _spillway(*args: str) -> list[str]:
    return [sys.executable, "-m", "spillway.cli", *args]


def test_spillway_local_serves_a_dashboard_that_shows_a_replayed_burst(browser, workdir):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
    env["SPILLWAY_WORKDIR"] = str(workdir)
    stack = subprocess.Popen(_spillway("local", "--backend", "postgres"), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    page = None
    try:
        banner = []
        for line in stack.stdout:  # the banner ends with "Ctrl-C to stop."
            banner.append(line)
            if line.startswith("Ctrl-C"):
                break
        urls = [ln.split()[-1] for ln in banner if ln.strip().startswith("dashboard:")]
        assert urls and urls[0].startswith("http://127.0.0.1:"), banner
        page, errors = open_dashboard(browser, urls[0], SHOW_WITHIN_MS)
        assert latest(page, "s.totals.stored") == 0

        replay = subprocess.run(
            _spillway("--local", "replay", str(CORPUS), "--repeat", str(REPEAT), "--json"),
            env=env, capture_output=True, text=True, timeout=SHOW_WITHIN_MS / 1000 * 3)
        assert replay.returncode == 0, replay.stderr[-2000:]
        summary = json.loads(replay.stdout.strip().splitlines()[-1])
        sent = summary["sent"]
        assert summary["accepted"] == summary["stored"] == sent > 0
        assert summary["missing"] == summary["duplicated"] == 0

        page.wait_for_function(
            f"""() => {{ const s = window.spillway.latest();
                return s.totals.stored === {sent} && s.totals.accepted === {sent}; }}""",
            timeout=SHOW_WITHIN_MS)
        assert latest(page, """['high', 'medium', 'low'].some(
            q => s.series.depth[q].some(v => v > 0))""")
        assert latest(page, "s.series.ack_p95_ms.some(v => v > 0)")  # the edge's own latencies
        assert latest(page, "s.recent.length") > 0
        # The workers that stored the replay were busy on the chart (most at once per second).
        assert latest(page, """Object.entries(s.series.slots).some(
            ([pool, v]) => pool.startsWith('worker_') && v.some(x => x > 0))""")
        assert not errors, errors

        # `status` in another process shows the stack's concurrency, read from its dashboard.
        status = subprocess.run(_spillway("--local", "status", "--json"), env=env,
                                capture_output=True, text=True, timeout=120)
        assert status.returncode == 0, status.stderr[-2000:]
        concurrency = json.loads(status.stdout)["concurrency"]
        assert "available" not in concurrency, concurrency
        assert {"edge", "worker_high", "worker_low"} <= set(concurrency["pools"])
        assert concurrency["limit"] > 0
        text = subprocess.run(_spillway("--local", "status"), env=env, capture_output=True,
                              text=True, timeout=120).stdout
        assert "in use now, at most" in text and "unavailable" not in text.split(
            "concurrency", 1)[1].splitlines()[0], text
    finally:
        if page is not None:
            page.close()
        stack.send_signal(signal.SIGHUP)
        out, _ = stack.communicate(timeout=240)
    assert stack.returncode == 0
    assert "Stopped:" in out
