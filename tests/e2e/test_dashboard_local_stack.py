"""The dashboard of a whole local stack (postgres backend) in a real browser, through a replay
of the real corpus and an application-database outage: the page sees the queues fill, the
breaker trip and recover, and every accepted delivery stored -- by polling, never by timing.

``SPILLWAY_DASHBOARD_SCREENSHOT=PATH`` saves the page at the end (how ``docs/dashboard.png``
is made).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from spillway.dashboard.local import for_stack
from spillway.local.stack import LocalStack, StackOptions
from spillway.replay import iter_payloads, replay
from tests.browser import (  # noqa: F401  (fixture)
    browser,
    latest,
    open_dashboard,
    screenshot_if_asked,
)
from tests.corpus import CORPUS

pytestmark = pytest.mark.e2e

OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")
#: Seconds the application PostgreSQL is stopped for, from just before the replay (as the
#: chaos test of test_local_stack.py: long enough for the workers to trip the breaker).
OUTAGE_S = 15.0
#: Milliseconds the page may take to show each change (polled, generous on 2 busy cores).
SHOW_WITHIN_MS = 120_000


@pytest.fixture
def workdir():
    """Not under pytest's basetemp: a concurrent pytest session resets that tree to mode 0700,
    and pgserver's postgres runs as another user when we are root (as tests/conftest.py)."""
    path = tempfile.mkdtemp(prefix="spillway-test-dashboard-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def test_dashboard_of_the_local_stack_through_a_burst_and_an_outage(browser, workdir,  # noqa: F811
                                                                      monkeypatch):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    payloads = list(iter_payloads([CORPUS]))
    stack = LocalStack(StackOptions(backend="postgres", workdir=workdir)).start()
    dashboard = for_stack(stack)
    page = None
    try:
        page, errors = open_dashboard(browser, dashboard.url, SHOW_WITHIN_MS)
        assert latest(page, "s.totals.stored") == 0
        assert latest(page, "s.breaker.state") == "CLOSED"

        # The outage starts as the replay does; the replay's answers feed the ack chart with
        # what a sender measures (request sent -> 2xx received).
        stack.app_db.stop()
        restart = threading.Timer(OUTAGE_S, stack.app_db.restart)
        restart.start()

        def on_result(result) -> None:
            dashboard.acks.record(result.elapsed_s * 1000, result.status)

        results = replay(payloads, stack.url, stack.secret, concurrency=4, repeat=2,
                         on_result=on_result)
        accepted = sum(200 <= r.status < 300 for r in results)
        assert accepted == len(results)
        page.wait_for_function(
            """() => window.spillway.latest().series.depth.high
                 .concat(window.spillway.latest().series.depth.medium,
                         window.spillway.latest().series.depth.low).some(v => v > 0)""",
            timeout=SHOW_WITHIN_MS)
        page.wait_for_function(
            "() => window.spillway.latest().transitions.some(t => t.to === 'OPEN')",
            timeout=SHOW_WITHIN_MS)
        restart.join()
        page.wait_for_function(
            f"""() => {{ const s = window.spillway.latest();
                return s.totals.stored === {accepted} && s.breaker.state === 'CLOSED'
                    && s.queues.high.total + s.queues.medium.total + s.queues.low.total === 0; }}""",
            timeout=SHOW_WITHIN_MS * 3)
        assert latest(page, "s.totals.accepted") == accepted
        assert latest(page, "s.series.ack_p95_ms.some(v => v > 0)")
        assert latest(page, "s.recent.length") > 0
        assert not errors, errors
        screenshot_if_asked(page, 2000)  # two more samples after the drain, for the picture
    finally:
        if page is not None:
            page.close()
        dashboard.stop()
        stack.stop()
