"""Fixtures of the functional edge and worker tests: the real Chalice app on real backends.

* ``edge``   -- :class:`Harness` on each backend (``aws``: the moto server provisioned from
  ``infra/template.yaml`` by CloudFormation; ``postgres``: a fresh database with
  ``migrations/queue`` applied), with the environment the local stack gives the Lambda
  functions (``spillway.local.lambda_env``).
* ``worker`` -- :class:`Harness` on each backend plus a migrated application database
  (``DATABASE_URL``), so the SQS handlers of ``app.py`` can be invoked directly.

Requests go through ``chalice.test.Client``. Its ``project_dir`` is an empty folder: with the
repository's ``.chalice/config.json`` the client would overlay the ``dev`` stage's environment
(an SSM secret parameter, a placeholder ``DATABASE_URL``) on ours. ``chalicelib.wiring`` is
rebuilt (``wiring.close()``: pools closed, caches and settings forgotten) around every test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.corpus import CORPUS, SAMPLES

SECRET = "functional-test-secret"
#: ``app.py`` fixes its queue names at import from SPILLWAY_QUEUE_PREFIX (default ``spillway``).
PREFIX = "spillway"
BACKENDS = ["aws", "postgres"]

#: Header value meaning "do not send this header" (a string: this module may be imported twice,
#: as pytest's conftest and as ``tests.functional.conftest``).
OMIT = "<omit this header>"
#: Corpus payloads that are also bundled in spillway/samples (so no test skips without shared/).
PR_PAYLOAD = "pull_request/closed.payload.json"  # action "closed" (a merge): high priority
ISSUE_PAYLOAD = "issues/deleted.payload.json"  # action "deleted": high priority
PING_PAYLOAD = "ping/docs-example.json"
PUSH_PAYLOAD = "push/payload.json"


def sign(body: bytes, secret: str = SECRET) -> str:
    """``X-Hub-Signature-256`` of ``body`` (HMAC-SHA256, hex), computed independently here."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def corpus_payload(relpath: str) -> dict:
    """A payload from the shared corpus (or the bundled samples) by ``<event>/<file>``."""
    for root in (CORPUS, SAMPLES):
        path = root / relpath
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    pytest.skip(f"payload {relpath} is in neither {CORPUS} nor {SAMPLES}")


def compact(doc: Any) -> bytes:
    """What GitHub puts on the wire: compact UTF-8 JSON."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Reply:
    status: int
    body: Any  # the decoded JSON body, or the raw text when it is not JSON
    headers: dict


class Harness:
    """The app on one backend. ``backend`` is ``aws`` or ``postgres``; ``app_db`` is the
    application database URL (worker harness only)."""

    app_db: str | None = None

    def __init__(self, backend: str, monkeypatch, project_dir: Path):
        from chalice.test import Client

        import app as app_module

        self.backend = backend
        self.app_module = app_module
        self._monkeypatch = monkeypatch
        self.client = Client(app_module.app, project_dir=str(project_dir))

    # -- configuration -------------------------------------------------------------------------
    def configure(self, **env: str) -> None:
        """Set environment variables and rebuild the wiring (a new cold start)."""
        from chalicelib import wiring

        for key, value in env.items():
            self._monkeypatch.setenv(key, value)
        wiring.close()

    # -- the edge ------------------------------------------------------------------------------
    def post(self, body: bytes | dict, *, event: str = "issues", delivery: str | None = None,
             hook: str = "1001", content_type: Any = "application/json",
             signature: Any = None, **extra: Any) -> Reply:
        """POST ``body`` (a dict is sent as compact JSON) to the webhook route, signed with
        :data:`SECRET` unless ``signature`` is given. A header passed as :data:`OMIT` is not
        sent; ``extra`` headers are given as keyword names (``X_Foo`` -> ``X-Foo``)."""
        raw = compact(body) if isinstance(body, dict) else body
        headers = {
            "Content-Type": content_type,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": hook,
            "X-Hub-Signature-256": sign(raw) if signature is None else signature,
            "User-Agent": "GitHub-Hookshot/functional-test",
            **{k.replace("_", "-"): v for k, v in extra.items()},
        }
        headers = {k: v for k, v in headers.items() if v != OMIT}
        resp = self.client.http.post("/webhooks/github", headers=headers, body=raw)
        text = resp.body.decode("utf-8", "replace") if resp.body else ""
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text
        return Reply(resp.status_code, decoded, dict(resp.headers))

    # -- the queues ----------------------------------------------------------------------------
    @property
    def queue(self):
        from chalicelib import wiring

        return wiring.get_queue()

    def depths(self) -> dict[str, int]:
        """Messages per queue (visible + in flight + delayed), DLQ included."""
        from chalicelib.ports import QUEUES

        return {name: self.queue.stats(name).total for name in QUEUES}

    def receive(self, queue: str, count: int, visibility_timeout_s: int = 60) -> list:
        """Receive exactly ``count`` messages from ``queue`` (fails if fewer are there)."""
        got: list = []
        for _ in range(count + 5):
            if len(got) >= count:
                break
            got += self.queue.receive(queue, min(10, count - len(got)), visibility_timeout_s, 0.5)
        assert len(got) == count, f"expected {count} messages on {queue}, got {len(got)}"
        return got

    # -- the workers ---------------------------------------------------------------------------
    def invoke_worker(self, priority: str, messages: list, receive_count: int | None = None,
                      arn: str = "") -> dict:
        """Invoke ``app.worker_<priority>(event, context)`` as Lambda's SQS event source would,
        with one record per message (each its own messageId). ``arn``: the context's
        ``invoked_function_arn`` (Lambda's; the local runtime's is empty). Returns the
        handler's answer."""
        from chalice.local import LambdaContext

        from spillway.local.event_source import sqs_event

        event = sqs_event(messages, f"arn:aws:sqs:us-east-1:123456789012:{PREFIX}-{priority}")
        if receive_count is not None:
            for record in event["Records"]:
                record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        context = LambdaContext(f"worker_{priority}", 512, 30_000)
        context.invoked_function_arn = arn
        handler = getattr(self.app_module, f"worker_{priority}")
        return handler(event, context) or {}


