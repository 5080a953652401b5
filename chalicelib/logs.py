"""Structured logs: Powertools Logger JSON lines with the delivery id as correlation id and the
cold-start flag, for every ``spillway.*`` logger (edge, workers, breaker, reconciler).

:func:`setup` (called once per cold start by ``chalicelib.wiring``) puts a Powertools JSON
handler on the ``spillway`` logger; the modules keep logging through
``logging.getLogger("spillway.<part>")``, whose records propagate to it. Each line carries
``service``, ``level``, ``message``, ``location``, ``timestamp``, plus:

* ``correlation_id`` -- the delivery id (``X-GitHub-Delivery``) being handled, set with
  :func:`delivery` around the work on one delivery (a context variable: threads of the local
  runtime never see each other's id); null outside one;
* ``cold_start`` -- true on the first invocation of this process (:func:`invocation`).

Lines go to stderr (CloudWatch Logs on Lambda, like stdout) so the EMF metric lines on stdout
and a command's JSON output stay clean. ``LOG_LEVEL`` (default INFO) sets the level.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Iterator

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "spillway_correlation_id", default=None)
_lock = threading.Lock()
_state = {"cold": True, "in_invocation_cold": False}
_handler: list[logging.Handler] = []


class _CurrentStderr:
    """A stream that writes to whatever ``sys.stderr`` is at the time of the write (a test's
    capture, a redirected CLI), not the one there was when the handler was built."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _ContextFilter(logging.Filter):
    """Adds ``correlation_id`` and ``cold_start`` to every record (Powertools prints extras)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get()
        record.cold_start = _state["in_invocation_cold"]
        return True


def setup() -> logging.Logger:
    """Make the Powertools JSON handler (built once per process) the only handler of the
    ``spillway`` logger, writing to ``sys.stderr`` as it is at each write, with no propagation to the
    root logger (Lambda's, which would print each line twice); returns that logger. Never
    raises."""
    logger = logging.getLogger("spillway")
    with _lock:
        if not _handler:
            try:
                from aws_lambda_powertools import Logger

                powertools = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "spillway"),
                                    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                                    stream=_CurrentStderr())
                handler = powertools.registered_handler
            except Exception:  # logging must never stop a cold start
                return logger
            handler.addFilter(_ContextFilter())
            _handler.append(handler)
        # Chalice gives its app logger (named after the app: ``spillway``) a plain stdout
        # handler; ours replaces it, so each line is printed once, as JSON.
        logger.handlers = [_handler[0]]
        logger.propagate = False
        # LOG_LEVEL on our logger itself, so a root level set by a host (basicConfig in a
        # CLI, Lambda's runtime) never silences it
        with contextlib.suppress(ValueError):  # settings name a bad LOG_LEVEL, not this
            logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    return logger


def invocation() -> bool:
    """Mark the start of an invocation; returns (and logs, from now on) whether it is this
    process's cold start (the first invocation)."""
    with _lock:
        cold, _state["cold"] = _state["cold"], False
        _state["in_invocation_cold"] = cold
    return cold


def reset_cold_start() -> None:
    """The next :func:`invocation` is a cold start again (``chalicelib.wiring.reset``: the
    local runtime and tests rebuild everything as a new instance would)."""
    with _lock:
        _state["cold"], _state["in_invocation_cold"] = True, False


@contextlib.contextmanager
def delivery(delivery_id: str | None) -> Iterator[None]:
    """Log with ``correlation_id = delivery_id`` inside the block (this thread/context only)."""
    token = _correlation_id.set(delivery_id)
    try:
        yield
    finally:
        _correlation_id.reset(token)


def correlation_id() -> str | None:
    """The delivery id currently logged as correlation id, or None."""
    return _correlation_id.get()
