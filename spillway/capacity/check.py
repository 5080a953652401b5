"""``spillway capacity check``: drive an arrival profile through the local stack running a tier's
plan and measure what :mod:`spillway.capacity.model` predicts.

Open loop, as GitHub sends: the profile's rate for each second becomes evenly spaced send times
(the corpus's payloads in a fixed shuffled order, each with a fresh delivery GUID, so the mix is
the corpus mix the model uses); a slow answer never delays the next send. While it runs, each
work queue's depth (visible + in flight + delayed) is sampled every :data:`SAMPLE_S` seconds and
the application database's connections by :class:`spillway.ops.dbwatch.ConnectionSampler`;
database outages of the profile are :class:`spillway.chaos.DbOutage` faults. After the drain,
each accepted delivery's wait is read from the ledger (``received_at`` -> ``processed_at``).
"""

from __future__ import annotations

import dataclasses
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from spillway.capacity.model import (
    PRIORITIES,
    QUEUES,
    Profile,
    baseline_depth,
    drain_from,
    queue_of,
)

#: Seconds between two depth samples.
SAMPLE_S = 0.25
#: Most seconds to wait for the queues to drain after the last send.
DRAIN_TIMEOUT_S = 600.0
#: Relative tolerance of a figure's check (the issue's ±30 %), and the absolute slack under which
#: two small figures agree anyway (deliveries or seconds: one sample's resolution).
TOLERANCE, SLACK = 0.30, 1.0

_WAITS_SQL = """
SELECT delivery_id, extract(epoch FROM received_at), extract(epoch FROM processed_at)
  FROM webhook_deliveries WHERE delivery_id = ANY(%s)
"""


def send_times(profile: Profile) -> list[float]:
    """Seconds from the start at which to send, ``rate`` evenly spaced per second of the profile
    (fractional rates carry over to the next second)."""
    times, carry = [], 0.0
    for second, rate in enumerate(profile.rates):
        carry += rate
        n = int(carry)
        carry -= n
        times += [second + (k + 0.5) / n for k in range(n)]
    return times


def run_check(plan, profile: Profile, *, backend: str = "postgres", workdir=None,
              breaker_open_s: int | None = None) -> dict:
    """Start the local stack with ``plan``'s numbers (its databases in ``workdir``, default a
    temporary directory), drive ``profile``, measure. Returns
    ``sent``, ``refused`` (non-2xx answers: GitHub would record them as failed), ``peak_depth``
    per queue and ``peak_depth_total``, ``drained_s`` (after the last burst, same definition as
    the model's), ``wait_p95_s`` / ``wait_max_s`` per priority, ``db_connections_peak`` and
    ``series`` (for the plot), ``outages`` (each outage as it happened: from the server's stop
    to its restart returning, seconds from the start). Raises ConfigError when the stack cannot host an outage."""
    from bench.corpus import deliveries
    from chalicelib import wiring
    from spillway.chaos import DbOutage
    from spillway.demo_tier import tier_stack_options
    from spillway.local.stack import LocalStack, StackOptions
    from spillway.ops.dbwatch import ConnectionSampler

    if workdir is None:  # never the project's .spillway: its local stack's data stays as it is
        with tempfile.TemporaryDirectory(prefix="spillway-capacity-") as tmp:
            return run_check(plan, profile, backend=backend, workdir=tmp,
                             breaker_open_s=breaker_open_s)
    base = StackOptions(backend=backend, workdir=Path(workdir))
    if breaker_open_s:
        base.breaker_open_s = breaker_open_s
    with LocalStack(tier_stack_options(plan, base)) as stack:
        corpus = deliveries(secret=stack.secret)
        random.Random(0).shuffle(corpus)
        queue = wiring.get_queue()
        faults = [DbOutage(stack, end - start, start) for start, end in profile.outages]
        samples: list[tuple[float, list[int]]] = []
        stop = threading.Event()
        t0 = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                depths = [queue.stats(q).total for q in QUEUES]
                samples.append((time.perf_counter() - t0, depths))
                stop.wait(SAMPLE_S)

        sampler_thread = threading.Thread(target=sample, name="capacity-depth", daemon=True)
        with ConnectionSampler(stack.env["DATABASE_URL"]) as connections:
            sampler_thread.start()
            for fault in faults:
                fault.start()
            acks = _send(corpus, send_times(profile), stack.url, t0)
            for fault in faults:
                fault.join()
            _wait_empty(samples, profile.duration_s)
            stop.set()
            sampler_thread.join()
        waits = _waits(stack.env["DATABASE_URL"], acks, t0)
    # an outage lasts until the restarted server answers: time the drain from when it did
    realized = dataclasses.replace(profile, outages=tuple(
        (round(f.broken_at - t0, 2), round(f.restored_at - t0, 2)) for f in faults
        if f.broken_at is not None and f.restored_at is not None))
    return {**measure(realized, acks, samples, waits, connections.peak),
            "outages": [list(o) for o in realized.outages]}



