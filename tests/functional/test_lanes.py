"""Lanes through the real state stores (DynamoDB on the moto server, PostgreSQL's ``state``):
the shared lane item (:mod:`chalicelib.shared_lanes`) skipping an unhealthy lane, the operator
verbs (``spillway lanes``, audited), and on AWS the lane's event source mapping switched
(moto's Lambda control plane, on a dedicated queue). Time is a fake clock; nothing sleeps."""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from contextlib import redirect_stdout

import boto3
import pytest

from chalicelib.core.concurrency.lanes import LaneConfig
from chalicelib.core.concurrency.plan import build_plan
from chalicelib.shared_lanes import SharedLanes, lanes_key
from spillway.commands import lanes as lanes_command
from spillway.ops import audit
from spillway.ops.lanes import LaneMappings
from tests.contract.conftest import FakeClock
from tests.contract.test_breaker_store import open_store

CONFIG = LaneConfig(window_s=60, bucket_s=5, error_rate_threshold=0.5, minimum_calls=4,
                    eject_s=30)
PRO = build_plan("pro")
FREE = build_plan("free")


@pytest.fixture(params=["aws", "postgres"])
def store(request):
    return Counting(open_store(request.param, request))


class Counting:
    """The store, with its requests counted (``gets``, ``puts``)."""

    def __init__(self, inner):
        self.inner, self.gets, self.puts = inner, 0, 0

    def get(self, key):
        self.gets += 1
        return self.inner.get(key)

    def put(self, key, data, **kwargs):
        self.puts += 1
        return self.inner.put(key, data, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_round_robin_skips_a_lane_ejected_by_another_instance_until_it_recovers(store):
    clock = FakeClock()
    a = SharedLanes("worker_high", 3, store, CONFIG, clock=clock)
    b = SharedLanes("worker_high", 3, store, CONFIG, clock=clock)
    assert [a.pick() for _ in range(3)] == ["lane-1", "lane-2", "lane-3"]
    for _ in range(4):  # lane-2 fails on instance a: its failures flush, ejecting it
        a.record("lane-2", ok=False)
    clock.advance(1.0)  # b's cache expires
    assert [b.pick() for _ in range(4)] == ["lane-1", "lane-3", "lane-1", "lane-3"]
    assert b.paused("lane-2") and not b.paused("lane-1")
    clock.advance(CONFIG.eject_s)
    assert [b.pick() for _ in range(3)] == ["lane-1", "lane-2", "lane-3"]
    assert store.inner.get(lanes_key("worker_high")).data["lanes"][1]["ejected_until"] > 0


def test_steady_successes_cost_no_write_per_delivery(store):
    clock = FakeClock()
    lanes = SharedLanes("worker_low", 2, store, CONFIG, clock=clock)
    for _ in range(100):  # 100 batches in 10 s, 0.1 s apart
        lane = lanes.pick()
        lanes.record(lane, ok=True)
        clock.advance(0.1)
    # one read per second (cache) and one write per 5 s (success flush), not one per batch
    assert store.gets <= 12 and store.puts <= 2
    lanes.flush()
    rows = {x["name"]: x for x in store.inner.get(lanes_key("worker_low")).data["lanes"]}
    assert sum(b[1] for b in rows["lane-1"]["buckets"] + rows["lane-2"]["buckets"]) == 100


def run_cli(store, *argv, mappings=None, plan=PRO) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="spillway")
    lanes_command.register(parser.add_subparsers(dest="command"), store_factory=lambda: store,
                           plan_factory=lambda: plan, mappings_factory=lambda: mappings)
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    with redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


def test_cli_disable_enable_is_audited_and_shown_in_status(store):
    code, out = run_cli(store, "lanes", "disable", "worker_high", "lane-1", "--reason",
                        "canary 1.4 bad", "--by", "carol")
    assert code == 0 and "disabled (canary 1.4 bad)" in out
    code, out = run_cli(store, "lanes", "status", "--json")
    doc = json.loads(out)
    (high,) = [f for f in doc["functions"] if f["function"] == "worker_high"]
    assert [(x["lane"], x["state"]) for x in high["lanes"]] == [("lane-1", "disabled"),
                                                                ("lane-2", "healthy")]
    assert sum(x["maximum_concurrency"] for x in high["lanes"]) <= high["reserved_concurrency"]
    assert {f["function"] for f in doc["functions"]} == {w.name for w in PRO.workers}
    code, out = run_cli(store, "lanes", "enable", "worker_high", "lane-1", "--reason", "rolled back")
    assert code == 0 and "disabled" not in out
    records = audit.list_actions(store, verb="lanes")
    assert [(r["verb"], r["by"], r["details"]["from"], r["details"]["to"]) for r in records] == [
        ("lanes disable", "carol", "healthy", "disabled"),
        ("lanes enable", records[1]["by"], "disabled", "healthy")]
    assert records[1]["reason"] == "rolled back"


def test_disabling_the_only_enabled_lane_is_refused_unless_forced(store):
    from chalicelib.errors import ConfigError

    assert len(FREE.worker("worker_high").mappings) == 1
    with pytest.raises(ConfigError, match="would stop worker_high entirely.*--force"):
        run_cli(store, "lanes", "disable", "worker_high", "lane-1", "--reason", "x", plan=FREE)
    assert store.inner.get(lanes_key("worker_high")) is None  # nothing changed
    assert audit.list_actions(store, verb="lanes") == []
    code, out = run_cli(store, "lanes", "disable", "worker_high", "lane-1", "--reason",
                        "drain for a migration", "--force", plan=FREE)
    assert code == 0 and "disabled (drain for a migration)" in out
    (record,) = audit.list_actions(store, verb="lanes")
    assert record["details"]["forced"] is True
    # Two lanes (pro): the first may go without --force, the second may not.
    assert run_cli(store, "lanes", "disable", "worker_low", "lane-2", "--reason", "x")[0] == 0
    with pytest.raises(ConfigError, match="would stop worker_low entirely"):
        run_cli(store, "lanes", "disable", "worker_low", "lane-1", "--reason", "x")


