"""Locust suite for Spillway's webhook edge: signed GitHub deliveries from the payload corpus.

Run (see loadtest/README.md)::

    GITHUB_WEBHOOK_SECRET=<secret> LOADTEST_SCENARIO=burst \\
      .venv/bin/locust -f loadtest/locustfile.py --host <webhook URL> \\
      --headless --html loadtest/reports/burst.html

``--host`` may be the full webhook URL ``spillway local`` prints (its path is used), or a base
URL (then ``LOADTEST_PATH``, default ``/webhooks/github``). Environment:

* ``GITHUB_WEBHOOK_SECRET`` (required) -- the hook's secret; every body is signed with it;
* ``LOADTEST_SCENARIO`` -- ``ramp`` | ``sustained`` (default) | ``burst`` | ``mix``: keeps only
  that LoadTestShape (in the web UI, ``--class-picker`` offers all of them when unset);
* ``LOADTEST_PRIORITY_MIX`` -- e.g. ``high=2,medium=3,low=5`` (default: the scenario's mix, or
  the corpus's own proportions); ``--tags high`` (or ``medium``/``low``) sends only those;
* ``LOADTEST_BURST_REQUESTS`` -- the burst's request budget (default 1000);
* ``LOADTEST_CORPUS`` -- a corpus folder with a ``MANIFEST.tsv``; ``LOADTEST_HOOK_ID``.

``--users`` and ``--run-time`` scale the chosen shape (peak users, duration). At the end the
thresholds (p95 < 3 s, error rate < 10 %, the burst's budget within a minute) decide the exit
code: 1 when violated, else 0 (so a few failures under the 10 % limit still pass).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from urllib.parse import urlsplit

import deliveries
import scenarios
from locust import FastHttpUser, LoadTestShape, events, tag
from locust.exception import StopUser
from locust.runners import WorkerRunner

log = logging.getLogger("spillway.loadtest")

CORPUS = deliveries.by_priority(deliveries.load_corpus(deliveries.find_corpus()))
HOOK_ID = os.environ.get("LOADTEST_HOOK_ID") or str(random.randrange(10**8, 10**9))
#: The scenario chosen by the environment at import (task weights); the running shape replaces
#: it with the --users/--run-time scaled one when the test starts.
_SELECTED = scenarios.select(os.environ)


class Budget:
    """A shared request budget (one Locust process; gevent, so no lock): users ``take`` a
    ticket before each request and report it ``done``; times are ``time.monotonic()``."""

    def __init__(self, total: int):
        self.total, self.taken, self.finished = total, 0, 0
        self.started_at: float | None = None
        self.done_at: float | None = None

    def take(self) -> bool:
        if self.taken >= self.total:
            return False
        self.taken += 1
        if self.started_at is None:
            self.started_at = time.monotonic()
        return True

    def done(self) -> None:
        self.finished += 1
        if self.finished >= self.total:
            self.done_at = time.monotonic()

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None or self.done_at is None:
            return None
        return self.done_at - self.started_at


class _State:
    scenario: scenarios.Scenario = _SELECTED
    budget: Budget | None = None
    #: --users / --run-time as given (read at init: headless mode later defaults users to 1).
    cli_users: int | None = None
    cli_run_time_s: float | None = None


STATE = _State()


def _send_task(priority: str):
    @tag(priority, "webhook")
    def send(user: GitHubDeliveries) -> None:
        user.send(priority)

    send.__name__ = f"send_{priority}"
    return send


class GitHubDeliveries(FastHttpUser):
    """POSTs signed deliveries; each request is named ``webhook <priority>`` in the stats."""

    tasks = {_send_task(p): w for p, w in scenarios.task_weights(
        _SELECTED, {p: len(ds) for p, ds in CORPUS.items()}).items()}

    def wait_time(self) -> float:
        lo, hi = STATE.scenario.wait_s
        return random.uniform(lo, hi)

    def on_start(self) -> None:
        secret = os.environ.get("GITHUB_WEBHOOK_SECRET")
        if not secret:
            raise StopUser()  # reported once by on_test_start
        self.secret = secret
        parts = urlsplit(self.host)
        path = parts.path if parts.path not in ("", "/") else \
            os.environ.get("LOADTEST_PATH", "/webhooks/github")
        self.url = f"{parts.scheme}://{parts.netloc}{path}"

    def send(self, priority: str) -> None:
        budget = STATE.budget
        if budget is not None and not budget.take():
            raise StopUser()
        delivery = random.choice(CORPUS[priority])
        try:
            with self.client.post(self.url, data=delivery.body,
                                  headers=deliveries.signed_headers(delivery, self.secret,
                                                                    HOOK_ID),
                                  name=f"webhook {priority}", catch_response=True) as resp:
                if not 200 <= (resp.status_code or 0) < 300:
                    resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:120]}")
        finally:
            if budget is not None:
                budget.done()


class _ScenarioShape(LoadTestShape):
    """Follows :class:`scenarios.Scenario` ``scenario_name``, scaled by --users/--run-time."""

    abstract = True
    use_common_options = True
    scenario_name = "sustained"

    _started = False

    def tick(self):
        if not self._started:
            self._start()
            self._started = True
        budget = STATE.budget
        if budget is not None and budget.finished >= budget.total:
            return None
        return STATE.scenario.tick(self.get_run_time())

    def _start(self) -> None:
        env = {**os.environ, "LOADTEST_SCENARIO": self.scenario_name}
        STATE.scenario = scenarios.select(env, users=STATE.cli_users,
                                          duration_s=STATE.cli_run_time_s)
        total = STATE.scenario.request_budget
        if STATE.budget is None and total is not None:
            STATE.budget = Budget(total)


def _shape(name: str) -> type[_ScenarioShape]:
    return type(f"{name.title()}Shape", (_ScenarioShape,),
                {"abstract": False, "scenario_name": name, "__module__": __name__,
                 "__doc__": scenarios.SCENARIOS[name].description})


# One LoadTestShape per scenario; the first is Locust's default when several are visible.
SustainedShape = _shape("sustained")
RampShape = _shape("ramp")
BurstShape = _shape("burst")
MixShape = _shape("mix")

if os.environ.get("LOADTEST_SCENARIO"):  # keep only the chosen shape visible to Locust
    for _cls in (SustainedShape, RampShape, BurstShape, MixShape):
        _cls.abstract = _cls.scenario_name != _SELECTED.name


@events.init.add_listener
def on_init(environment, **_kw) -> None:
    opts = environment.parsed_options
    STATE.cli_users = getattr(opts, "num_users", None)
    STATE.cli_run_time_s = getattr(opts, "run_time", None)


@events.test_start.add_listener
def on_test_start(environment, **_kw) -> None:
    if not os.environ.get("GITHUB_WEBHOOK_SECRET"):
        log.error("GITHUB_WEBHOOK_SECRET is not set: no delivery can be signed")
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()


@events.quitting.add_listener
def on_quitting(environment, **_kw) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    total = environment.stats.total
    budget = STATE.budget
    summary = scenarios.RunSummary(
        requests=total.num_requests, failures=total.num_failures,
        p50_s=(total.get_response_time_percentile(0.50) or 0) / 1000.0,
        p95_s=(total.get_response_time_percentile(0.95) or 0) / 1000.0,
        budget=budget.total if budget else None,
        budget_done_in_s=budget.elapsed_s if budget else None)
    problems = scenarios.violations(summary, within_s=STATE.scenario.duration_s)
    report = {"scenario": STATE.scenario.name, "requests": summary.requests,
              "failures": summary.failures, "error_rate": round(summary.error_rate, 4),
              "p50_s": summary.p50_s, "p95_s": summary.p95_s,
              "rps": round(total.total_rps, 1), "budget_done_in_s": summary.budget_done_in_s,
              "violations": problems}
    print("loadtest summary: " + json.dumps(report), file=sys.stderr)
    if environment.process_exit_code == 2:
        return
    environment.process_exit_code = 1 if problems else 0