def _send(corpus, times: list[float], url: str, t0: float) -> list[tuple]:
    """Send ``corpus`` (cycled, renamed) at ``times``; ``[(delivery, sent_at, status)]``."""
    from bench.burst.send import post
    from bench.corpus import renamed

    acks: list[tuple] = []
    lock = threading.Lock()

    def one(delivery, at: float) -> None:
        status, _ = post(url, delivery)
        with lock:
            acks.append((delivery, at, status))

    with ThreadPoolExecutor(max_workers=128, thread_name_prefix="capacity-send") as pool:
        for i, at in enumerate(times):
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, renamed(corpus[i % len(corpus)]), time.perf_counter() - t0)
    return acks


def _wait_empty(samples: list, duration_s: float) -> None:
    deadline = time.perf_counter() + DRAIN_TIMEOUT_S
    while time.perf_counter() < deadline:
        time.sleep(SAMPLE_S)
        recent = samples[-8:]
        if len(recent) == 8 and recent[0][0] > duration_s and all(
                sum(d) == 0 for _, d in recent):
            return
    print("spillway capacity check: the queues did not drain in time", file=sys.stderr)


def _waits(url: str, acks: list[tuple], t0: float) -> dict[str, tuple[float, float]]:
    import psycopg

    ids = [d.headers["X-GitHub-Delivery"] for d, _, status in acks if 200 <= status < 300]
    with psycopg.connect(url) as conn:
        rows = conn.execute(_WAITS_SQL, (ids,)).fetchall()
    return {r[0]: (float(r[1]), float(r[2]) - float(r[1])) for r in rows}


def _class_of(delivery) -> tuple[str, str]:
    import json

    from chalicelib.core.classify import classify
    from chalicelib.core.concurrency.routing import items_of

    doc = json.loads(delivery.body)
    action = doc.get("action") if isinstance(doc, dict) else None
    c = classify(delivery.event, action if isinstance(action, str) else None, len(delivery.body),
                 items_of(delivery.event, doc) if isinstance(doc, dict) else 0)
    return c.priority, c.target


def measure(profile: Profile, acks: list[tuple], samples: list, waits: dict,
            db_connections_peak: int) -> dict:
    """The measured figures from the raw observations (pure; see :func:`run_check`)."""
    t = np.array([s for s, _ in samples]) if samples else np.zeros(1)
    depth = np.array([d for _, d in samples], dtype=float) if samples else np.zeros((1, 5))
    total = depth.sum(axis=1)
    end = drain_from(profile)
    after = np.nonzero((t >= end) & (total <= baseline_depth(t, total, profile)))[0]
    by_prio: dict[str, list[float]] = {p: [] for p in PRIORITIES}
    by_class: dict[str, list[float]] = {}
    wait_series: dict[str, list] = {f"wait_{p}": [] for p in PRIORITIES}
    for delivery, sent_at, _ in acks:
        got = waits.get(delivery.headers["X-GitHub-Delivery"])
        if got is None:
            continue
        p, target = _class_of(delivery)
        by_prio[p].append(got[1])
        by_class.setdefault(f"{p}/{target}", []).append(got[1])
        if queue_of(p, target) == p:
            wait_series[f"wait_{p}"].append((round(sent_at, 2), round(got[1], 3)))
    refused = sum(1 for _, _, status in acks if not 200 <= status < 300)
    return {
        "_stored_at": [r + w for r, w in waits.values()],
        "sent": len(acks), "refused": refused, "edge_refusals": "some" if refused else "none",
        "stored": len(waits),
        "peak_depth": {q: int(depth[:, k].max()) for k, q in enumerate(QUEUES)},
        "peak_depth_total": int(total.max()),
        "drained_s": round(float(t[after[0]] - end), 2) if len(after) else None,
        "wait_p95_s": {"priority": _pct(by_prio, 95), "class": _pct(by_class, 95)},
        "wait_max_s": {"priority": _pct(by_prio, 100), "class": _pct(by_class, 100)},
        "db_connections_peak": db_connections_peak,
        "series": {"t_s": [round(float(x), 2) for x in t],
                   **{f"depth_{q}": [int(x) for x in depth[:, k]] for k, q in enumerate(QUEUES)},
                   **wait_series},
    }


