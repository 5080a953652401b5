"""The rules a :class:`~chalicelib.core.concurrency.plan.TierPlan` must keep, each a named check.

Every check takes a derived plan and returns a list of :class:`Violation` (empty when it holds);
:func:`validate` runs them all. Each message names the rule and the numbers. Sources:

* ``mapping_sum_within_reserved`` -- the sum of MaximumConcurrency over a function's event
  source mappings <= its reserved concurrency, otherwise Lambda throttles receives, throttled
  receives still count toward ``maxReceiveCount``, and valid messages reach the dead-letter queue
  unprocessed (AWS re:Post knowledge-center "lambda-sqs-scaling"; AWS Compute Blog "Introducing
  maximum concurrency of AWS Lambda functions when using Amazon SQS as an event source", 2023).
* ``maximum_concurrency_range`` -- MaximumConcurrency is 2..1000 (AWS Lambda API reference,
  ScalingConfig).
* ``batch_size_range`` -- BatchSize 1..10 for a standard queue without a batching window, up to
  10000 with a window >= 1 s (AWS Lambda docs, services-sqs-configure / CreateEventSourceMapping).
* ``batching_window_range`` -- MaximumBatchingWindowInSeconds 0..300 (same sources).
* ``visibility_timeout_floor`` -- visibility timeout >= 6 x function timeout + batching window
  (AWS Lambda docs, services-sqs-configure).
* ``visibility_timeout_max`` -- visibility timeout <= 43200 s, 12 h (AWS SQS quotas).
* ``lambda_timeout_range`` -- a Lambda timeout is 1..900 s (AWS Lambda quotas).
* ``lambda_memory_range`` -- 128..10240 MB (AWS Lambda quotas).
* ``connection_budget`` -- workers x pool + edge x pool + operator reserve <= max_connections -
  superuser_reserved_connections (PostgreSQL docs, "Connections and Authentication").
* ``account_concurrency`` -- the sum of reserved concurrency of all functions <= account
  concurrency - 100: Lambda keeps 100 unreserved (AWS Lambda docs, configuration-concurrency;
  default account limit 1000).
* ``edge_timeout`` -- the edge's timeout < 10 s, GitHub's wait for a 2xx (docs.github.com
  "Best practices for using webhooks"), and < 29 s, API Gateway's REST integration timeout (AWS
  API Gateway quotas).
* ``positive_knobs`` -- counts >= 1 (pool sizes >= 0 for the edge), priority shares summing to 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.core.concurrency.plan import TierPlan, WorkerPlan, visibility_floor

GITHUB_TIMEOUT_S = 10.0
API_GATEWAY_TIMEOUT_S = 29.0
SQS_MAX_VISIBILITY_S = 43200
LAMBDA_MAX_TIMEOUT_S = 900
LAMBDA_MEMORY_MB = (128, 10240)
MAXIMUM_CONCURRENCY_RANGE = (2, 1000)
BATCH_SIZE_NO_WINDOW = 10
BATCH_SIZE_WITH_WINDOW = 10000
MAX_WINDOW_S = 300


@dataclass(frozen=True)
class Violation:
    """A broken rule: ``rule`` is the check's name, ``message`` names it and the numbers."""

    rule: str
    message: str


Check = Callable[[TierPlan], list[Violation]]


def _per_worker(rule: str, plan: TierPlan,
                problem: Callable[[WorkerPlan], str | None]) -> list[Violation]:
    """One :class:`Violation` of ``rule`` per worker for which ``problem`` returns a message
    (None: the worker keeps the rule); the message is prefixed with the rule's name."""
    return [Violation(rule, f"{rule}: {message}")
            for message in map(problem, plan.workers) if message is not None]


def mapping_sum_within_reserved(plan: TierPlan) -> list[Violation]:
    return _per_worker("mapping_sum_within_reserved", plan, lambda w: (
        f"{w.name} mappings sum MaximumConcurrency {w.maximum_concurrency} > reserved "
        f"concurrency {w.reserved_concurrency} (throttled receives would burn maxReceiveCount)"
        if w.maximum_concurrency > w.reserved_concurrency else None))


def maximum_concurrency_range(plan: TierPlan) -> list[Violation]:
    low, high = MAXIMUM_CONCURRENCY_RANGE
    return [Violation("maximum_concurrency_range",
                      f"maximum_concurrency_range: {w.name} {m.lane} MaximumConcurrency "
                      f"{m.maximum_concurrency} not in {low}..{high}")
            for w in plan.workers for m in w.mappings
            if not low <= m.maximum_concurrency <= high]


def _batch_size_cap(w: WorkerPlan) -> int:
    return BATCH_SIZE_WITH_WINDOW if w.spec.window_s >= 1 else BATCH_SIZE_NO_WINDOW


def batch_size_range(plan: TierPlan) -> list[Violation]:
    return _per_worker("batch_size_range", plan, lambda w: (
        f"{w.name} batch size {w.spec.batch_size} not in 1..{_batch_size_cap(w)} "
        f"(batching window {w.spec.window_s} s)"
        if not 1 <= w.spec.batch_size <= _batch_size_cap(w) else None))


def batching_window_range(plan: TierPlan) -> list[Violation]:
    return _per_worker("batching_window_range", plan, lambda w: (
        f"{w.name} batching window {w.spec.window_s} s not in 0..{MAX_WINDOW_S}"
        if not 0 <= w.spec.window_s <= MAX_WINDOW_S else None))