def _base_env(monkeypatch, backend: str) -> None:
    """The variables the local stack gives the functions (``spillway.local.lambda_env``), with
    the breaker off (the breaker tests switch it on)."""
    from spillway.local.lambda_env import lambda_env

    env = lambda_env(backend=backend, prefix=PREFIX, secret=SECRET, max_receive_count=5,
                     retry_base_s=2, retry_max_s=30, BREAKER_ENABLED="false")
    for key in ("GITHUB_WEBHOOK_SECRET_PARAM", "MAX_BODY_BYTES", "DATABASE_URL",
                "QUEUE_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def _provision_aws(request) -> None:
    request.getfixturevalue("aws_env")  # moto reset, AWS_ENDPOINT_URL and fake credentials
    from chalicelib import wiring
    from spillway.deploy import provision

    wiring.reset()
    provision(PREFIX, max_receive_count=5)  # waits for CREATE_COMPLETE


def _harness(request, backend: str, monkeypatch, tmp_path: Path) -> Harness:
    from chalicelib import wiring
    from spillway.migrate import migrate

    _base_env(monkeypatch, backend)
    if backend == "aws":
        _provision_aws(request)
    else:
        url = request.getfixturevalue("pg_url")
        migrate(url, "queue")
        monkeypatch.setenv("QUEUE_DATABASE_URL", url)
    project_dir = tmp_path / "chalice-project"
    project_dir.mkdir()
    wiring.close()
    return Harness(backend, monkeypatch, project_dir)


@pytest.fixture(params=BACKENDS)
def edge(request, monkeypatch, tmp_path):
    """:class:`Harness` for the edge, once per backend."""
    from chalicelib import wiring

    harness = _harness(request, request.param, monkeypatch, tmp_path)
    yield harness
    wiring.close()


@pytest.fixture(params=BACKENDS)
def worker(request, monkeypatch, tmp_path, pg_url):
    """:class:`Harness` for the workers, once per backend, with a migrated application
    database (``DATABASE_URL``; on the postgres backend the queues live in the same database,
    as ``QUEUE_DATABASE_URL`` defaults to it).

    The application pool's connections carry ``lock_timeout=500ms``, so a row lock held by a
    test surfaces as PostgreSQL's ``lock_not_available`` (a transient error) instead of a hang.
    ``harness.app_db`` is the plain URL of that database.
    """
    from psycopg.conninfo import make_conninfo

    from chalicelib import wiring
    from spillway.migrate import migrate

    harness = _harness(request, request.param, monkeypatch, tmp_path)
    migrate(pg_url, "app")
    monkeypatch.setenv("DATABASE_URL", make_conninfo(pg_url, options="-c lock_timeout=500"))
    wiring.close()
    harness.app_db = pg_url
    yield harness
    wiring.close()
