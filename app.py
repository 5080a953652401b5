"""Spillway's Chalice app: the edge route and one SQS worker function per work queue (the
three priority queues of target ``light``, and the ``heavy`` and ``batch`` queues).

Handlers are a few lines that delegate to ``chalicelib`` (see DESIGN.md section 4). Queue names
are fixed at import because Chalice reads them when it packages the app; they follow
``SPILLWAY_QUEUE_PREFIX`` (default ``spillway``) and must match ``infra/template.yaml``.

Batch size, batching window and ``maximum_concurrency`` per event source mapping: the sum of
``maximum_concurrency`` over a function's mappings must stay ≤ its reserved concurrency, or
throttled receives burn ``maxReceiveCount`` and valid messages reach the DLQ (AWS re:Post,
"lambda-sqs-scaling"). Each worker is its own function here, with reserved concurrency equal to
its mappings' maximum concurrency. Every number comes from the stage's tier plan
(:mod:`chalicelib.tier_plan`: ``SPILLWAY_TIER_FILE``, ``SPILLWAY_STAGE`` or ``SPILLWAY_TIER`` in
the packaging environment; ``spillway tier set`` writes the same plan's numbers into
``.chalice/config.json``). Chalice does not switch on
ReportBatchItemFailures: ``spillway deploy`` and ``infra/chalice-merge.json`` do.
"""

import os

from chalice import Chalice, Rate, Response

from chalicelib import wiring
from chalicelib.core.concurrency.render import sqs_subscriptions
from chalicelib.ports import queue_name
from chalicelib.settings import queue_prefix
from chalicelib.tier_plan import stage_plan

app = Chalice(app_name="spillway")
_PREFIX = queue_prefix()

#: Minutes between two reconciliations with GitHub's delivery log; fixed when Chalice packages
#: the app, so a stage sets it in the packaging environment (default 5).
RECONCILE_EVERY_MIN = int(os.environ.get("SPILLWAY_RECONCILE_EVERY_MIN", "5"))

#: The stage's tier plan and, per worker function, its event source mapping settings.
PLAN = stage_plan()
SUBSCRIPTIONS = sqs_subscriptions(PLAN)


def github_webhook():
    """The REST front (Chalice's route, v1 proxy event)."""
    request = app.current_request
    result = wiring.handle_webhook(request.headers, request.raw_body, app.lambda_context)
    return Response(body=result.body, status_code=result.status,
                    headers={"Content-Type": "application/json", **result.headers})


def health():
    return wiring.liveness()


def edge(event, context):
    """The HTTP API and function URL fronts (payload format 2.0): the same edge and health
    answers through :mod:`chalicelib.fronts`."""
    from chalicelib import fronts

    return fronts.handle_event(
        event, webhook=lambda headers, body: wiring.handle_webhook(headers, body, context),
        health=wiring.liveness)


# The stage's front (``front`` in its tier plan): Chalice's REST API routes, or one plain Lambda
# function (``edge``) that the HTTP API or function URL of the merge template invokes. Only one
# is packaged, so a stage never exposes two entry points. Every content type reaches the edge,
# which checks the signature *before* the media type (JSON and form-urlencoded are accepted;
# anything else is a 415 after a valid signature).
if PLAN.front == "rest":
    github_webhook = app.route("/webhooks/github", methods=["POST"],
                               content_types=["*/*"])(github_webhook)
    health = app.route("/health", methods=["GET"])(health)
else:
    edge = app.lambda_function(name="edge")(edge)


def _register_worker(name, sub):
    """Register worker function ``name`` on its queue (``sub`` from :data:`SUBSCRIPTIONS`).
    Its handler gets ``__name__`` = ``name`` and is exported at module level under that name:
    Chalice names a handler ``app.<__name__>``, so functions made in a loop without it would
    all share one handler (DESIGN.md section 2b)."""
    queue = sub["queue"]

    def handler(event):
        return wiring.handle_sqs(event.to_dict(), event.context, queue=queue)

    handler.__name__ = handler.__qualname__ = name
    register = app.on_sqs_message(queue=queue_name(_PREFIX, queue),
                                  batch_size=sub["batch_size"],
                                  maximum_batching_window_in_seconds=sub[
                                      "maximum_batching_window_in_seconds"],
                                  maximum_concurrency=sub["maximum_concurrency"],
                                  name=name)
    globals()[name] = register(handler)


# One worker function per plan worker: worker_high / worker_medium / worker_low (target light,
# their priority queues), worker_heavy and worker_batch (queues heavy / batch).
for _name, _sub in SUBSCRIPTIONS.items():
    _register_worker(_name, _sub)


# Redeliver what GitHub failed to deliver (GITHUB_HOOKS of the stage; none: nothing to do).
@app.schedule(Rate(RECONCILE_EVERY_MIN, unit=Rate.MINUTES), name="reconcile")
def reconcile(event):
    from chalicelib.reconcile import wiring as reconcile_wiring

    return reconcile_wiring.handle_schedule(event.context)


# Queue depths and ages, breaker state, edge concurrency / p95 / error rate into EMF and the
# edge_function_metrics table (migrations/app/app_0004_edge_metrics.sql).
@app.schedule(Rate(1, unit=Rate.MINUTES), name="collect_metrics")
def collect_metrics(event):
    from chalicelib.collector import wiring as collector_wiring

    return collector_wiring.handle_schedule(event.context)
