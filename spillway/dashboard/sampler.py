"""The sampler: reads the injected sources once a step into a rolling window of samples and
builds snapshots from it (:func:`spillway.dashboard.snapshot.build_snapshot`).

Every source is optional and isolated: one that raises leaves its reading None for that step
and its error text under ``errors`` in the snapshot; the others are still read.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

from chalicelib.ports import QueueStats
from spillway.dashboard.feeds import AckFeed
from spillway.dashboard.snapshot import (
    BreakerReading,
    LedgerReading,
    Sample,
    SlotReading,
    build_snapshot,
)

log = logging.getLogger("spillway.dashboard")

#: Defaults: one sample a second, ten minutes kept (600 samples).
STEP_S = 1.0
WINDOW_S = 600.0
#: Share of a step the sources are given to answer (the rest keeps the steps regular).
ANSWER_WITHIN = 0.8


@dataclass
class Sources:
    """What the sampler reads; each None when the stack has no such source.

    ``queues()`` -> queue name -> :class:`~chalicelib.ports.QueueStats` (high, medium, low,
    heavy, batch, dlq); ``breaker()`` -> :class:`BreakerReading` or None; ``slots()`` -> pool name ->
    :class:`SlotReading`; ``ledger()`` -> :class:`LedgerReading`; ``acks``: the edge's
    :class:`~spillway.dashboard.feeds.AckFeed`. ``labels``: static text shown on the page
    (backend, webhook URL). ``sections``: status section name -> reader of a JSON-ready dict
    (``spillway.ops.status.SECTIONS``), read each step like the others; ``derived``: section
    name -> pure function of the snapshot (``spillway.ops.status.DERIVED``)."""

    queues: Callable[[], Mapping[str, QueueStats]] | None = None
    breaker: Callable[[], BreakerReading | None] | None = None
    slots: Callable[[], Mapping[str, SlotReading]] | None = None
    ledger: Callable[[], LedgerReading] | None = None
    acks: AckFeed | None = None
    labels: dict[str, str] = field(default_factory=dict)
    sections: dict[str, Callable[[], Mapping[str, Any]]] = field(default_factory=dict)
    derived: dict[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = \
        field(default_factory=dict)


class Sampler:
    """Samples ``sources`` every ``step_s`` seconds in a daemon thread (:meth:`start`,
    :meth:`stop`), keeping ``window_s`` seconds of samples. ``clock`` gives epoch seconds.
    Thread-safe: :meth:`snapshot` may be called from any thread (the HTTP server's)."""

    def __init__(self, sources: Sources, *, step_s: float = STEP_S, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.time):
        if step_s <= 0 or window_s < step_s:
            raise ValueError("step_s must be > 0 and window_s >= step_s")
        self.sources = sources
        self.step_s, self.window_s, self.clock = step_s, window_s, clock
        self._samples: collections.deque[Sample] = collections.deque(
            maxlen=int(window_s / step_s) + 1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One thread per source, so a slow one never delays the others.
        self._pool = futures.ThreadPoolExecutor(max_workers=4 + len(sources.sections),
                                                thread_name_prefix="dashboard-source")
        self._pending: dict[str, futures.Future] = {}

    def sample_now(self, budget_s: float | None = None) -> Sample:
        """Read every source once, in parallel, and append the sample to the window. Each
        source is given ``budget_s`` seconds to answer (default :data:`ANSWER_WITHIN` of a
        step). A source still busy from an earlier step (a database that is down: its pool
        waits for a connection; an emulator slow under load) is not asked again until it
        answers; its reading is None and ``stale`` (not ``errors``) says it is waited for."""
        s = self.sources
        readers = {"queues": s.queues, "breaker": s.breaker, "slots": s.slots,
                   "ledger": s.ledger, **s.sections}
        for name, fn in readers.items():
            if fn is not None and name not in self._pending:
                self._pending[name] = self._pool.submit(fn)
        budget = ANSWER_WITHIN * self.step_s if budget_s is None else budget_s
        futures.wait(self._pending.values(), timeout=budget)
        readings: dict[str, Any] = {}
        errors: dict[str, str] = {}
        stale: dict[str, str] = {}
        for name, future in list(self._pending.items()):
            if not future.done():  # our probe is late, which says nothing of the stack
                stale[name] = f"no answer within {budget:g} s"
                continue
            del self._pending[name]
            exc = future.exception()
            if exc is None:
                readings[name] = future.result()
            else:  # shown on the page; the other sources still count
                errors[name] = f"{type(exc).__name__}: {exc}"
                log.debug("dashboard source %s failed", name, exc_info=exc)
        sections = {name: readings.pop(name) for name in s.sections if name in readings}
        sample = Sample(t=self.clock(), acks=s.acks.drain() if s.acks is not None else None,
                        errors=errors, stale=stale, sections=sections, **readings)
        with self._lock:
            self._samples.append(sample)
        return sample

    def snapshot(self) -> dict[str, Any]:
        """The snapshot dict of the current window (see :mod:`spillway.dashboard.snapshot`)."""
        with self._lock:
            samples = list(self._samples)
        return build_snapshot(samples, now=self.clock(), step_s=self.step_s,
                              window_s=self.window_s, labels=self.sources.labels,
                              sections=tuple(self.sources.sections),
                              derived=self.sources.derived)

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop sampling; a source still reading is left to finish in its daemon thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_now()
            next_at += self.step_s
            if next_at < time.monotonic():  # a slow read skips steps, never bunches samples
                next_at = time.monotonic() + self.step_s
            self._stop.wait(next_at - time.monotonic())
