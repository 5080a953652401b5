"""The AWS side of a lane (alias ``lane-k`` of a worker function): its SQS event source
mapping, found with ``ListEventSourceMappings`` and switched with
``UpdateEventSourceMapping(Enabled=...)``. Used by the operator verbs (``spillway lanes
disable|enable``, :mod:`spillway.ops.lanes`, which re-exports :class:`LaneMappings`) and by the
collector's reconciliation (:mod:`chalicelib.collector.lanes`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.errors import ConfigError


class LaneMappings:
    """The AWS side of a lane: its SQS event source mapping, found with
    ``ListEventSourceMappings`` and switched with ``UpdateEventSourceMapping(Enabled=...)``.

    ``lambda_client`` is a boto3 Lambda client (or anything with those two methods);
    ``function_name(worker)`` gives the deployed name (default ``spillway-<stage>-<worker>``).
    Lane ``lane-1`` is Chalice's own mapping on the unqualified function; ``lane-k`` (k >= 2)
    the lanes merge template's mapping on alias ``lane-k`` (``<name>:lane-k``)."""

    def __init__(self, lambda_client: Any, function_name: Callable[[str], str]):
        self.client = lambda_client
        self.function_name = function_name

    def qualified(self, function: str, lane: str) -> str:
        name = self.function_name(function)
        return name if lane == "lane-1" else f"{name}:{lane}"

    def find(self, function: str, lane: str) -> list[dict]:
        """The lane's mappings: ``ListEventSourceMappings`` (all pages) on the lane's qualified
        name. For ``lane-1`` (the unqualified function) only mappings whose ``FunctionArn``
        has no qualifier are kept, so an alias's mapping is never switched with it (moto
        reports an alias mapping's ARN with the version number, AWS with the alias name)."""
        target = self.qualified(function, lane)
        found, marker = [], None
        while True:
            kwargs = {"FunctionName": target, **({"Marker": marker} if marker else {})}
            page = self.client.list_event_source_mappings(**kwargs)
            found += [m for m in page.get("EventSourceMappings", [])
                      if lane != "lane-1" or not _qualifier(m.get("FunctionArn", ""))]
            marker = page.get("NextMarker")
            if not marker:
                return found

    def set_enabled(self, function: str, lane: str, enabled: bool) -> list[str]:
        """Switch the lane's mapping(s); returns their UUIDs. Raises ConfigError when the lane
        has no mapping (deployed without the lanes merge template?)."""
        found = self.find(function, lane)
        if not found:
            raise ConfigError(f"no event source mapping for {self.qualified(function, lane)} "
                              "(was the stage packaged with the lanes merge template? "
                              "`spillway deploy` / docs/DEPLOY.md)")
        for m in found:
            self.client.update_event_source_mapping(UUID=m["UUID"], Enabled=enabled)
        return [m["UUID"] for m in found]

    def reconcile(self, function: str, lane: str, enabled: bool) -> list[str]:
        """Switch only those of the lane's mappings whose ``State`` differs from ``enabled``
        (``Enabled``/``Enabling`` count as on, ``Disabled``/``Disabling`` as off; a mapping
        ``Creating``/``Updating``/``Deleting`` is left for the next call); returns the UUIDs
        switched, [] when none differs or the lane has no mapping."""
        switched = []
        for m in self.find(function, lane):
            on = {"Enabled": True, "Enabling": True, "Disabled": False,
                  "Disabling": False}.get(m.get("State", ""))
            if on is not None and on != enabled:
                self.client.update_event_source_mapping(UUID=m["UUID"], Enabled=enabled)
                switched.append(m["UUID"])
        return switched


def _qualifier(function_arn: str) -> str:
    """``arn:aws:lambda:r:a:function:name[:qualifier]`` -> the qualifier or ``""``."""
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 else ""


def deployed_names(functions_json: str | None, prefix: str) -> Callable[[str], str]:
    """Worker function -> its deployed name: from ``functions_json`` (``SPILLWAY_FUNCTIONS``,
    a JSON object worker -> deployed name: the CloudFormation path names them
    ``spillway-<stage>-WorkerHigh-<id>``), else ``<prefix>-<worker>`` as ``chalice deploy``
    names them (``prefix`` = ``spillway-<stage>``). Raises ConfigError for bad JSON."""
    try:
        names = json.loads(functions_json or "{}")
        if not isinstance(names, dict):
            raise ValueError(f"got {type(names).__name__}")
    except ValueError as exc:
        raise ConfigError(f"SPILLWAY_FUNCTIONS must be a JSON object: {exc}") from None
    return lambda fn: names.get(fn) or f"{prefix}-{fn}"
