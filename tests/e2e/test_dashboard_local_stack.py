"""The dashboard of a whole local stack (both backends) in a real browser, through a replay
of the real corpus (on postgres with an application-database outage): the page sees the
queues fill, the workers' concurrency rise above 0, the breaker trip and recover, and every accepted delivery
stored -- by polling, never by timing. The dashboard is wired as ``spillway local`` wires it
(:func:`~spillway.dashboard.local.attach`: the edge records its own answers).

``SPILLWAY_DASHBOARD_SCREENSHOT=PATH`` saves the page of the aws-backend run at the end (how
``docs/dashboard.png`` is made: ``SPILLWAY_DASHBOARD_SCREENSHOT=docs/dashboard.png
.venv/bin/pytest tests/e2e/test_dashboard_local_stack.py -k aws``).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from spillway.dashboard.local import attach
from spillway.local.stack import LocalStack, StackOptions
from spillway.replay import iter_payloads, replay
from tests.browser import (  # noqa: F401  (fixture)
    browser,
    latest,
    open_dashboard,
    screenshot_if_asked,
)
from tests.corpus import CORPUS

#: A stack start, a replay through a 15 s database outage and the retried batches' return
#: after their visibility timeout (about 61 s): longer than the suite's 300 s on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

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


def redeliver_refused(results, payloads, stack, attempts: int = 5):
    """Each delivery the edge refused with a 503 (its queue emulator timing out on a loaded
    machine: a refusal the sender sees, nothing stored) sent again with the same id, as
    GitHub's redelivery does, until accepted or ``attempts`` are spent; the final results."""
    from spillway.replay import Sender

    by_source = {p.source: p for p in payloads}
    sender, final = Sender(stack.url, stack.secret), []
    for r in results:
        for _ in range(attempts):
            if r.status != 503:
                break
            r = sender.send(by_source[r.source], delivery_id=r.delivery_id)
        final.append(r)
    return final


#: What the page shows of the worker functions' concurrency: the most executions at once in
#: any step of the window, over every worker function.
WORKERS_BUSIEST = """Math.max(0, ...Object.entries(window.spillway.latest().series.slots)
    .filter(([pool]) => pool.startsWith('worker_')).flatMap(([, v]) => v.filter(x => x != null)))"""


@pytest.mark.parametrize("backend", ["aws", "postgres"])
def test_dashboard_of_the_local_stack_through_a_burst_and_an_outage(browser, workdir,  # noqa: F811
                                                                      monkeypatch, backend):
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    payloads = list(iter_payloads([CORPUS]))
    stack = LocalStack(StackOptions(backend=backend, workdir=workdir)).start()
    dashboard = attach(stack, 0)
    page = None
    try:
        page, errors = open_dashboard(browser, dashboard.url, SHOW_WITHIN_MS)
        assert latest(page, "s.totals.stored") == 0
        assert latest(page, "s.breaker.state") == "CLOSED"

        # The worker functions are on the page, each out of its reserved concurrency.
        pools = latest(page, "Object.keys(s.slots)")
        assert "edge" in pools and {"worker_high", "worker_low"} <= set(pools), pools
        # On postgres an outage starts as the replay does. (On aws the emulator, slow on a
        # busy machine, can delay the workers' first batches past a 15 s outage: the breaker
        # then has nothing to trip on, so that run shows the replay alone.)
        outage = backend == "postgres"
        if outage:
            stack.app_db.stop()
            restart = threading.Timer(OUTAGE_S, stack.app_db.restart)
            restart.start()

        results = redeliver_refused(
            replay(payloads, stack.url, stack.secret, concurrency=4, repeat=2), payloads, stack)
        accepted = sum(200 <= r.status < 300 for r in results)
        assert accepted == len(results)
        page.wait_for_function(
            """() => window.spillway.latest().series.depth.high
                 .concat(window.spillway.latest().series.depth.medium,
                         window.spillway.latest().series.depth.low).some(v => v > 0)""",
            timeout=SHOW_WITHIN_MS)
        if outage:
            page.wait_for_function(
                "() => window.spillway.latest().transitions.some(t => t.to === 'OPEN')",
                timeout=SHOW_WITHIN_MS)
            restart.join()
        try:
            page.wait_for_function(
                f"""() => {{ const s = window.spillway.latest();
                    return s.totals.stored === {accepted} && s.breaker.state === 'CLOSED'
                        && s.queues.high.total + s.queues.medium.total
                           + s.queues.low.total === 0; }}""",
                timeout=SHOW_WITHIN_MS * 3)
        except Exception:  # say what the page showed instead
            pytest.fail("not drained and stored as expected; the page shows "
                        + str(latest(page, "[s.totals, s.breaker.state, s.queues, s.errors,"
                                           " s.stale]")))
        assert latest(page, "s.totals.accepted") == accepted
        assert latest(page, "s.series.ack_p95_ms.some(v => v > 0)")
        assert latest(page, "s.recent.length") > 0
        # Workers that stored every delivery were busy: the chart says so (a once-a-second
        # reading of "now" showed them at 0 throughout), and so does the edge's.
        assert page.evaluate(f"() => {WORKERS_BUSIEST}") > 0
        assert latest(page, "s.series.slots.edge.some(v => v > 0)")
        tile = page.locator("#tile-slots").inner_text()
        assert "high" in tile and "low" in tile, tile  # each number has its name
        assert not errors, errors
        if backend == "aws":  # docs/dashboard.png: five queues, the health badge
            assert latest(page, "Object.keys(s.queues).length") == 6
            assert page.locator("#health-state").inner_text() in ("healthy", "degraded")
            # While the replay's workers are visible in the window, for the picture.
            screenshot_if_asked(page, 2000)
    finally:
        if page is not None:
            page.close()
        dashboard.stop()
        stack.stop()
