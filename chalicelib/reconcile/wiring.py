"""Composition root of the reconciler: builds it from the environment, once per process.

The known-deliveries lookup (:mod:`chalicelib.reconcile.known`) reads the ledger in
the application database, then the edge's dedup records (DynamoDB on the ``aws`` backend; the
queue database's ``idempotency_records`` and its DLQ table on ``postgres``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from chalicelib import wiring
from chalicelib.reconcile.settings import ReconcileSettings

#: Seconds kept free at the end of the scheduled invocation: one GitHub request (10 s timeout)
#: plus recording the run.
DEADLINE_MARGIN_S = 30.0


def known_lookup() -> Any:
    """``known(hook_id, guids) -> {guid: where}`` over the ledger, then the dedup records."""
    from chalicelib.reconcile.known import DynamoAccepted, PgAccepted, in_ledger

    settings = wiring.get_settings()
    app_pool = wiring.app_pool()
    if settings.backend == "postgres":
        accepted = PgAccepted(wiring.get_queue_pool())
    else:
        accepted = DynamoAccepted(wiring.boto_client("dynamodb"), settings.idempotency_table)

    def known(hook_id: str | None, guids: Sequence[str]) -> dict[str, str]:
        found = dict.fromkeys(in_ledger(app_pool, hook_id, guids), "ledger")
        rest = [g for g in guids if g not in found]
        return {**accepted.accepted(hook_id, rest), **found}

    return known


_METRICS = object()  # "the process's Powertools Metrics"


def build_reconciler(env: Mapping[str, str] | None = None, *, metrics: Any = _METRICS):
    """A :class:`~chalicelib.reconcile.runner.Reconciler` and its :class:`ReconcileSettings`.
    ``metrics``: Powertools ``Metrics`` (default: the process's), or None to emit nothing
    (the CLI, which has no Lambda runtime to flush them to CloudWatch).
    Raises :class:`~chalicelib.errors.ConfigError` naming a bad or missing key."""
    from chalicelib.adapters.github.auth import GitHubAuth
    from chalicelib.adapters.github.client import GitHubDeliveries
    from chalicelib.reconcile.runner import Reconciler
    from chalicelib.reconcile.store import ReconcileStore

    env = os.environ if env is None else env
    settings = ReconcileSettings.from_env(env)
    auth = GitHubAuth.from_env(env)
    github = GitHubDeliveries(auth, base_url=settings.api_url)
    auth.bind(github.installation_token)
    store = ReconcileStore(wiring.app_pool())
    if metrics is _METRICS:
        metrics = wiring.get_metrics()
    return Reconciler(github, store, known_lookup(), metrics=metrics), settings


@lru_cache(maxsize=1)
def get_reconciler():
    return build_reconciler()


def handle_schedule(context: Any = None) -> dict:
    """The scheduled function: reconcile every hook of ``GITHUB_HOOKS``; flushes metrics.
    Returns ``{"hooks": [report, …]}`` (see :meth:`Reconciler.run_hook`); a stage without
    hooks does nothing (and needs no credential). Raises ConfigError for bad settings."""
    if not ReconcileSettings.from_env().hooks:
        return {"hooks": [], "skipped": "GITHUB_HOOKS is empty"}
    reconciler, settings = get_reconciler()
    options = settings.options
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is not None:  # start no request that could outlive the invocation
        options = replace(options, deadline=time.time() + remaining_ms() / 1000
                          - DEADLINE_MARGIN_S)
    try:
        return {"hooks": reconciler.run(settings.hooks, options)}
    finally:
        wiring.flush_metrics()


wiring.on_reset(get_reconciler.cache_clear)
