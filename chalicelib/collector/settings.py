"""Settings of the collector (frozen, validated once per cold start; errors name the key).

``EDGE_FUNCTION_NAME``: the edge Lambda whose AWS/Lambda metrics are read (default: this
function's name, ``spillway-<stage>-collect_metrics``, without its suffix, i.e. Chalice's
``spillway-<stage>``). ``EDGE_RESERVED_CONCURRENCY``: the edge's reserved concurrency, the
limit of the concurrency figures (default 10, ``.chalice/config.json`` dev).
``METRICS_RETENTION_DAYS``: rows of ``edge_function_metrics`` older than this are deleted by
the collector (default 14, 1-3650). ``METRICS_FIGURES``: where the edge's figures come from on
AWS, ``cloudwatch`` (default on the aws backend) or ``none`` (the local stack reads its edge
process instead, ``chalicelib.collector.wiring.start_local``). ``SPILLWAY_FUNCTIONS``: the
worker functions' deployed names (a JSON object worker -> name, the CloudFormation path's
``spillway-<stage>-WorkerHigh-<id>``; default ``spillway-<stage>-<worker>``, the prefix taken
from this function's own name) for the lanes' event source mappings
(:mod:`chalicelib.collector.lanes`). ``LANES_RECONCILE``: ``on`` (default on the aws backend)
or ``off``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.errors import ConfigError
from chalicelib.lane_mappings import deployed_names
from chalicelib.settings import _int

FIGURE_SOURCES = ("cloudwatch", "none")
SUFFIX = "-collect_metrics"


@dataclass(frozen=True)
class CollectorSettings:
    edge_function_name: str
    edge_reserved_concurrency: int
    retention_days: int
    figures: str
    #: ``SPILLWAY_FUNCTIONS`` as given (validated) and the Chalice prefix ``spillway-<stage>``.
    functions_json: str = ""
    function_prefix: str = "spillway-dev"
    lanes_reconcile: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CollectorSettings:
        """Raises :class:`ConfigError` naming the key."""
        env = os.environ if env is None else env
        own = env.get("AWS_LAMBDA_FUNCTION_NAME") or ""
        default_edge = own.removesuffix(SUFFIX) if own.endswith(SUFFIX) else "spillway-dev"
        backend = env.get("SPILLWAY_BACKEND") or "aws"
        figures = (env.get("METRICS_FIGURES") or
                   ("cloudwatch" if backend == "aws" else "none")).strip().lower()
        if figures not in FIGURE_SOURCES:
            raise ConfigError(f"METRICS_FIGURES must be one of {', '.join(FIGURE_SOURCES)}, "
                              f"got {figures!r}")
        functions_json = env.get("SPILLWAY_FUNCTIONS") or ""
        deployed_names(functions_json, default_edge)  # raises ConfigError naming the key
        reconcile = (env.get("LANES_RECONCILE") or ("on" if backend == "aws" else "off")).lower()
        if reconcile not in ("on", "off"):
            raise ConfigError(f"LANES_RECONCILE must be on or off, got {reconcile!r}")
        return cls(edge_function_name=env.get("EDGE_FUNCTION_NAME") or default_edge,
                   edge_reserved_concurrency=_int(env, "EDGE_RESERVED_CONCURRENCY", 10, 1,
                                                  100_000),
                   retention_days=_int(env, "METRICS_RETENTION_DAYS", 14, 1, 3650),
                   figures=figures, functions_json=functions_json,
                   function_prefix=default_edge, lanes_reconcile=reconcile == "on")