def visibility_timeout_floor(plan: TierPlan) -> list[Violation]:
    def problem(w: WorkerPlan) -> str | None:
        floor = visibility_floor(w.spec.timeout_s, w.spec.window_s)
        if w.visibility_timeout_s >= floor:
            return None
        return (f"{w.name} queue {w.spec.queue!r} visibility timeout {w.visibility_timeout_s} s "
                f"< 6 x timeout {w.spec.timeout_s} s + window {w.spec.window_s} s = {floor} s")
    return _per_worker("visibility_timeout_floor", plan, problem)


def visibility_timeout_max(plan: TierPlan) -> list[Violation]:
    return _per_worker("visibility_timeout_max", plan, lambda w: (
        f"{w.name} queue {w.spec.queue!r} visibility timeout {w.visibility_timeout_s} s > "
        f"SQS maximum {SQS_MAX_VISIBILITY_S} s"
        if w.visibility_timeout_s > SQS_MAX_VISIBILITY_S else None))


def lambda_timeout_range(plan: TierPlan) -> list[Violation]:
    return _per_worker("lambda_timeout_range", plan, lambda w: (
        f"{w.name} timeout {w.spec.timeout_s} s not in 1..{LAMBDA_MAX_TIMEOUT_S}"
        if not 1 <= w.spec.timeout_s <= LAMBDA_MAX_TIMEOUT_S else None))


def lambda_memory_range(plan: TierPlan) -> list[Violation]:
    low, high = LAMBDA_MEMORY_MB
    memories = [("edge", plan.edge_memory_mb)] + [(w.name, w.spec.memory_mb) for w in plan.workers]
    return [Violation("lambda_memory_range",
                      f"lambda_memory_range: {name} memory {mb} MB not in {low}..{high}")
            for name, mb in memories if not low <= mb <= high]


def connection_budget(plan: TierPlan) -> list[Violation]:
    budget, limit = plan.db_connection_budget, plan.db_connection_limit
    if budget <= limit:
        return []
    workers = sum(w.reserved_concurrency for w in plan.workers)
    return [Violation("connection_budget",
                      f"connection_budget: workers {workers} x pool {plan.pool_size} + edge "
                      f"{plan.edge_concurrency} x pool {plan.edge_pool_size} + operator reserve "
                      f"{plan.operator_reserve} = {budget} > max_connections "
                      f"{plan.max_connections} - reserved {plan.superuser_reserved_connections} "
                      f"= {limit}")]


def account_concurrency(plan: TierPlan) -> list[Violation]:
    total = plan.edge_concurrency + sum(w.reserved_concurrency for w in plan.workers)
    cap = plan.account_concurrency - plan.account_unreserved_minimum
    if total <= cap:
        return []
    return [Violation("account_concurrency",
                      f"account_concurrency: reserved concurrency edge {plan.edge_concurrency} + "
                      f"workers = {total} > account concurrency {plan.account_concurrency} - "
                      f"{plan.account_unreserved_minimum} kept unreserved = {cap}")]


def edge_timeout(plan: TierPlan) -> list[Violation]:
    cap = min(GITHUB_TIMEOUT_S, API_GATEWAY_TIMEOUT_S)
    if 0 < plan.edge_timeout_s < cap:
        return []
    return [Violation("edge_timeout",
                      f"edge_timeout: edge timeout {plan.edge_timeout_s} s not in (0, {cap}) s "
                      f"(GitHub waits {GITHUB_TIMEOUT_S} s, API Gateway {API_GATEWAY_TIMEOUT_S} s)")]


def positive_knobs(plan: TierPlan) -> list[Violation]:
    at_least = {"edge_concurrency": (plan.edge_concurrency, 1), "burst": (plan.burst, 1),
                "queue_capacity": (plan.queue_capacity, 1), "lanes": (plan.lanes, 1),
                "pool_size": (plan.pool_size, 1), "edge_pool_size": (plan.edge_pool_size, 0),
                "operator_reserve": (plan.operator_reserve, 0),
                "superuser_reserved_connections": (plan.superuser_reserved_connections, 0)}
    at_least.update({f"{w.name} reserved_concurrency": (w.reserved_concurrency, 1)
                     for w in plan.workers})
    out = [Violation("positive_knobs", f"positive_knobs: {key} {value} must be >= {low}")
           for key, (value, low) in at_least.items() if value < low]
    if plan.edge_latency_s <= 0:
        out.append(Violation("positive_knobs",
                             f"positive_knobs: edge_latency_s {plan.edge_latency_s} must be > 0"))
    shares = plan.priority_shares
    if set(shares) != {"high", "medium", "low"} or any(v <= 0 for v in shares.values()) \
            or abs(sum(shares.values()) - 1.0) > 1e-9:
        out.append(Violation("positive_knobs",
                             f"positive_knobs: priority_shares {shares} must give high, medium "
                             "and low each a share > 0, summing to 1"))
    return out


#: Every rule, in the order :func:`validate` reports them.
RULES: tuple[Check, ...] = (
    positive_knobs, mapping_sum_within_reserved, maximum_concurrency_range, batch_size_range,
    batching_window_range, visibility_timeout_floor, visibility_timeout_max,
    lambda_timeout_range, lambda_memory_range, connection_budget, account_concurrency,
    edge_timeout,
)


def validate(plan: TierPlan) -> list[Violation]:
    """Every violation of every rule in :data:`RULES` by the derived ``plan`` (empty: valid)."""
    return [violation for check in RULES for violation in check(plan)]
