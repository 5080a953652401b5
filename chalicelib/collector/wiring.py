"""Composition root of the collector: the scheduled function's entry point on AWS and the
local stack's collector thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib import wiring
from chalicelib.collector import lanes
from chalicelib.collector.runner import Collector
from chalicelib.collector.settings import CollectorSettings
from chalicelib.collector.sources import (
    breaker_figures,
    cloudwatch_figures,
    lift_figures,
    queue_figures,
    window_figures,
)
from chalicelib.metrics import collector_metric_names
from chalicelib.ports import WORK_QUEUES, queue_name


def build_collector(*, metrics: Any = None, window: Any = None,
                    clock: Callable[[], float] = time.time) -> Collector:
    """A :class:`Collector` from the environment. ``window``: the local edge's
    :class:`~chalicelib.core.edge_window.EdgeWindow`, read instead of CloudWatch. ``clock``
    (epoch s) decides the rows' time and whether a tier lift has expired (it is reverted then,
    :func:`~chalicelib.collector.sources.lift_figures`). Raises
    :class:`~chalicelib.errors.ConfigError` naming a bad key."""
    settings = CollectorSettings.from_env()
    base = wiring.get_settings()
    queue = wiring.get_queue()
    figures = [lambda: queue_figures(queue)]
    state = wiring.get_state() if base.breaker_enabled else None
    figures.append(lambda: breaker_figures(state, wiring.BREAKER_NAME))
    figures.append(lambda: lift_figures(wiring.get_state(), clock()))
    if window is not None:
        figures.append(lambda: window_figures(window, settings.edge_reserved_concurrency))
    elif settings.figures == "cloudwatch":
        names = {q: queue_name(base.queue_prefix, q) for q in WORK_QUEUES}

        def cloudwatch():
            return cloudwatch_figures(wiring.boto_client("cloudwatch"),
                                      settings.edge_function_name, names,
                                      settings.edge_reserved_concurrency)
        figures.append(cloudwatch)
    else:
        figures.append(lambda: {"notes": {"edge": f"METRICS_FIGURES={settings.figures}: no "
                                          "concurrency, latency or error figures"}})
    figures += lanes.from_settings(settings, window, clock)  # AWS: mappings follow lane items
    return Collector(wiring.app_pool(), figures, retention_days=settings.retention_days,
                     metrics=metrics, clock=clock)


def handle_schedule(context: Any = None) -> dict:
    """The scheduled function (every minute): one run; flushes metrics. Returns the row."""
    from chalicelib import logs

    logs.setup()
    logs.invocation()
    try:
        # On the aws backend AWS/SQS already has each queue's depth and age, free; the EMF
        # gauges would be 12 custom metrics billed every month for nothing (spillway cost).
        gauges = collector_metric_names(wiring.get_settings().backend)
        return build_collector(metrics=wiring.get_metrics() if gauges else None).run()
    finally:
        wiring.flush_metrics()


def start_local(interval_s: float = 10.0) -> threading.Event:
    """Run the collector now and then every ``interval_s`` seconds on a daemon thread over the local
    stack's edge window; set the returned event to stop it. A
    failed run is logged and the next one tried."""
    import logging

    stop = threading.Event()
    log = logging.getLogger("spillway.collector")

    def loop() -> None:
        collector = None
        while not stop.is_set():
            try:
                if collector is None:
                    collector = build_collector(window=wiring.get_edge().window)
                collector.run()
            except Exception as exc:
                log.warning("metrics collector run failed: %s", exc)
                collector = None
            stop.wait(interval_s)

    threading.Thread(target=loop, name="spillway-collector", daemon=True).start()
    return stop
