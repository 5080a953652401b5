"""The local stack's GitHub: a :class:`~spillway.local.github.GitHubStandIn` beside the edge.

:func:`start` runs the stand-in, registers one repository hook (:data:`HOOK_SPEC`) whose URL
is the stack's webhook endpoint and whose secret is the stack's, and adds to the stack's
environment (and so to ``local-env.json``) what the reconciler reads: ``GITHUB_API_URL`` (the
stand-in's REST root), ``GITHUB_TOKEN`` (a fresh random token the stand-in accepts) and
``GITHUB_HOOKS``. ``spillway --local reconcile --dry-run --json`` then reconciles against the
stand-in's delivery log. The stand-in lives in the stack's process: it stops with the stack.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from spillway.local.github import GitHubStandIn, Hook

if TYPE_CHECKING:
    from spillway.local.stack import LocalStack

#: The hook the local stack registers at its stand-in (``repo:OWNER/REPO:HOOK_ID``).
HOOK_SPEC = "repo:spillway/local:1"


def start(stack: LocalStack) -> tuple[GitHubStandIn, Hook]:
    """Start the stand-in for a running ``stack`` (its edge must be up); returns it and the
    registered hook. Updates ``stack.env``, ``os.environ`` and the stack's env file."""
    standin = GitHubStandIn(token=f"standin_{secrets.token_hex(16)}").start()
    hook = standin.add_hook(HOOK_SPEC, stack.url, stack.secret)
    stack.add_env({"GITHUB_API_URL": standin.url, "GITHUB_TOKEN": standin.token,
                   "GITHUB_HOOKS": HOOK_SPEC})
    return standin, hook


def stop(standin: GitHubStandIn | None) -> None:
    """Stop the stand-in (waiting for redeliveries in flight); None does nothing."""
    if standin is not None:
        standin.stop()
