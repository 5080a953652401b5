"""chalicelib.core.queues: which work queue a delivery goes to (``queue_for``) and where a
dead-letter redrive sends a message back (``target_queue``): its own queue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core import queues
from chalicelib.core.concurrency.plan import FUNCTIONS
from chalicelib.core.concurrency.routing import TARGETS
from chalicelib.core.queues import PRIORITIES, WORK_QUEUES, queue_for, target_queue


def test_the_queue_sets():
    assert queues.TARGET_QUEUES == ("heavy", "batch") == TARGETS[1:]
    assert WORK_QUEUES == ("high", "medium", "low", "heavy", "batch")
    assert queues.QUEUES == (*WORK_QUEUES, queues.DLQ)
    # every plan worker function consumes a work queue, each queue has exactly one
    assert sorted(spec.queue for spec in FUNCTIONS.values()) == sorted(WORK_QUEUES)


@pytest.mark.parametrize("priority", PRIORITIES)
def test_light_goes_to_its_priority_queue_heavy_and_batch_to_their_own(priority):
    assert queue_for(priority, "light") == priority
    assert queue_for(priority, "heavy") == "heavy"
    assert queue_for(priority, "batch") == "batch"


@pytest.mark.parametrize(("priority", "target"), [("urgent", "light"), ("high", "huge"),
                                                  ("dlq", "light"), ("high", "")])
def test_unknown_priority_or_target_is_refused(priority, target):
    with pytest.raises(ValueError):
        queue_for(priority, target)


@pytest.mark.parametrize(("attributes", "queue"), [
    ({"priority": "high", "target": "light"}, "high"),
    ({"priority": "medium", "target": "light"}, "medium"),
    ({"priority": "high", "target": "heavy"}, "heavy"),   # not back to high: its own queue
    ({"priority": "low", "target": "batch"}, "batch"),
    ({"priority": "high"}, "high"),                       # older messages without a target
    ({"target": "heavy"}, "heavy"),
    ({"target": "light"}, "low"),
    ({"priority": "bogus", "target": "bogus"}, "low"),
    ({}, "low"),
])
def test_redrive_sends_a_message_back_to_its_own_queue(attributes, queue):
    assert target_queue(attributes) == queue


@given(priority=st.sampled_from(PRIORITIES), target=st.sampled_from(TARGETS))
def test_redrive_destination_is_the_queue_the_edge_sent_to(priority, target):
    assert target_queue({"priority": priority, "target": target}) == queue_for(priority, target)


@given(attributes=st.dictionaries(st.text(max_size=10), st.text(max_size=10)))
def test_redrive_destination_is_always_a_work_queue(attributes):
    assert target_queue(attributes) in WORK_QUEUES


def test_the_template_has_every_work_queue_with_the_plans_visibility_parameter():
    """infra/template.yaml, render.template_parameters and deploy.provision(visibility=...)
    agree on one ``VisibilityTimeout<Queue>`` parameter per work queue; each default is the
    default plan's floor (6 x function timeout + window) and each queue redrives to the DLQ."""
    from cfnlint.decode import decode

    from chalicelib.core.concurrency.plan import build_plan
    from chalicelib.core.concurrency.render import template_parameters
    from spillway.paths import ROOT

    template, matches = decode(str(ROOT / "infra" / "template.yaml"))
    assert not matches
    params = template_parameters(build_plan("free"))
    assert set(params) == {f"VisibilityTimeout{q.capitalize()}" for q in WORK_QUEUES}
    for queue in WORK_QUEUES:
        name = f"VisibilityTimeout{queue.capitalize()}"
        assert int(template["Parameters"][name]["Default"]) == params[name], name
        props = template["Resources"][f"{queue.capitalize()}Queue"]["Properties"]
        assert props["VisibilityTimeout"] == {"Ref": name}
        assert props["MaximumMessageSize"] == 1048576
        assert props["RedrivePolicy"]["deadLetterTargetArn"] == {
            "Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
        assert f"{queue.capitalize()}QueueUrl" in template["Outputs"]
        assert f"{queue.capitalize()}QueueDepthAlarm" in template["Resources"]
