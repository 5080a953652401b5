"""GitHub's webhook-delivery REST API: list a hook's deliveries, ask for a redelivery.

Built on gidgethub's sans-I/O layer (``gidgethub.sansio``: request headers, response decoding,
``Link`` parsing, rate-limit headers) with urllib3 as the transport (it ships with botocore, so
nothing heavy is added to the Lambda package). Endpoints (GitHub REST docs, "Repository
webhooks", "Organization webhooks", "GitHub App webhooks"):

* repository hook: ``GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries``
* organization hook: ``GET /orgs/{org}/hooks/{hook_id}/deliveries``
* GitHub App hook: ``GET /app/hook/deliveries`` (authenticated with the App's JWT)

and ``POST <that path>/{delivery_id}/attempts`` (202 Accepted) to redeliver. Pages hold at most
100 items (``per_page``), newest first; the ``Link`` header's ``rel="next"`` URL carries the
``cursor`` of the next (older) page.

Rate limits (GitHub docs, "Rate limits for the REST API"): every answer carries
``X-RateLimit-Remaining``/``X-RateLimit-Reset`` (primary limit, 5,000 requests/hour for a
token); a 403 or 429 with ``Retry-After`` or with ``X-RateLimit-Remaining: 0`` is a rate limit
(secondary or primary): :class:`GitHubRateLimited` says how long to wait. Without either header
GitHub asks clients to wait at least a minute (:data:`SECONDARY_DEFAULT_WAIT_S`). The wait is
bounded to :data:`chalicelib.core.reconcile.MAX_WAIT_S` (one hour, GitHub's rate-limit window):
a header asking for more (``Retry-After: 99999999999``, a reset years ahead) is not obeyed
beyond it. ``Retry-After`` is read as seconds or as an HTTP date (RFC 9110).

A request that was sent but got no answer within ``timeout_s`` raises :class:`GitHubTimedOut`:
GitHub may have acted on it (a redelivery ``POST`` accepted, then a slow answer), so callers
count it as asked.

Errors leave as :mod:`chalicelib.errors` classes, subclassed here. The credential is never put
in an exception, a log line or a ``repr``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from chalicelib.core.reconcile import MAX_PER_PAGE, bounded_wait
from chalicelib.errors import (
    ConfigError,
    DependencyUnavailable,
    NotFound,
    PermanentDependencyError,
    Throttled,
)

API_URL = "https://api.github.com"
#: GitHub's advice when a secondary rate limit names no wait: at least one minute, seconds.
SECONDARY_DEFAULT_WAIT_S = 60.0
#: The REST API version we speak (GitHub docs, "API Versions").
API_VERSION = "2022-11-28"


class GitHubRateLimited(Throttled):
    """GitHub refused for its rate limit. ``retry_after_s``: seconds to wait before asking again;
    ``remaining``: requests left in the primary limit (0 when exhausted, None if not said)."""

    def __init__(self, message: str, *, retry_after_s: float, remaining: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.remaining = remaining


class GitHubAuthError(PermanentDependencyError):
    """401 (no or bad credential) or 403 without a rate limit (the credential lacks the
    permission: see the README's token permissions)."""


class HookNotFound(NotFound):
    """404: the hook or delivery does not exist, or the credential may not see it."""


class GitHubUnavailable(DependencyUnavailable):
    """GitHub answered 5xx, or could not be reached in time."""


class GitHubTimedOut(GitHubUnavailable):
    """The request was sent but no answer came within the read timeout: GitHub may have acted
    on it (for a redelivery ``POST``: may have accepted it)."""


@dataclass(frozen=True)
class HookRef:
    """A configured hook. ``kind``: ``repo``, ``org`` or ``app``; ``owner``: ``OWNER/REPO`` or
    ``ORG`` (None for ``app``); ``hook_id``: the numeric hook id, which is also the
    ``X-GitHub-Hook-ID`` header of its deliveries (optional for ``app``)."""

    kind: str
    owner: str | None
    hook_id: str | None

    @classmethod
    def parse(cls, spec: str) -> HookRef:
        """``repo:OWNER/REPO:HOOK_ID``, ``org:ORG:HOOK_ID``, ``app`` or ``app:HOOK_ID``.
        Raises :class:`~chalicelib.errors.ConfigError` naming the spec."""
        parts = spec.strip().split(":")
        kind = parts[0].lower()
        if kind == "app" and len(parts) in (1, 2):
            hook_id = parts[1] if len(parts) == 2 else None
            if hook_id is not None and not hook_id.isdigit():
                raise ConfigError(f"hook {spec!r}: the App hook id must be a number")
            return cls("app", None, hook_id)
        if kind in ("repo", "org") and len(parts) == 3 and parts[2].isdigit():
            owner = parts[1]
            if not owner or (kind == "repo") != (owner.count("/") == 1):
                raise ConfigError(f"hook {spec!r}: expected repo:OWNER/REPO:ID or org:ORG:ID")
            return cls(kind, owner, parts[2])
        raise ConfigError(f"hook {spec!r}: expected repo:OWNER/REPO:HOOK_ID, org:ORG:HOOK_ID "
                          "or app[:HOOK_ID]")

    @property
    def key(self) -> str:
        """The hook's name in the reconcile tables (the spec, normalised)."""
        if self.kind == "app":
            return "app" + (f":{self.hook_id}" if self.hook_id else "")
        return f"{self.kind}:{self.owner}:{self.hook_id}"

    @property
    def path(self) -> str:
        """The deliveries path of this hook."""
        if self.kind == "app":
            return "/app/hook/deliveries"
        prefix = "repos" if self.kind == "repo" else "orgs"
        return f"/{prefix}/{quote(self.owner or '', safe='/')}/hooks/{self.hook_id}/deliveries"


@dataclass(frozen=True)
class RateLimit:
    """The primary rate limit after an answer: ``remaining`` requests, reset at ``reset_at``
    (epoch seconds), out of ``limit`` per hour."""

    remaining: int
    reset_at: float
    limit: int


@dataclass(frozen=True)
class Page:
    """One page of a hook's delivery log: ``items`` (``hook-delivery-item`` objects, newest
    first), ``next_cursor`` (None on the last page), ``rate`` (None if GitHub sent none)."""

    items: list[dict]
    next_cursor: str | None
    rate: RateLimit | None


class GitHubDeliveries:
    """Lists and redelivers webhook deliveries.

    ``auth(hook)`` returns the ``Authorization`` header value for a hook (``token …`` or
    ``Bearer <JWT>``: see :mod:`chalicelib.adapters.github.auth`). ``base_url``: the API root
    (GitHub Enterprise Server: ``https://HOST/api/v3``; the local stand-in's URL in tests).
    ``http``: a ``urllib3.PoolManager`` (built when None). ``timeout_s``: connect and read
    timeout per request, seconds.
    """

    def __init__(self, auth: Callable[[HookRef], str], *, base_url: str = API_URL,
                 http: Any = None, timeout_s: float = 10.0,
                 requester: str = "spillway-reconciler", clock: Callable[[], float] = time.time):
        import urllib3

        self._auth = auth
        self._base = base_url.rstrip("/")
        self._http = http or urllib3.PoolManager(retries=False)
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._requester = requester
        self._clock = clock

    def list_page(self, hook: HookRef, cursor: str | None = None,
                  per_page: int = MAX_PER_PAGE) -> Page:
        """One page of ``hook``'s deliveries from ``cursor`` (None = newest). ``per_page``
        1..100. Raises :class:`GitHubRateLimited`, :class:`GitHubAuthError`,
        :class:`HookNotFound`, :class:`GitHubUnavailable` or ``PermanentDependencyError``."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1..{MAX_PER_PAGE}, got {per_page}")
        query = {"per_page": per_page, **({"cursor": cursor} if cursor else {})}
        data, rate, next_url = self._call("GET", hook, f"{hook.path}?{urlencode(query)}")
        if not isinstance(data, list):
            raise PermanentDependencyError(f"GitHub: {hook.key} deliveries is not a list")
        return Page(data, _cursor_of(next_url), rate)

    def redeliver(self, hook: HookRef, delivery_id: int) -> RateLimit | None:
        """Ask GitHub to redeliver attempt ``delivery_id`` (same GUID, ``redelivery: true``).
        GitHub answers 202 and sends it asynchronously. Raises as :meth:`list_page`."""
        _, rate, _ = self._call("POST", hook, f"{hook.path}/{int(delivery_id)}/attempts")
        return rate

    def installation_token(self, installation_id: str, jwt: str) -> tuple[str, float]:
        """An installation access token for ``installation_id``, bought with the App's
        ``jwt`` (``POST /app/installations/{id}/access_tokens``, 201): ``(token, expires_at)``
        in epoch seconds. Raises as :meth:`list_page`."""
        data, _, _ = self._call("POST", None, f"/app/installations/{int(installation_id)}"
                                "/access_tokens", authorization=f"Bearer {jwt}")
        try:
            expires = datetime.fromisoformat(str(data["expires_at"]).replace("Z", "+00:00"))
            return str(data["token"]), expires.timestamp()
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentDependencyError("GitHub: installation token answer has no "
                                           "token/expires_at") from exc

    def _call(self, method: str, hook: HookRef | None, path: str, *,
              authorization: str | None = None) -> tuple[Any, RateLimit | None, str | None]:
        import urllib3
        from gidgethub import GitHubException, sansio

        headers = sansio.create_headers(self._requester)
        headers["authorization"] = authorization or self._auth(hook)
        headers["x-github-api-version"] = API_VERSION
        url = self._base + path
        try:
            resp = self._http.request(method, url, headers=headers, timeout=self._timeout,
                                      redirect=False)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise GitHubTimedOut(f"GitHub {method} {path}: sent, no answer within "
                                 f"{self._timeout.read_timeout} s") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise GitHubUnavailable(f"GitHub {method} {path}: {type(exc).__name__}") from exc
        lowered = {k.lower(): v for k, v in resp.headers.items()}
        status = resp.status
        if status in (403, 429):
            limited = self._rate_limited(status, lowered)
            if limited is not None:
                raise limited
        if status == 401:
            raise GitHubAuthError(f"GitHub {method} {path}: 401 (credential missing or bad)")
        if status == 403:
            raise GitHubAuthError(f"GitHub {method} {path}: 403 (credential lacks permission)")
        if status == 404:
            raise HookNotFound(f"GitHub {method} {path}: 404 (no such hook or delivery)")
        try:
            data, _, next_url = sansio.decipher_response(status, lowered, resp.data)
        except GitHubException as exc:
            cls = GitHubUnavailable if status >= 500 else PermanentDependencyError
            raise cls(f"GitHub {method} {path}: {status} {_message(resp.data)}") from exc
        except ValueError as exc:  # a body that is not JSON although it says so
            raise PermanentDependencyError(f"GitHub {method} {path}: bad body") from exc
        return data, _rate(lowered), next_url

    def _rate_limited(self, status: int, headers: dict) -> GitHubRateLimited | None:
        remaining = _int(headers.get("x-ratelimit-remaining"))
        retry_after = headers.get("retry-after")
        if retry_after is not None:
            asked = _retry_after_s(retry_after, self._clock())
            asked = SECONDARY_DEFAULT_WAIT_S if asked is None else asked
        elif remaining == 0:
            reset = _int(headers.get("x-ratelimit-reset"))
            asked = reset - self._clock() if reset else SECONDARY_DEFAULT_WAIT_S
        elif status == 429:
            asked = SECONDARY_DEFAULT_WAIT_S
        else:
            return None
        wait = bounded_wait(asked)
        bound = f" (asked {asked:.0f} s, bounded)" if asked > wait else ""
        return GitHubRateLimited(f"GitHub rate limit ({status}); retry in {wait:.0f} s{bound}",
                                 retry_after_s=wait, remaining=remaining)


def _retry_after_s(raw: str, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: delay-seconds or an HTTP date; None when it is
    neither (RFC 9110, section 10.2.3)."""
    from email.utils import parsedate_to_datetime

    seconds = _int(raw.strip())
    if seconds is not None:
        return float(seconds)
    try:
        return parsedate_to_datetime(raw).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _cursor_of(next_url: str | None) -> str | None:
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("cursor")
    return values[0] if values else None


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _rate(headers: dict) -> RateLimit | None:
    remaining, reset = _int(headers.get("x-ratelimit-remaining")), _int(
        headers.get("x-ratelimit-reset"))
    if remaining is None or reset is None:
        return None
    return RateLimit(remaining, float(reset), _int(headers.get("x-ratelimit-limit")) or 0)


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body or b"{}").get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""
