"""The one exception hierarchy of Spillway.

Every error our code raises derives from :class:`SpillwayError`. Whether an error is worth
retrying is decided here, in one place (:attr:`SpillwayError.retryable`), so workers, the circuit
breaker and the edge all agree:

* ``retryable = True``  -> transient: the dependency may recover (throttling, connection
  exhaustion, timeouts, an open breaker). The message goes back to its queue and is tried again.
* ``retryable = False`` -> permanent: the input itself is wrong (bad signature, bad JSON, too
  large). Retrying can never succeed, and such an error never trips a circuit breaker.

Adapters translate vendor errors (botocore ``ClientError``, psycopg ``OperationalError``) into
these with ``raise ... from exc`` at the boundary.
"""

from __future__ import annotations


class SpillwayError(Exception):
    """Base of every Spillway error. ``retryable`` says whether trying again may succeed."""

    retryable: bool = False


# --- input errors (edge): permanent, answered with a 4xx, never trip a breaker ---------------
class DeliveryRejected(SpillwayError):
    """A webhook delivery we refuse. ``status`` is the HTTP status code to answer with."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class SignatureInvalid(DeliveryRejected):
    """``X-Hub-Signature-256`` is missing, malformed or does not match the body (HTTP 401)."""

    status = 401
    code = "invalid_signature"


class MissingHeader(DeliveryRejected):
    """A required GitHub header (``X-GitHub-Event``, ``X-GitHub-Delivery``) is absent (HTTP 400)."""

    code = "missing_header"


class InvalidHeader(DeliveryRejected):
    """A GitHub header is present but its value is unusable (HTTP 400): an ``X-GitHub-Event``
    that is not a plain event name, a ``:`` in ``X-GitHub-Hook-ID``, a value longer than
    ``MAX_HEADER_CHARS`` (200) characters or not printable ASCII (``chalicelib.core.delivery``).
    Absent or blank headers raise :class:`MissingHeader` instead."""

    code = "invalid_header"


class MalformedPayload(DeliveryRejected):
    """The body is not a JSON object (or not a form with a ``payload`` field) (HTTP 400)."""

    code = "malformed_payload"


class UnsupportedMediaType(DeliveryRejected):
    """A Content-Type other than JSON or form-urlencoded (HTTP 415)."""

    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(DeliveryRejected):
    """The body exceeds the configured cap ``MAX_BODY_BYTES`` (HTTP 413)."""

    status = 413
    code = "payload_too_large"


# --- configuration ------------------------------------------------------------------------------
class ConfigError(SpillwayError):
    """A setting is missing or invalid. The message names the key. Raised at cold start."""


# --- dependencies -----------------------------------------------------------------------------
class DependencyError(SpillwayError):
    """A dependency (queue, state store, database, blob store) failed. Retryable by default.
    ``timed_out`` is True when the caller already waited its full timeout for it (e.g. a
    connection pool wait): waiting on the same store again in the same request is pointless
    (see :func:`waited_out`)."""

    retryable = True
    timed_out = False


class Throttled(DependencyError):
    """The dependency refused for capacity (AWS throttling, too many connections)."""


class DependencyUnavailable(DependencyError):
    """The dependency could not be reached or timed out."""


class DeadlineExceeded(DependencyUnavailable):
    """The edge's overall deadline (``EDGE_DEADLINE_S``) passed before the delivery was
    accepted: the edge answers 503 ``deadline`` instead of starting another dependency call."""


class PermanentDependencyError(DependencyError):
    """The dependency rejected the request for a reason retrying will not fix (e.g. bad data)."""

    retryable = False


class DeliveryIdReused(DeliveryRejected):
    """A (hook id, delivery id) already accepted with a *different* payload (HTTP 409). GitHub
    redelivers the same document under the same ``X-GitHub-Delivery`` (GitHub Docs, "handling
    failed webhook deliveries"), so other bytes under a known id are a sender's bug or a replay
    with altered content: the first payload stays, this one is refused out loud instead of
    being answered as a duplicate and dropped."""

    status = 409
    code = "delivery_id_reused"


class DeliveryInProgress(SpillwayError):
    """The same delivery (hook id + delivery id) is being accepted by another invocation right
    now (HTTP 409). Retryable: a later redelivery is answered from the finished record."""

    retryable = True


class DedupUnavailable(DependencyError):
    """The deduplication (idempotency) store failed. The edge accepts the delivery anyway: the
    workers are idempotent on the same key, so the cost is at most one extra queue message."""


class ConflictError(SpillwayError):
    """A compare-and-set lost its race: the item's version was not the expected one.

    Callers reload and retry a bounded number of times. Not a dependency failure.
    """


class NotFound(SpillwayError):
    """A named queue, item or blob does not exist."""


class CircuitOpen(DependencyError):
    """The circuit breaker for ``dependency`` is open: the call was not attempted.

    ``retry_after_s`` (seconds, float) is how long until a probe may be allowed.
    """

    def __init__(self, dependency: str, retry_after_s: float = 0.0):
        super().__init__(f"circuit breaker for {dependency!r} is open")
        self.dependency = dependency
        self.retry_after_s = retry_after_s


def waited_out(exc: BaseException) -> bool:
    """True if ``exc`` or an exception it was raised from (``__cause__`` / ``__context__``)
    is a :class:`DependencyError` with ``timed_out`` set."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if getattr(current, "timed_out", False):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_retryable(exc: BaseException) -> bool:
    """True if ``exc`` is transient. Unknown exceptions count as retryable (never lose data)."""
    if isinstance(exc, SpillwayError):
        return exc.retryable
    return True
