"""Settings of the reconciler (frozen, validated once per cold start; errors name the key).

``GITHUB_HOOKS``: comma-separated hook specs (``repo:OWNER/REPO:HOOK_ID``,
``org:ORG:HOOK_ID``, ``app[:HOOK_ID]``; see :class:`chalicelib.adapters.github.HookRef`).
``GITHUB_API_URL``: the REST root (default ``https://api.github.com``; GitHub Enterprise
Server: ``https://HOST/api/v3``). ``RECONCILE_WINDOW_S`` (default 3 days, GitHub's retention),
``RECONCILE_COOLDOWN_S`` (900), ``RECONCILE_MAX_REQUESTS`` (per hook and run, 100),
``RECONCILE_RATE_RESERVE`` (requests of the primary limit left for other users of the token,
500; GitHub gives a token 5,000 per hour: docs "Rate limits for the REST API"). Credentials:
:mod:`chalicelib.adapters.github.auth`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.adapters.github.client import API_URL, HookRef
from chalicelib.core.reconcile import RETENTION_S
from chalicelib.errors import ConfigError
from chalicelib.reconcile.runner import RunOptions
from chalicelib.settings import _int


@dataclass(frozen=True)
class ReconcileSettings:
    hooks: tuple[HookRef, ...]
    api_url: str
    options: RunOptions

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ReconcileSettings:
        """Raises :class:`ConfigError` naming the key."""
        env = os.environ if env is None else env
        specs = [s for s in (env.get("GITHUB_HOOKS") or "").split(",") if s.strip()]
        try:
            hooks = tuple(HookRef.parse(s) for s in specs)
        except ConfigError as exc:
            raise ConfigError(f"GITHUB_HOOKS: {exc}") from None
        api_url = (env.get("GITHUB_API_URL") or API_URL).rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"GITHUB_API_URL must be an http(s) URL, got {api_url!r}")
        options = RunOptions(
            window_s=_int(env, "RECONCILE_WINDOW_S", RETENTION_S, 60, RETENTION_S),
            cooldown_s=_int(env, "RECONCILE_COOLDOWN_S", 900, 0, RETENTION_S),
            max_requests=_int(env, "RECONCILE_MAX_REQUESTS", 100, 1, 5000),
            rate_reserve=_int(env, "RECONCILE_RATE_RESERVE", 500, 0, 15000),
        )
        return cls(hooks=hooks, api_url=api_url, options=options)
