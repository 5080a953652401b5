"""``spillway bench burst``: the same signed burst, the same concurrency cap and the same
application-database outage against each system in turn (:data:`bench.burst.systems.SYSTEMS`),
loopback only; one summary per system (:mod:`bench.burst.summary`), a JSON file and a PNG.

Bounded: ``len(corpus) x repeat`` requests (at most ``limit``) over ``duration_s`` seconds, each
answered within 10 s, then at most ``settle_timeout_s`` seconds for a backlog to be stored.
Progress goes to stderr.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.burst.send import burst, send_burst
from bench.burst.summary import summarize
from bench.burst.systems import SYSTEMS
from bench.corpus import corpus_path, deliveries
from chalicelib.errors import ConfigError
from spillway.chaos import DbOutage
from spillway.ops.dbwatch import ConnectionSampler
from spillway.paths import WORKDIR

#: Where the JSON (``burst.json``) and the plot (``burst.png``) go by default.
OUT_DIR = WORKDIR / "bench"


@dataclass
class BurstOptions:
    """One benchmark run. Durations in seconds (from the start of each system's burst)."""

    corpus: Path | None = None  #: None: bench.corpus.corpus_path()
    repeat: int = 10            #: the 10x burst: the corpus this many times, fresh GUIDs
    limit: int | None = None    #: at most this many deliveries (None: all)
    duration_s: float = 40.0    #: sending spread evenly over this long
    outage_at_s: float = 10.0   #: the application database stops then ...
    outage_s: float = 20.0      #: ... for this long (0: no outage)
    concurrency: int = 10       #: the edge cap of every system (the free tier's 10)
    settle_timeout_s: float = 120.0  #: at most this long after sending for the backlog
    quiet_s: float = 15.0       #: give up earlier when the backlog has not moved this long
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    out_dir: Path = OUT_DIR


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_burst(opts: BurstOptions) -> tuple[list[dict], list[dict]]:
    """Run every system of ``opts.systems``; returns ``(rows, runs)``: the summaries
    (:func:`bench.burst.summary.summarize`, one per system, in order) and the raw runs the plot
    draws (``system``, ``acks``, ``stored``, ``outage``). Raises
    :class:`~chalicelib.errors.ConfigError` when the corpus has no payload."""
    path = opts.corpus or corpus_path()
    try:
        corpus = deliveries(path)
    except ValueError as exc:  # no payload there, or a file that is not JSON
        raise ConfigError(str(exc)) from None
    total = len(corpus) * opts.repeat if opts.limit is None else min(
        opts.limit, len(corpus) * opts.repeat)
    say(f"bench burst: {len(corpus)} payloads from {path} x {opts.repeat} -> {total} deliveries "
        f"over {opts.duration_s:g} s, cap {opts.concurrency}, database outage "
        f"{opts.outage_s:g} s from t={opts.outage_at_s:g} s; systems {', '.join(opts.systems)}")
    rows, runs = [], []
    for name in opts.systems:
        with tempfile.TemporaryDirectory(prefix=f"spillway-burst-{name}-") as tmp:
            run = _run_one(SYSTEMS[name](opts.concurrency), burst(corpus, opts.repeat)[:total],
                           opts, Path(tmp))
        runs.append(run)
        rows.append(run["row"])
        r = run["row"]
        say(f"[{name}] accepted {r['accepted']}/{r['sent']}, stored {r['stored']}, lost "
            f"{r['lost']}, duplicated {r['duplicated']}, recovery {r['recovery_s']} s")
    return rows, runs


def _run_one(system, batch, opts: BurstOptions, workdir: Path) -> dict:
    name = system.name
    say(f"[{name}] starting ...")
    started = time.perf_counter()
    system.start(workdir)
    try:
        say(f"[{name}] up in {time.perf_counter() - started:.1f} s at {system.endpoint}")
        sampler = ConnectionSampler(system.database_url)
        sampler.start()
        fault = (DbOutage(system, opts.outage_s, max(opts.outage_at_s, 0.01))
                 if opts.outage_s > 0 else None)
        t0, t0_epoch = time.perf_counter(), time.time()
        if fault:
            fault.start()
        acks = send_burst(batch, system.endpoint, duration_s=opts.duration_s, t0=t0,
                          on_ack=_progress(name, len(batch)))
        if fault:
            fault.join()
        settled = _settle(system, opts)
        sampler.stop()
        stored = system.stored([a.delivery_id for a in acks], t0_epoch)
    finally:
        system.stop()
    # from the stop asked for (the database refuses work from then on) to the restart done
    outage = (round(fault.after_s, 2), round(fault.restored_at - t0, 2)) if fault else None
    row = summarize(name, acks, stored, outage, sampler.peak, settled=settled)
    if hasattr(system, "restarts"):
        row["process_restarts"] = system.restarts
    return {"system": name, "acks": acks, "stored": stored, "outage": outage, "row": row}


def _progress(name: str, total: int):
    seen = {"n": 0, "ok": 0}
    lock = threading.Lock()

    def on_ack(ack) -> None:
        with lock:
            seen["n"] += 1
            seen["ok"] += 200 <= ack.status < 300
            n, ok = seen["n"], seen["ok"]
        if n % max(1, total // 10) == 0 or n == total:
            say(f"[{name}] answered {n}/{total}, accepted {ok}")
    return on_ack


def _settle(system, opts: BurstOptions) -> bool:
    """Wait until ``system`` has no backlog (True), its backlog has not moved for
    ``opts.quiet_s`` or ``opts.settle_timeout_s`` passed (False)."""
    deadline = time.perf_counter() + opts.settle_timeout_s
    last, moved_at, zeros, told = None, time.perf_counter(), 0, 0.0
    while time.perf_counter() < deadline:
        left = system.pending()
        zeros = zeros + 1 if left == 0 else 0
        if zeros >= 2:
            return True
        now = time.perf_counter()
        if left != last:
            last, moved_at = left, now
        elif now - moved_at > opts.quiet_s:
            say(f"[{system.name}] backlog stuck at {left} for {opts.quiet_s:g} s; not waiting")
            return False
        if now - told > 2.0:
            told = now
            say(f"[{system.name}] backlog {left if left >= 0 else 'unknown'}")
        time.sleep(0.5)
    return False


def write(rows: list[dict], runs: list[dict], out_dir: Path) -> tuple[Path, Path]:
    """``out_dir/burst.json`` (the rows) and ``out_dir/burst.png`` (:mod:`bench.burst.plot`)."""
    from bench.burst.plot import plot

    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "burst.json"
    data.write_text(json.dumps(rows, indent=1) + "\n")
    return data, plot(runs, out_dir / "burst.png")
