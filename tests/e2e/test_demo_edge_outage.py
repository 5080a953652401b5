"""End to end: ``spillway demo --chaos edge-outage=S [--reconcile]`` on the bundled samples.

The deliveries go through the local stack's GitHub stand-in; the edge is unreachable from
GitHub for a few seconds during the replay, so GitHub records failed attempts. With the
reconciler every one of them is redelivered and stored once; without it they are lost."""

from __future__ import annotations

import pytest

from spillway.demo import DemoOptions, run_demo
from spillway.local.stack import StackOptions
from spillway.paths import SAMPLES

pytestmark = pytest.mark.e2e

OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL")


def demo(tmp_path, monkeypatch, *, reconcile: bool, backend: str = "aws") -> dict:
    for key in OUTSIDE_SERVERS:
        monkeypatch.delenv(key, raising=False)
    return run_demo(DemoOptions(paths=[str(SAMPLES)], backend=backend, drain_timeout_s=120,
                                chaos_edge_outage_s=3, reconcile=reconcile,
                                reconcile_timeout_s=120,
                                stack_options=StackOptions(workdir=tmp_path)))


@pytest.mark.parametrize("backend", ["aws", "postgres"])
def test_the_reconciler_redelivers_every_delivery_the_outage_cost(backend, tmp_path,
                                                                  monkeypatch):
    summary = demo(tmp_path, monkeypatch, reconcile=True, backend=backend)
    assert summary["failed_at_github"] > 0
    assert summary["rejected"] == summary["failed_at_github"]
    assert summary["redelivered"] == summary["failed_at_github"]
    assert (summary["lost"], summary["duplicated"], summary["dead_lettered"]) == (0, 0, 0)
    assert summary["stored"] == summary["sent"]
    assert summary["reconcile_rounds"] >= 2  # the last round finds nothing missing
    # what the reconciler brought back was refused first and accepted later: not "refused yet
    # stored" (that made the README's --reconcile example exit 1)
    assert summary["half_stored"] == 0
    # the edge's classification reaches the summary through GitHub's stand-in too
    assert sum(summary["targets"].values()) == summary["accepted"] > 0
    assert summary["ack_p50_ms"] > 0  # attempts GitHub could not deliver have no latency
    assert not any("rejected yet stored" in v for v in summary.get("violations", [])), summary


def test_without_the_reconciler_the_outage_loses_deliveries(tmp_path, monkeypatch):
    summary = demo(tmp_path, monkeypatch, reconcile=False)
    assert summary["failed_at_github"] > 0
    assert summary["lost"] == summary["failed_at_github"]
    assert summary["redelivered"] == 0 and summary["reconcile_rounds"] == 0
    assert summary["stored"] == summary["sent"] - summary["lost"]
    assert summary["missing"] == summary["duplicated"] == 0