def _pct(groups: dict[str, list[float]], q: float) -> dict[str, float | None]:
    return {k: (round(float(np.percentile(v, q)), 2) if v else None) for k, v in groups.items()}


def compare(predicted: dict, measured: dict) -> list[dict]:
    """Rows ``{"figure", "predicted", "measured", "verdict"}``: ``ok`` within ±30 % (or
    :data:`SLACK` absolute), ``off`` outside; edge refusals compare their verdict (none / some);
    waits and connections are shown (``info``), not judged."""
    rows = [_row("peak depth (all queues)", predicted["peak_depth_total"],
                 measured["peak_depth_total"]),
            _row("drained after last burst (s)", predicted["drained_s"], measured["drained_s"]),
            {"figure": "edge refusals", "predicted": predicted["edge_refusals"],
             "measured": measured["edge_refusals"],
             "verdict": "ok" if predicted["edge_refusals"] == measured["edge_refusals"]
             else "off"}]
    for q in QUEUES:
        rows.append(_row(f"peak depth {q}", predicted["peak_depth"][q],
                         measured["peak_depth"][q], judged=False))
    for p in PRIORITIES:
        rows.append(_row(f"p95 wait {p} (s)", predicted["wait_p95_s"]["priority"].get(p),
                         measured["wait_p95_s"]["priority"].get(p), judged=False))
    rows.append(_row("db connections peak", predicted["db_connections_peak"],
                     measured["db_connections_peak"], judged=False))
    return rows


def _row(figure: str, predicted, measured, judged: bool = True) -> dict:
    if predicted is None or measured is None:
        verdict = "ok" if predicted == measured else "off"
    else:
        close = abs(predicted - measured) <= max(SLACK, TOLERANCE * abs(measured))
        verdict = "ok" if close else "off"
    return {"figure": figure, "predicted": predicted, "measured": measured,
            "verdict": verdict if judged else "info"}


#: Where ``capacity calibrate`` writes the local stack's measured throughput.
CALIBRATION_PATH = Path(".spillway") / "capacity" / "calibration.json"
#: Deliveries the calibration sends, and how fast (deliveries/s): faster than the free tier's
#: workers drain, below its API throttle, so a backlog builds and the drain rate is the host's.
CALIBRATION_DELIVERIES, CALIBRATION_RATE = 600, 90.0


def calibrate(plan, *, backend: str = "postgres", workdir=None) -> dict:
    """Measure the local stack's throughput under a backlog: send
    :data:`CALIBRATION_DELIVERIES` at :data:`CALIBRATION_RATE`/s and time the middle 80 % of the
    stores in the ledger. Returns ``{"host_rate", "backend", "tier", "deliveries",
    "measured_at"}`` (deliveries/s); ``host_rate`` is a lower bound when the workers kept up
    with the sender (``"kept_up": true``)."""
    length = CALIBRATION_DELIVERIES / CALIBRATION_RATE
    profile = Profile((CALIBRATION_RATE,) * int(length))
    measured = run_check(plan, profile, backend=backend, workdir=workdir)
    stored = sorted(t for t in measured.pop("_stored_at"))
    lo, hi = stored[len(stored) // 10], stored[len(stored) * 9 // 10]
    rate = (len(stored) * 0.8) / max(hi - lo, 1e-3)
    return {"host_rate": round(rate, 1), "backend": backend, "tier": plan.name,
            "deliveries": len(stored), "kept_up": rate >= CALIBRATION_RATE * 0.9,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
