"""The live local dashboard: one HTML page (uPlot charts, bundled) fed every second by
``/api/status``, a snapshot of the stack's queues, breaker, slots, ledger and acknowledgement
latencies.

* :mod:`~spillway.dashboard.snapshot` -- the snapshot shape and its pure builder;
* :mod:`~spillway.dashboard.sampler` -- :class:`Sampler` reading the injected :class:`Sources`;
* :mod:`~spillway.dashboard.sources`, :mod:`~spillway.dashboard.feeds` -- the readers and the
  in-process feeds (:class:`AckFeed` for the edge, :class:`SlotMeter` for workers);
* :mod:`~spillway.dashboard.server` -- :func:`serve` on 127.0.0.1;
* :mod:`~spillway.dashboard.local` -- :func:`start`, the helper the local stack calls.
"""

from spillway.dashboard.feeds import AckFeed, SlotMeter
from spillway.dashboard.sampler import Sampler, Sources
from spillway.dashboard.server import serve
from spillway.dashboard.snapshot import build_snapshot

__all__ = ["AckFeed", "Sampler", "SlotMeter", "Sources", "build_snapshot", "serve"]
