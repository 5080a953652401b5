"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright).

Sources are real: a PostgreSQL queue (:class:`PgQueue`) on a fresh database, the ledger written
by the real :class:`~chalicelib.appdb.AppDatabase` from corpus payloads, the shared breaker on
:class:`PgState`. The test enqueues a burst, sees the queue-depth chart rise, drains it through
the store like a worker, and sees the stored count and the table change -- all by polling the
page, never by timing.

``SPILLWAY_DASHBOARD_SCREENSHOT=PATH`` saves a screenshot of the page with the burst on it
(``docs/dashboard.png`` comes from the whole-stack test, ``tests/e2e/test_dashboard_local_stack.py``).
Skips, naming what is missing, only when Playwright or the browser is not there
(``scripts/ensure-chromium`` installs it; ``make test`` runs that).
"""

from __future__ import annotations

import json
import threading

from chalicelib.core.breaker import CircuitState
from chalicelib.core.classify import priority_for
from spillway.dashboard.feeds import AckFeed, SlotMeter
from spillway.dashboard.local import start
from spillway.ops import breaker
from spillway.replay import iter_payloads
from tests.browser import (  # noqa: F401  (fixture)
    browser,
    latest,
    open_dashboard,
    screenshot_if_asked,
)
from tests.contract.conftest import queue_pool  # noqa: F401  (fixture)
from tests.corpus import CORPUS

BURST = 40
#: Milliseconds the page may take to show a change (polled; generous for a loaded 2-core machine).
SHOW_WITHIN_MS = 30_000


def corpus_payloads(n: int) -> list[tuple[str, dict]]:
    """``n`` real payloads spread over the corpus's events: (event, document)."""
    payloads = list(iter_payloads([CORPUS]))
    return [(p.event, json.loads(p.body)) for p in payloads[::max(1, len(payloads) // n)][:n]]


def drain(queue, store, stop: threading.Event, meter: SlotMeter, failures: list) -> None:
    """A worker in miniature: receive, store through the real writer, delete."""
    try:
        _drain(queue, store, stop, meter)
    except Exception as exc:  # reported by the test, not lost in a thread
        failures.append(exc)


def _drain(queue, store, stop: threading.Event, meter: SlotMeter) -> None:
    while not stop.is_set():
        got = 0
        for priority in ("high", "medium", "low"):
            for m in queue.receive(priority, 5, 30, 0.0):
                got += 1
                with meter.slot():
                    doc = json.loads(m.body)
                    store.store(hook_id="1", delivery_id=m.attributes["delivery_id"],
                                event=m.attributes["event"], action=doc.get("action"),
                                priority=priority, received_at=m.sent_at,
                                receive_count=m.receive_count, payload=doc,
                                payload_bytes=len(m.body))
                queue.delete(priority, [m.receipt_handle])
                stop.wait(0.05)  # a paced worker, so the drain shows on the chart
        if not got:
            stop.wait(0.2)


def test_dashboard_shows_a_burst(browser, queue_pool, pg_url):  # noqa: F811 (fixtures)
    import time
    import uuid

    from chalicelib.adapters.postgres.queue import PgQueue
    from chalicelib.adapters.postgres.state import PgState
    from chalicelib.appdb import AppDatabase
    from spillway.migrate import migrate

    migrate(pg_url, "app")
    queue, state = PgQueue(queue_pool, max_receive_count=3), PgState(queue_pool)
    store = AppDatabase(queue_pool)
    acks, meter = AckFeed(), SlotMeter(limit=1)
    dashboard = start(queue=queue, breaker_status=lambda: breaker.status(state, "postgres"),
                      database_url=pg_url, acks=acks, slots={"worker": meter},
                      labels={"backend": "postgres", "source": "browser test"})
    stop, failures = threading.Event(), []
    worker = threading.Thread(target=drain, args=(queue, store, stop, meter, failures),
                              daemon=True)
    page = None
    try:
        page, errors = open_dashboard(browser, dashboard.url, SHOW_WITHIN_MS)
        assert latest(page, "s.totals.stored") == 0

        # The burst: BURST real payloads enqueued; each send's latency goes to the ack feed
        # as the edge's would (its acknowledgement waits on the enqueue).
        sent = []
        for event, doc in corpus_payloads(BURST):
            delivery_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            queue.send(priority_for(event, doc.get("action")), json.dumps(doc),
                       {"delivery_id": delivery_id, "event": event})
            acks.record((time.perf_counter() - t0) * 1000, 202)
            sent.append(delivery_id)
        page.wait_for_function(
            f"""() => {{ const u = window.spillway.charts.depth;
                const last = i => u.data[i][u.data[i].length - 1] || 0;
                return last(1) + last(2) + last(3) >= {len(sent)}; }}""",
            timeout=SHOW_WITHIN_MS)
        assert latest(page, "s.totals.accepted") == len(sent)

        # A database outage as the operator sees it: the breaker forced open, then reset.
        breaker.force(state, "postgres", CircuitState.FORCED_OPEN, reason="test", by="test")
        page.wait_for_function("() => window.spillway.latest().breaker.state === 'FORCED_OPEN'",
                               timeout=SHOW_WITHIN_MS)
        # The health section `spillway status` prints, on the page from the same snapshot.
        page.wait_for_function(
            "() => document.getElementById('health-state').textContent === 'critical'",
            timeout=SHOW_WITHIN_MS)
        assert "circuit breaker FORCED_OPEN" in page.locator("#health-detail").inner_text()
        breaker.reset(state, "postgres", by="test", reason="test")
        worker.start()
        page.wait_for_function(
            f"""() => {{ const s = window.spillway.latest();
                const d = s.series.depth, n = d.high.length - 1;
                return s.totals.stored === {len(sent)} && s.recent.length > 0
                    && d.high[n] + d.medium[n] + d.low[n] === 0
                    && s.series.stored_per_s.some(v => v > 0); }}""",
            timeout=SHOW_WITHIN_MS * 4)
        transitions = latest(page, "s.transitions.map(t => t.to)")
        assert transitions[:2] == ["FORCED_OPEN", "CLOSED"]
        rows = page.locator("#recent tbody tr")
        assert rows.count() == latest(page, "s.recent.length")
        assert latest(page, "s.recent[0].delivery_id") in sent
        stored_points = page.evaluate(
            "() => window.spillway.charts.rates.data[2].filter(v => v > 0).length")
        assert stored_points > 0
        assert not errors, errors
        assert not failures, failures
        screenshot_if_asked(page, 1500)  # two more samples after the drain, for the picture
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(10)
        if page is not None:
            page.close()
        dashboard.stop()


def test_a_late_probe_is_grey_stale_not_a_red_error(browser):  # noqa: F811 (fixture)
    """The dashboard's own probe answering late (an emulator slow on a loaded machine) is
    shown as stale, in grey, with the last reading kept -- never as an error while health
    is healthy."""
    from chalicelib.ports import QUEUES, QueueStats
    from spillway.dashboard.sampler import Sampler, Sources
    from spillway.dashboard.server import serve
    from spillway.dashboard.snapshot import LedgerReading
    from spillway.ops.status import health_section, tier_section

    late, calls = threading.Event(), []

    def queues():
        calls.append(1)
        if len(calls) > 3:  # from the fourth read on, it answers only when let go
            late.wait(60)
        return {q: QueueStats(q, 1, 0, 0) for q in QUEUES}

    sampler = Sampler(Sources(queues=queues, ledger=lambda: LedgerReading(0),
                              sections={"tier": lambda: tier_section(env={})},
                              derived={"health": health_section})).start()
    server = serve(sampler)
    page = None
    try:
        page, errors = open_dashboard(browser, server.url, SHOW_WITHIN_MS)
        page.wait_for_function("() => !document.getElementById('stale').hidden",
                               timeout=SHOW_WITHIN_MS)
        assert "queues: no answer within" in page.locator("#stale").inner_text()
        assert page.locator("#errors").is_hidden()
        assert page.locator("#health-state").inner_text() == "healthy"
        assert page.locator("#tile-queued").inner_text().split() == [
            "high", "1", "medium", "1", "low", "1", "heavy", "1", "batch", "1"]
        late.set()
        page.wait_for_function("() => document.getElementById('stale').hidden",
                               timeout=SHOW_WITHIN_MS)
        assert not errors, errors
    finally:
        late.set()
        if page is not None:
            page.close()
        server.stop()
        sampler.stop()
