"""``edge_cpu_ratio``: CPU time of the edge's pure path per delivery ÷ HMAC-SHA256 + ``json.loads``
of the same bytes.

The edge path is what :meth:`chalicelib.edge.Edge.handle` and ``Edge._enqueue`` run between
receiving the body and calling the queue: :func:`~chalicelib.core.delivery.parse_delivery`
(size cap, signature, headers, media type, strict JSON parse), :func:`~chalicelib.core.classify.
classify`, the dedup record's id and payload fingerprint (:mod:`chalicelib.dedup`),
:func:`~chalicelib.core.envelope.build_envelope`, ``Envelope.to_message`` (a v2 message) and
:func:`~chalicelib.core.queues.message_bytes` (the claim-check decision). No network, no
dedup store: those are counted by ``bench.aws_requests`` (``edge_full_cpu_us_per_delivery``
is the whole edge with its clients). The baseline is the least any edge
must do: verify the signature and parse the JSON.

CPU time is :func:`time.process_time`; rounds of the edge and of the baseline alternate and the
figure is the median of the per-round ratios. When the ratio is above the goal, each step is timed on
its own and a cProfile of the path names the functions that dominate.
"""

from __future__ import annotations

import cProfile
import hashlib
import hmac
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable

from bench.corpus import SECRET, SignedDelivery
from bench.report import Figure
from chalicelib.core.classify import classify
from chalicelib.core.concurrency.routing import items_of
from chalicelib.core.delivery import parse_delivery
from chalicelib.core.envelope import build_envelope
from chalicelib.core.queues import message_bytes
from chalicelib.dedup import fingerprint, record_id
from chalicelib.settings import DEFAULT_MAX_BODY_BYTES

GOAL = 1.2


def edge_path(d: SignedDelivery, *, dedup: bool = True) -> int:
    """The edge's pure steps for one delivery; returns the queue message size in bytes.
    ``dedup=False`` leaves out the dedup record's id and fingerprint (a SHA-256 of the
    payload), as this figure was measured before issue 18."""
    delivery = parse_delivery(d.headers, d.body, secret=SECRET,
                              max_body_bytes=DEFAULT_MAX_BODY_BYTES, received_at=1.7e9)
    cls = classify(delivery.event, delivery.action, delivery.body_bytes,
                   items_of(delivery.event, delivery.payload))
    if dedup:
        _dedup_keys(delivery)
    body, _attributes = build_envelope(delivery, cls).to_message(strict_json=True)
    return message_bytes(body)  # the edge sizes the body (ENVELOPE_HEADROOM_BYTES: the rest)


def _without_dedup(d: SignedDelivery) -> int:
    return edge_path(d, dedup=False)


def _dedup_keys(delivery) -> tuple[str, str]:
    """What ``Edge._accept`` computes before its one conditional write."""
    return (record_id(delivery.hook_id, delivery.delivery_id),
            fingerprint(hashlib.sha256(delivery.payload_json.encode("utf-8", "surrogatepass"))
                        .hexdigest()))


def baseline(d: SignedDelivery) -> int:
    """HMAC-SHA256 of the body plus ``json.loads`` of it."""
    hmac.new(SECRET.encode(), d.body, hashlib.sha256).hexdigest()
    return len(json.loads(d.body))


def _cpu(fn: Callable[[SignedDelivery], int], corpus: list[SignedDelivery], loops: int) -> float:
    start = time.process_time()
    for _ in range(loops):
        for d in corpus:
            fn(d)
    return time.process_time() - start


def steps(corpus: list[SignedDelivery], loops: int = 3) -> dict[str, float]:
    """CPU microseconds per delivery of each step of :func:`edge_path`, timed step by step
    (``process_time``, no profiler overhead): ``{"parse_delivery": us, ...}``."""
    parsed = [parse_delivery(d.headers, d.body, secret=SECRET,
                             max_body_bytes=DEFAULT_MAX_BODY_BYTES, received_at=1.7e9)
              for d in corpus]
    classes = [classify(p.event, p.action, p.body_bytes, items_of(p.event, p.payload))
               for p in parsed]
    envelopes = [build_envelope(p, c) for p, c in zip(parsed, classes, strict=True)]
    messages = [e.to_message(strict_json=True) for e in envelopes]
    work = {
        "parse_delivery": lambda i: parse_delivery(
            corpus[i].headers, corpus[i].body, secret=SECRET,
            max_body_bytes=DEFAULT_MAX_BODY_BYTES, received_at=1.7e9),
        "classify": lambda i: classify(parsed[i].event, parsed[i].action, parsed[i].body_bytes,
                                       items_of(parsed[i].event, parsed[i].payload)),
        "dedup_keys": lambda i: _dedup_keys(parsed[i]),
        "build_envelope": lambda i: build_envelope(parsed[i], classes[i]),
        "to_message": lambda i: envelopes[i].to_message(strict_json=True),
        "message_bytes": lambda i: message_bytes(messages[i][0]),
    }
    out = {}
    for name, fn in work.items():
        start = time.process_time()
        for _ in range(loops):
            for i in range(len(corpus)):
                fn(i)
        out[name] = round((time.process_time() - start) / (loops * len(corpus)) * 1e6, 1)
    return out


def profile(corpus: list[SignedDelivery], top: int = 8) -> list[dict]:
    """The functions with the most cumulative time on the edge path (cProfile), as
    ``[{"function": "module:name", "share": fraction of the path}]``."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(5):
        for d in corpus:
            edge_path(d)
    prof.disable()
    stats = pstats.Stats(prof)
    total = max(stats.total_tt, 1e-12)
    rows = []
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if name in ("edge_path", "<module>") or filename == "~" and "disable" in name:
            continue
        where = filename.rsplit("/chalicelib/", 1)[-1] if "/chalicelib/" in filename else (
            filename.rsplit("/", 1)[-1] if filename != "~" else "builtin")
        rows.append({"function": f"{where}:{name}", "share": round(ct / total, 3)})
    rows.sort(key=lambda r: -r["share"])
    return rows[:top]


def run(corpus: list[SignedDelivery], *, rounds: int = 9, loops: int = 3) -> Figure:
    """Measure ``edge_cpu_ratio`` on ``corpus`` (``rounds`` alternating rounds of ``loops``
    passes each)."""
    for d in corpus:  # warm up, and prove every delivery passes the edge path
        edge_path(d)
    ratios, edge_s, base_s, bare = [], [], [], []
    for i in range(rounds):
        print(f"  edge cpu: round {i + 1}/{rounds}", file=sys.stderr, flush=True)
        e = _cpu(edge_path, corpus, loops)
        b = _cpu(baseline, corpus, loops)
        bare.append(_cpu(_without_dedup, corpus, loops) / b)
        edge_s.append(e)
        base_s.append(b)
        ratios.append(e / b)
    n = len(corpus) * loops
    detail = {"edge_cpu_ms_per_delivery": statistics.median(edge_s) / n * 1000,
              "baseline_cpu_ms_per_delivery": statistics.median(base_s) / n * 1000,
              "rounds": rounds, "deliveries_per_round": n, "goal": GOAL,
              "ratios": [round(r, 3) for r in ratios],
              "ratio_without_dedup_keys": statistics.median(bare)}
    value = statistics.median(ratios)
    if value > GOAL:
        detail["step_cpu_us_per_delivery"] = steps(corpus)
        detail["profile"] = profile(corpus)
    return Figure("edge_cpu_ratio", value, "HMAC-SHA256 + json.loads of the same bytes = 1",
                  "x", detail)
