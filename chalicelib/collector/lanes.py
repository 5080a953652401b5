"""The collector's lanes step (AWS): each run (every minute) brings every lane's SQS event
source mapping in line with the shared lane item (:mod:`chalicelib.shared_lanes`), so a lane
the workers ejected (:mod:`chalicelib.lane_outcomes`) stops being polled by Lambda itself and is
polled again once it recovers -- what the local stack's pollers do by reading the item.

Per worker function with a lane item (one ``GetItem`` each; a function without one has never
recorded an outcome nor been switched by an operator: nothing to do), per stored lane, the
mapping should be on exactly when the lane is *serving*
(:func:`~chalicelib.core.concurrency.lanes.serving`): off while disabled, or ejected while
another lane is healthy; on otherwise. (The brief's "ejected -> off" is this, with the pure
core's fallback kept: when every enabled lane is ejected -- the database down, say -- every
one keeps serving, so the collector never switches a function's last lanes off.) Only
mappings whose ``State`` differs are updated (:meth:`~chalicelib.lane_mappings.LaneMappings.
reconcile`), each change audited as ``lanes eject`` (switched off) or ``lanes readmit``
(switched on) with ``by="collector"`` (:func:`chalicelib.audit_record.record`).

Timing: the switch happens at the first run after the item changes, so within a minute; an
ejection shorter than the run interval (``LANE_EJECT_S`` < 60) may end before any run sees
it, and a switched-off lane stays off until the first run after its ``ejected_until``. Set
``LANE_EJECT_S`` >= 60 on AWS stages for every ejection to act. A mapping switched off by
hand (console) while its lane item says serving is switched back on: use ``spillway lanes
disable``.

Cost per run: one ``GetItem`` per worker function, one ``ListEventSourceMappings`` per lane of
a function with an item, one ``UpdateEventSourceMapping`` + one ``PutItem`` (audit) per change.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib.audit_record import record
from chalicelib.core.concurrency import lanes as core
from chalicelib.core.concurrency.lanes import DEFAULT_LANE_CONFIG, LaneConfig
from chalicelib.lane_mappings import LaneMappings
from chalicelib.ports import StatePort
from chalicelib.shared_lanes import fit, lanes_key

#: Who the audit records name.
BY = "collector"


def reconcile_lanes(store: StatePort, mappings: LaneMappings, functions: Iterable[str], *,
                    config: LaneConfig = DEFAULT_LANE_CONFIG,
                    clock: Callable[[], float] = time.time) -> list[dict[str, Any]]:
    """One pass over ``functions`` (worker names, ``worker_high``); returns the audit records
    written, one per lane switched (``details``: ``function``, ``lane``, ``state``,
    ``ejected_until`` epoch s or None, ``mappings`` UUIDs). Raises the store's and the Lambda
    client's errors (the collector notes them; the next run tries again)."""
    now = clock()
    changes = []
    for function in functions:
        item = store.get(lanes_key(function))
        if item is None:
            continue
        pool = fit(item.data, 1, keep_stored=True)
        for row in core.status(pool, now, config):
            lane = row["lane"]
            serving = core.serving(pool, lane, now)
            switched = mappings.reconcile(function, lane, serving)
            if switched:
                changes.append(record(
                    store, verb="lanes readmit" if serving else "lanes eject", by=BY,
                    reason=_reason(row, serving),
                    details={"function": function, "lane": lane, "state": row["state"],
                             "ejected_until": row["ejected_until"], "mappings": switched},
                    clock=lambda: now))
    return changes


def _reason(row: dict[str, Any], serving: bool) -> str:
    if row["state"] == "disabled":
        return f"lane disabled: {row['reason'] or 'no reason given'}"
    if row["state"] == "ejected" and not serving:
        until = datetime.fromtimestamp(row["ejected_until"], UTC).isoformat(timespec="seconds")
        return (f"lane ejected until {until}: {row['errors']} of {row['calls']} batches "
                "failed in the window")
    return f"lane {row['state']}: serving again"


def lanes_figure(store_factory: Callable[[], StatePort], lambda_factory: Callable[[], Any],
                 function_name: Callable[[str], str], functions: Iterable[str], *,
                 config: LaneConfig = DEFAULT_LANE_CONFIG,
                 clock: Callable[[], float] = time.time) -> Callable[[], dict[str, Any]]:
    """The step as a collector figure (:class:`chalicelib.collector.runner.Collector`): runs
    :func:`reconcile_lanes` and returns ``{"notes": {"lanes": "<n> switched: ..."}}`` (an
    error is noted by the collector, the row still written). Clients are built on first use."""
    names = tuple(functions)

    def lanes() -> dict[str, Any]:
        mappings = LaneMappings(lambda_factory(), function_name)
        changes = reconcile_lanes(store_factory(), mappings, names, config=config, clock=clock)
        said = ", ".join(f"{c['verb'].split()[1]} {c['details']['function']} "
                         f"{c['details']['lane']}" for c in changes)
        return {"notes": {"lanes": f"{len(changes)} switched" + (f": {said}" if said else "")}}
    return lanes


def from_settings(settings: Any, window: Any = None, clock: Callable[[], float] = time.time
                  ) -> list[Callable[[], dict[str, Any]]]:
    """The collector's lanes figure for ``settings``
    (:class:`~chalicelib.collector.settings.CollectorSettings`): ``[lanes_figure(...)]`` over
    every worker function (:data:`chalicelib.core.concurrency.plan.FUNCTIONS`) when
    ``LANES_RECONCILE`` is on and the run is AWS's (``window`` None: not the local stack,
    whose pollers read the lane item themselves); else ``[]``. ``clock``: epoch s, the
    collector's."""
    if not settings.lanes_reconcile or window is not None:
        return []
    from chalicelib import wiring
    from chalicelib.core.concurrency.plan import FUNCTIONS
    from chalicelib.lane_mappings import deployed_names

    return [lanes_figure(wiring.get_state, lambda: wiring.boto_client("lambda"),
                         deployed_names(settings.functions_json, settings.function_prefix),
                         FUNCTIONS, config=wiring.get_settings().lane_config, clock=clock)]
