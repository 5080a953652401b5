"""The webhook secrets the edge accepts: the current one and, during a rotation window, the
previous one, each given directly or read from an SSM parameter through Powertools Parameters
(cached :data:`SECRET_MAX_AGE_S` seconds, so a rotation needs no redeploy). Built once per
process by :func:`chalicelib.wiring.get_edge`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalicelib.core.signature import accepted_secrets
from chalicelib.errors import ConfigError
from chalicelib.settings import Settings

log = logging.getLogger(__name__)

#: Seconds a webhook secret read from SSM is kept before it is read again.
SECRET_MAX_AGE_S = 300


def secret_getter(settings: Settings) -> Callable[[], tuple[str, ...]]:
    """A callable returning the secrets accepted now, current first (a rotation window adds the
    previous one until ``GITHUB_WEBHOOK_SECRET_PREVIOUS_UNTIL``; see ``docs/DEPLOY.md``).
    Raises :class:`ConfigError` when no current secret is configured."""
    current = _one_secret(settings.webhook_secret, settings.webhook_secret_param)
    if current is None:
        raise ConfigError("GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_PARAM must be set")
    previous = _one_secret(settings.webhook_secret_previous,
                           settings.webhook_secret_previous_param, optional=True)
    until = settings.webhook_secret_previous_until
    if previous is None:
        return lambda: (current(),)
    return lambda: accepted_secrets(current(), previous(), until, now=time.time())


def _one_secret(value: str | None, param: str | None,
                optional: bool = False) -> Callable[[], str | None] | None:
    """The secret itself, or a read of SSM parameter ``param`` (cached by Powertools for
    :data:`SECRET_MAX_AGE_S`, so a rotation needs no redeploy); None when neither is set.
    ``optional``: a parameter that is absent or unreadable counts as no secret (logged, and
    not asked again for :data:`SECRET_MAX_AGE_S`: Powertools caches no failure), so clearing
    the previous secret is deleting its parameter."""
    if value:
        return lambda: value
    if not param:
        return None
    from aws_lambda_powertools.utilities import parameters

    missing_until = [0.0]

    def read() -> str | None:
        if optional and time.monotonic() < missing_until[0]:
            return None
        try:
            return parameters.get_parameter(param, decrypt=True, max_age=SECRET_MAX_AGE_S) or None
        except parameters.exceptions.GetParameterError as exc:
            if not optional:
                raise
            missing_until[0] = time.monotonic() + SECRET_MAX_AGE_S
            log.warning("previous webhook secret %s unreadable: %s",
                                                param, exc)
            return None

    return read