def test_cli_unknown_function_or_lane_exits_2_with_a_message(capsys):
    from spillway.cli import main

    assert main(["lanes", "disable", "worker_nope", "lane-1", "--reason", "x"]) == 2
    assert "no worker function 'worker_nope'" in capsys.readouterr().err
    assert main(["lanes", "enable", "worker_high", "lane-9", "--reason", "x"]) == 2
    assert "has no lane 'lane-9'" in capsys.readouterr().err



def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def _function_on_dedicated_queue(name: str, queue: str) -> tuple:
    """(lambda client, function ARN, queue ARN): a function and a queue no other test uses
    (moto's mappings delete what they "deliver", DESIGN.md 2b)."""
    sqs, lam, iam = (boto3.client(s, region_name="us-east-1") for s in ("sqs", "lambda", "iam"))
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    role = iam.create_role(RoleName=f"{queue}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]
    }))["Role"]["Arn"]
    arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role,
                              Handler="handler.handler", Code={"ZipFile": _zip()})["FunctionArn"]
    return lam, arn, queue_arn


def lanes_on_dedicated_queue(name: str, queue: str) -> tuple:
    """(lambda client, lane -> mapping UUID): function ``name`` with alias ``lane-2`` on a
    published version, lane-1's mapping on the unqualified function and lane-2's on the alias,
    both on dedicated queue ``queue``, created disabled then enabled (moto's mappings deliver
    at once otherwise)."""
    lam, _, arn = _function_on_dedicated_queue(name, queue)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="lane-2", FunctionVersion=version)
    uuids = {}
    for lane, target in (("lane-1", name), ("lane-2", f"{name}:lane-2")):
        uuids[lane] = lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=target, BatchSize=10, Enabled=False,
            ScalingConfig={"MaximumConcurrency": 10})["UUID"]
        lam.update_event_source_mapping(UUID=uuids[lane], Enabled=True)
    return lam, uuids


def test_spillway_deploy_creates_lanes_2_to_n_as_aliases_with_their_mappings(aws_env):
    """The ``chalice deploy`` path: Chalice made lane 1's mapping; the lanes step adds alias
    lane-2 and its mapping with lane-2's MaximumConcurrency, and a second run changes nothing
    but the settings (idempotent)."""
    from spillway.deploy_lanes import ensure_lane, plan_lanes

    lam, arn, queue_arn = _function_on_dedicated_queue("spillway-dev-worker_high",
                                                       "lanes-test-deploy")
    deployed = {"schema_version": "2.0", "resources": [
        {"name": "worker_high", "resource_type": "lambda_function", "lambda_arn": arn},
        {"name": "worker_high-sqs-event-source", "resource_type": "sqs_event",
         "queue_arn": queue_arn, "event_uuid": "u-1", "lambda_arn": arn}]}
    (step,) = plan_lanes(PRO, deployed)  # only the function Chalice deployed, lanes 2..N
    share = PRO.worker("worker_high").mappings[1].maximum_concurrency
    assert (step.lane, step.maximum_concurrency) == ("lane-2", share)
    first = ensure_lane(lam, step)
    assert ensure_lane(lam, step) == first
    (mapping,) = lam.list_event_source_mappings(
        FunctionName=f"{arn}:lane-2")["EventSourceMappings"]
    assert mapping["UUID"] == first and mapping["EventSourceArn"] == queue_arn
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": share}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert lam.get_alias(FunctionName=arn, Name="lane-2")["FunctionVersion"] == "$LATEST"


def test_disable_switches_the_lanes_event_source_mapping_on_moto(aws_env, request):
    """On AWS a lane is an alias with its own mapping: disable sets its ``Enabled`` False and
    leaves the other lane's alone. A dedicated queue, and the mappings created disabled: moto's
    mappings delete what they "deliver" (DESIGN.md 2b)."""
    store = open_store("aws", request)
    lam, uuids = lanes_on_dedicated_queue("spillway-dev-worker_high", "lanes-test-dedicated")
    mappings = LaneMappings(lam, lambda fn: f"spillway-dev-{fn}")
    assert [m["UUID"] for m in mappings.find("worker_high", "lane-2")] == [uuids["lane-2"]]

    code, out = run_cli(store, "lanes", "disable", "worker_high", "lane-2", "--reason", "canary",
                        "--json", mappings=mappings)
    assert code == 0 and json.loads(out)["mappings"] == [uuids["lane-2"]]
    state = {lane: lam.get_event_source_mapping(UUID=u)["State"] for lane, u in uuids.items()}
    assert state == {"lane-1": "Enabled", "lane-2": "Disabled"}
    run_cli(store, "lanes", "enable", "worker_high", "lane-2", "--reason", "fixed",
            mappings=mappings)
    assert lam.get_event_source_mapping(UUID=uuids["lane-2"])["State"] == "Enabled"
    (record,) = audit.list_actions(store, verb="lanes disable")
    assert record["details"]["mappings"] == [uuids["lane-2"]]
    # a lane without a mapping (deployed without the lanes template) is refused, nothing changed
    from chalicelib.errors import ConfigError

    with pytest.raises(ConfigError, match="no event source mapping"):
        run_cli(store, "lanes", "disable", "worker_medium", "lane-2", "--reason", "x",
                mappings=mappings)
    assert len(audit.list_actions(store, verb="lanes")) == 2
