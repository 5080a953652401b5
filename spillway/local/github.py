"""A small, faithful stand-in for GitHub towards Spillway (operator tooling and tests only).

GitHub is the one outside service Spillway cannot reach from here, so this plays its two roles:

* **the sender**: :meth:`GitHubStandIn.deliver` sends a payload to a hook's URL as GitHub does
  (signed ``X-Hub-Signature-256``, ``X-GitHub-Event``, ``X-GitHub-Delivery``,
  ``X-GitHub-Hook-ID``; through :class:`spillway.replay.Sender`) and records the attempt with
  its status code and duration. Like GitHub it waits 10 s: a non-2xx answer, no answer, or an
  answer after 10 s is a failed attempt (status code 0 when there was no answer);
* **the REST API** on ``127.0.0.1`` (port 0 by default): ``GET …/deliveries`` and ``POST
  …/deliveries/{id}/attempts`` for repository hooks (``/repos/{owner}/{repo}/hooks/{id}``),
  organization hooks (``/orgs/{org}/hooks/{id}``) and the App hook (``/app/hook``), with the
  shapes of GitHub's OpenAPI description (``hook-delivery-item``; newest first; ``per_page``
  default 30, at most 100; a ``Link`` header with ``rel="next"`` carrying ``cursor``; the
  ``redelivery`` filter; 401 without a valid credential, 404 for an unknown hook or delivery;
  202 for a redelivery, which re-sends the same GUID with ``redelivery: true``; the
  ``X-RateLimit-*`` headers and 403 once ``rate_limit`` requests are spent, or 429 with
  ``Retry-After`` for a configured secondary limit).

Like GitHub on a bad day, a hook can be told to misbehave (:class:`Hostile`, ``hook.hostile``):
list items without ``guid``, answer 429 with any ``Retry-After`` or 403 with any
``X-RateLimit-Reset``, send a ``Link: rel="next"`` back to the page just read, or accept a
redelivery (202, the redelivery happens) but answer only after a stall longer than the client
waits. The reconciler's tests use these to prove one bad answer stays that hook's problem.

Credentials: ``token`` for repository and organization hooks (``Authorization: token T`` or
``Bearer T``), or an installation token from ``POST /app/installations/{installation_id}/
access_tokens`` (201, ``token`` and ``expires_at`` one hour on); for the App hook and that POST,
a JWT verified with ``app_public_key`` (RS256, ``iss`` = ``app_id``), or the token when no App
key is configured.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from spillway.replay import Payload, Sender

#: GitHub waits this long for an answer before recording a failure (GitHub docs, "Best
#: practices for using webhooks"), seconds.
TIMEOUT_S = 10.0
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
_ROUTE = re.compile(r"^/(?:repos/(?P<repo>[^/]+/[^/]+)/hooks/(?P<rid>\d+)|orgs/(?P<org>[^/]+)"
                    r"/hooks/(?P<oid>\d+)|(?P<app>app)/hook)/deliveries"
                    r"(?:/(?P<delivery>\d+)(?P<attempts>/attempts)?)?$")
_INSTALLATION = re.compile(r"^/app/installations/(?P<id>\d+)/access_tokens$")


@dataclass
class Hostile:
    """How a hook's API answers misbehave (all off by default).

    ``drop_guid``: the newest item of every listed page has no ``guid``; ``retry_after``: every
    request about the hook is answered 429 with this ``Retry-After`` value (a string, as sent);
    ``rate_reset``: answered 403 with ``X-RateLimit-Remaining: 0`` and this
    ``X-RateLimit-Reset`` (epoch seconds, a string); ``link_loop``: each page's ``Link``
    ``rel="next"`` names the page just read; ``stall_post_s``: a redelivery ``POST`` is
    accepted (the redelivery is sent) but the 202 is written only after this many seconds."""

    drop_guid: bool = False
    retry_after: str | None = None
    rate_reset: str | None = None
    link_loop: bool = False
    stall_post_s: float = 0.0


@dataclass
class Hook:
    """A webhook: its ``path`` (e.g. ``/repos/o/r/hooks/1``), ``hook_id`` (the
    ``X-GitHub-Hook-ID`` value), target ``url`` and ``secret``; ``attempts`` newest last."""

    path: str
    hook_id: str
    url: str
    secret: str
    attempts: list[dict] = field(default_factory=list)
    payloads: dict[int, Payload] = field(default_factory=dict)
    #: the receiver's answer body per attempt id (GitHub shows it only per delivery, never in
    #: the log's list; the demo reads the edge's classification from it)
    responses: dict[int, Any] = field(default_factory=dict)
    hostile: Hostile = field(default_factory=Hostile)

    def sender(self) -> Sender:
        return Sender(self.url, self.secret, hook_id=self.hook_id, timeout_s=TIMEOUT_S)


class GitHubStandIn:
    """GitHub's deliveries towards one Spillway edge. Use as a context manager or call
    :meth:`start` / :meth:`stop`. ``clock`` gives epoch seconds for ``delivered_at``."""

    def __init__(self, *, token: str = "standin-token", app_id: str | None = None,
                 app_public_key: str | None = None, installation_id: str | None = None,
                 rate_limit: int = 5000,
                 secondary_limit_after: int | None = None, port: int = 0,
                 clock: Callable[[], float] = time.time):
        self.token = token
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.installation_id = installation_id
        self.installation_tokens: set[str] = set()
        self.rate_limit = rate_limit
        self.secondary_limit_after = secondary_limit_after
        self.requests = 0  # API requests answered (any status)
        self._clock = clock
        self._hooks: dict[str, Hook] = {}
        self._next_id = 1000
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._serve: threading.Thread | None = None
        self.reset_at = int(clock()) + 3600

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GitHubStandIn:
        self._serve = threading.Thread(target=self._server.serve_forever, daemon=True,
                                       name="github-standin")
        self._serve.start()
        return self

    def stop(self) -> None:
        self.wait_idle()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- hooks and deliveries ------------------------------------------------------------------
    def add_hook(self, spec: str, url: str, secret: str) -> Hook:
        """Register a hook by spec ``repo:OWNER/REPO:ID``, ``org:ORG:ID`` or ``app:ID``."""
        kind, _, rest = spec.partition(":")
        owner, _, hook_id = rest.rpartition(":")
        path = {"repo": f"/repos/{owner}/hooks/{hook_id}", "org": f"/orgs/{owner}/hooks/"
                f"{hook_id}", "app": "/app/hook"}.get(kind)
        if path is None or not hook_id.isdigit():
            raise ValueError(f"hook spec {spec!r}: repo:OWNER/REPO:ID, org:ORG:ID or app:ID")
        hook = Hook(path, hook_id, url, secret)
        self._hooks[path] = hook
        return hook

    def deliver(self, hook: Hook, payload: Payload, guid: str, *, redelivery: bool = False
                ) -> dict:
        """Send ``payload`` with ``X-GitHub-Delivery: guid`` to ``hook.url`` now; returns the
        recorded attempt (a ``hook-delivery-item``)."""
        started = self._clock()
        result = hook.sender().send(payload, guid)
        duration = result.elapsed_s
        ok = 200 <= result.status < 300 and duration < TIMEOUT_S
        action = _action(payload.body)
        with self._lock:
            self._next_id += 1
            attempt = {
                "id": self._next_id, "guid": guid,
                "delivered_at": datetime.fromtimestamp(started, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "redelivery": redelivery, "duration": round(duration, 3),
                "status": "OK" if ok else _failure(result.status, duration),
                "status_code": result.status if duration < TIMEOUT_S else 0,
                "event": payload.event, "action": action, "installation_id": None,
                "repository_id": None, "throttled_at": None, "url": hook.url,
            }
            hook.attempts.append(attempt)
            hook.payloads[attempt["id"]] = payload
            hook.responses[attempt["id"]] = result.response
        return attempt

    def send_all(self, hook: Hook, payloads: list[Payload], *, concurrency: int = 8,
                 on_attempt: Callable[[dict], None] | None = None) -> list[dict]:
        """Deliver every payload with a fresh GUID, ``concurrency`` at a time (as GitHub
        delivers a burst of events); returns the attempts in completion order."""
        from concurrent.futures import ThreadPoolExecutor

        def one(p: Payload) -> dict:
            attempt = self.deliver(hook, p, str(uuid.uuid4()))
            if on_attempt is not None:
                on_attempt(attempt)
            return attempt

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return list(pool.map(one, payloads))

    def tally(self, hook: Hook) -> dict[str, set[str]]:
        """GUIDs by fate, from the attempts: ``sent`` (all), ``failed_first`` (first attempt
        failed), ``redelivered`` (a redelivery succeeded), ``never_ok`` (no attempt succeeded)."""
        first: dict[str, dict] = {}
        ok: set[str] = set()
        redelivered: set[str] = set()
        for a in sorted(self.attempts(hook), key=lambda a: a["id"]):
            first.setdefault(a["guid"], a)
            if a["status"] == "OK":
                ok.add(a["guid"])
                if a["redelivery"]:
                    redelivered.add(a["guid"])
        return {"sent": set(first), "failed_first": {g for g, a in first.items()
                                                     if a["status"] != "OK"},
                "redelivered": redelivered, "never_ok": set(first) - ok}

    def redeliver(self, hook: Hook, delivery_id: int) -> bool:
        """Re-send attempt ``delivery_id``'s payload, same GUID, in the background. False if
        the hook has no such attempt."""
        with self._lock:
            original = next((a for a in hook.attempts if a["id"] == delivery_id), None)
            payload = hook.payloads.get(delivery_id)
        if original is None or payload is None:
            return False
        thread = threading.Thread(target=self.deliver, args=(hook, payload, original["guid"]),
                                  kwargs={"redelivery": True}, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()
        return True

    def wait_idle(self, timeout_s: float = 30.0) -> None:
        """Wait for redeliveries in flight (bounded by ``timeout_s`` seconds each)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for t in threads:
            t.join(timeout_s)

    def attempts(self, hook: Hook) -> list[dict]:
        with self._lock:
            return list(hook.attempts)

    # -- the REST API --------------------------------------------------------------------------
    def _authorized(self, hook_path: str, header: str | None) -> bool:
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            return False
        if hook_path.startswith("/app/") and self.app_public_key:
            import jwt

            try:
                claims = jwt.decode(credential, self.app_public_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                return False
            return str(claims.get("iss")) == str(self.app_id)
        return credential == self.token or credential in self.installation_tokens

    def answer(self, method: str, target: str, authorization: str | None
               ) -> tuple[int, dict[str, str], object]:
        """``(status, headers, JSON body)`` for one API request."""
        with self._lock:
            self.requests += 1
            used = self.requests
        rate = {"X-RateLimit-Limit": str(self.rate_limit),
                "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
                "X-RateLimit-Reset": str(self.reset_at), "X-RateLimit-Resource": "core"}
        parts = urlsplit(target)
        token_route = _INSTALLATION.match(parts.path)
        if token_route and method == "POST":
            return self._installation_token(token_route["id"], authorization, rate)
        match = _ROUTE.match(parts.path)
        if match is None:
            return 404, rate, {"message": "Not Found"}
        hook_path = parts.path.split("/deliveries")[0]
        if not self._authorized(hook_path, authorization):
            return 401, rate, {"message": "Requires authentication",
                               "documentation_url": "https://docs.github.com/rest"}
        hook = self._hooks.get(hook_path)
        if self.secondary_limit_after is not None and used > self.secondary_limit_after:
            return 429, {**rate, "Retry-After": "60"}, {
                "message": "You have exceeded a secondary rate limit."}
        if used > self.rate_limit:
            return 403, rate, {"message": "API rate limit exceeded"}
        if hook is None:
            return 404, rate, {"message": "Not Found"}
        hostile = hook.hostile
        if hostile.retry_after is not None:
            return 429, {**rate, "Retry-After": hostile.retry_after}, {
                "message": "You have exceeded a secondary rate limit."}
        if hostile.rate_reset is not None:
            return 403, {**rate, "X-RateLimit-Remaining": "0",
                         "X-RateLimit-Reset": hostile.rate_reset}, {
                "message": "API rate limit exceeded"}
        if match["attempts"]:
            if method != "POST":
                return 404, rate, {"message": "Not Found"}
            if not self.redeliver(hook, int(match["delivery"])):
                return 404, rate, {"message": "Not Found"}
            if hostile.stall_post_s:  # accepted; the answer comes too late
                time.sleep(hostile.stall_post_s)
            return 202, rate, {}
        if method != "GET":
            return 404, rate, {"message": "Not Found"}
        if match["delivery"]:
            found = [a for a in self.attempts(hook) if a["id"] == int(match["delivery"])]
            return (200, rate, found[0]) if found else (404, rate, {"message": "Not Found"})
        return self._list(hook, parse_qs(parts.query), rate)

    def _installation_token(self, installation_id: str, authorization: str | None,
                            rate: dict) -> tuple[int, dict, object]:
        if not self._authorized("/app/installations", authorization):
            return 401, rate, {"message": "A JSON web token could not be decoded"}
        if installation_id != str(self.installation_id):
            return 404, rate, {"message": "Not Found"}
        token = f"ghs_{uuid.uuid4().hex}"
        with self._lock:
            self.installation_tokens.add(token)
        expires = datetime.fromtimestamp(self._clock() + 3600, UTC)
        return 201, rate, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "permissions": {"repository_hooks": "write"},
                           "repository_selection": "all"}

    def _list(self, hook: Hook, query: dict, rate: dict) -> tuple[int, dict, object]:
        try:
            per_page = int(query.get("per_page", [DEFAULT_PER_PAGE])[0])
        except ValueError:
            return 400, rate, {"message": "per_page must be an integer"}
        per_page = max(1, min(per_page, MAX_PER_PAGE))
        items = sorted(self.attempts(hook), key=lambda a: a["id"], reverse=True)
        cursor = query.get("cursor", [None])[0]
        if cursor is not None:
            if not re.fullmatch(r"v1_\d+", cursor):
                return 400, rate, {"message": "Invalid cursor"}
            items = [a for a in items if a["id"] <= int(cursor[3:])]
        flag = query.get("redelivery", [None])[0]
        if flag is not None:
            items = [a for a in items if a["redelivery"] == (flag.lower() == "true")]
        page, rest = items[:per_page], items[per_page:]
        headers = dict(rate)
        if rest or (hook.hostile.link_loop and page):
            after = page[0] if hook.hostile.link_loop else rest[0]  # a loop: this page again
            link = f"{self.url}{hook.path}/deliveries?" + urlencode(
                {"per_page": per_page, "cursor": f"v1_{after['id']}"})
            headers["Link"] = f'<{link}>; rel="next"'
        listed = [{k: v for k, v in a.items() if k != "url"} for a in page]
        if hook.hostile.drop_guid and listed:
            del listed[0]["guid"]
        return 200, headers, listed


def _failure(status: int, duration_s: float) -> str:
    """GitHub's ``status`` text of a failed attempt (as its delivery log shows them)."""
    if duration_s >= TIMEOUT_S:
        return "timed out"
    return f"Invalid HTTP Response: {status}" if status else "failed to connect to host"


def _action(body: bytes) -> str | None:
    try:
        action = json.loads(body).get("action")
    except (ValueError, AttributeError):
        return None
    return action if isinstance(action, str) else None


def _handler(standin: GitHubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet
            pass

        def _respond(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = standin.answer(method, self.path,
                                                   self.headers.get("Authorization"))
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
            except OSError:  # the client gave up waiting (a stalled answer)
                self.close_connection = True

        def do_GET(self):
            self._respond("GET")

        def do_POST(self):
            self._respond("POST")

    return Handler
