"""Records a run for its report: the run's live dashboard of the local stack (the one
:func:`spillway.dashboard.local.attach` started, or one of its own when the run has none), whose
sampler keeps a 1 s rolling window of acknowledgement latency, queue depth, stored/s, slots and
breaker state; then on :meth:`Recorder.finish` the plots and ``index.html``."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spillway.report.html import write_index
from spillway.report.plots import Window, write_plots


def fault_windows(faults: Sequence[Any]) -> list[Window]:
    """Epoch-second :class:`Window` s of :class:`spillway.chaos.Fault` s (their instants are
    ``time.perf_counter()`` seconds)."""
    offset = time.time() - time.perf_counter()
    return [Window(f.kind, f.broken_at + offset,
                   f.restored_at + offset if f.restored_at is not None else None)
            for f in faults if f.broken_at is not None]


class Recorder:
    """Samples ``stack`` (a started :class:`~spillway.local.stack.LocalStack`) from
    construction to :meth:`finish`, through ``dashboard`` -- the run's
    :class:`~spillway.dashboard.local.Dashboard` from ``attach`` -- or, when that is None
    (``--no-dashboard``, or its port was taken), one of its own wired the same way (the edge's
    answers feed its acknowledgement chart) and stopped by :meth:`finish`. One dashboard per run:
    every mapping's handler is metered once."""

    def __init__(self, stack, out_dir: Path | str, dashboard=None):
        from spillway.dashboard.local import attach

        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self._options = stack.options
        self._owned = dashboard is None
        self.dashboard = dashboard if dashboard is not None else attach(
            stack, 0, say=lambda line: print(line, file=sys.stderr, flush=True))

    def finish(self, title: str, summary: Mapping[str, Any], *, faults: Sequence[Any] = (),
               links: Mapping[str, str] | None = None, verdict: str = "",
               latency: dict | None = None, corpus: str | None = None) -> Path:
        """Take one last sample, stop the dashboard, write the PNGs and ``index.html``; return
        the page's path. ``corpus``: what was sent (folders, or a load-test scenario); the
        page's "what ran" also names the date, backend, tier and chaos (:meth:`about`)."""
        sampler = self.dashboard.sampler
        try:
            sampler.sample_now()
            series = sampler.snapshot()["series"]
        finally:
            if self._owned:
                self.dashboard.stop()
        plots = write_plots(series, self.out_dir, t0=self.t0, windows=fault_windows(faults),
                            latency=latency)
        return write_index(self.out_dir, title, summary, plots, links, verdict,
                           self.about(summary, faults, corpus))

    def about(self, summary: Mapping[str, Any], faults: Sequence[Any] = (),
              corpus: str | None = None) -> dict[str, str]:
        """What ran, label -> text: the start date (UTC), the corpus, the backend, the tier
        (the plan's, else ``SPILLWAY_TIER``, else the default) and the planned faults."""
        import datetime
        import os

        tier = (summary.get("tier") or self._options.tier or os.environ.get("SPILLWAY_TIER")
                or "default (free; SPILLWAY_TIER unset)")
        chaos = summary.get("chaos") or [f"{f.kind} {f.outage_s:g} s" for f in faults]
        return {"started": datetime.datetime.fromtimestamp(self.t0, datetime.UTC).strftime(
                    "%Y-%m-%d %H:%M:%S UTC"),
                "corpus": corpus or "not given",
                "backend": str(summary.get("backend") or self._options.backend),
                "tier": str(tier),
                "chaos": ", ".join(chaos) if chaos else "none"}
