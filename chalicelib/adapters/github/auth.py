"""Credentials for GitHub's REST API: a token, or a GitHub App's private key (JWT).

Where they come from (first found wins):

* ``GITHUB_TOKEN`` -- a fine-grained or classic token, or an installation token (local use);
* ``GITHUB_TOKEN_PARAM`` -- the name of an SSM SecureString holding it, or
  ``GITHUB_TOKEN_SECRET`` -- a Secrets Manager secret id (AWS), both read through Powertools
  Parameters and cached for 5 minutes (rotation needs no redeploy);
* ``GITHUB_APP_ID`` with ``GITHUB_APP_PRIVATE_KEY`` (PEM), ``GITHUB_APP_PRIVATE_KEY_PARAM``
  (SSM) or ``GITHUB_APP_PRIVATE_KEY_SECRET`` (Secrets Manager): the App's JWT, made by
  ``gidgethub.apps.get_jwt`` (RS256, 10-minute lifetime, GitHub's maximum) and renewed a minute
  before it expires. ``/app/hook/deliveries`` needs it (GitHub docs, "Authenticating as a
  GitHub App").

A repository or organization hook uses the token, or -- with ``GITHUB_APP_INSTALLATION_ID``
and no token -- an installation access token the App's JWT buys (``POST
/app/installations/{id}/access_tokens``, valid 1 hour, renewed 5 minutes before it expires;
the App needs the "Webhooks" permission, read and write). The App hook uses the JWT. Secrets are
never logged, never in an exception message and never in a ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from chalicelib.adapters.github.client import GitHubAuthError, HookRef
from chalicelib.errors import ConfigError

#: A JWT lives at most 10 minutes (GitHub docs); renew this many seconds before it expires.
JWT_LIFETIME_S = 600
JWT_RENEW_S = 60
#: Renew an installation token this many seconds before its ``expires_at`` (GitHub: 1 hour).
INSTALLATION_RENEW_S = 300
#: Powertools Parameters cache, seconds.
SECRET_MAX_AGE_S = 300


def _fetcher(env: Mapping[str, str], plain: str, param: str, secret: str
             ) -> Callable[[], str] | None:
    if env.get(plain):
        value = env[plain]
        return lambda: value
    if env.get(param):
        name = env[param]

        def from_ssm() -> str:
            from aws_lambda_powertools.utilities import parameters

            return parameters.get_parameter(name, decrypt=True, max_age=SECRET_MAX_AGE_S)
        return from_ssm
    if env.get(secret):
        name = env[secret]

        def from_secrets_manager() -> str:
            from aws_lambda_powertools.utilities import parameters

            return parameters.get_secret(name, max_age=SECRET_MAX_AGE_S)
        return from_secrets_manager
    return None


class GitHubAuth:
    """``auth(hook)`` -> the ``Authorization`` header value for ``hook``.

    ``token`` / ``app_key``: callables returning the token / the App's PEM private key (None
    when not configured); ``app_id``: the App's id; ``installation_id``: the App's installation
    whose token serves repository and organization hooks when there is no ``token`` (needs
    :meth:`bind` first). ``clock``: epoch seconds.
    Raises :class:`~chalicelib.adapters.github.GitHubAuthError` when the hook's kind has no
    credential configured.
    """

    def __init__(self, *, token: Callable[[], str] | None = None,
                 app_id: str | None = None, app_key: Callable[[], str] | None = None,
                 installation_id: str | None = None, clock: Callable[[], float] = time.time):
        self._token = token
        self._app_id = app_id
        self._app_key = app_key
        self._installation_id = installation_id
        self._clock = clock
        self._jwt: tuple[str, float] | None = None
        self._installation: tuple[str, float] | None = None
        self._exchange: Callable[[str, str], tuple[str, float]] | None = None

    def bind(self, exchange: Callable[[str, str], tuple[str, float]]) -> None:
        """``exchange(installation_id, jwt) -> (token, expires_at epoch s)``: the adapter's
        :meth:`~chalicelib.adapters.github.GitHubDeliveries.installation_token`."""
        self._exchange = exchange

    def __repr__(self) -> str:  # never the secret
        return (f"GitHubAuth(token={'set' if self._token else None}, "
                f"app_id={self._app_id!r}, app_key={'set' if self._app_key else None})")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubAuth:
        """From the variables in the module docstring. Raises ConfigError naming the key when
        ``GITHUB_APP_ID`` and its key are not given together, or nothing is configured."""
        token = _fetcher(env, "GITHUB_TOKEN", "GITHUB_TOKEN_PARAM", "GITHUB_TOKEN_SECRET")
        key = _fetcher(env, "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_PARAM",
                       "GITHUB_APP_PRIVATE_KEY_SECRET")
        app_id = env.get("GITHUB_APP_ID") or None
        installation = env.get("GITHUB_APP_INSTALLATION_ID") or None
        if installation is not None and (not installation.isdigit() or key is None):
            raise ConfigError("GITHUB_APP_INSTALLATION_ID must be a number and needs "
                              "GITHUB_APP_ID with its private key")
        if (app_id is None) != (key is None):
            raise ConfigError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY(_PARAM|_SECRET) must be "
                              "set together")
        if token is None and key is None:
            raise ConfigError("GITHUB_TOKEN (or GITHUB_TOKEN_PARAM / GITHUB_TOKEN_SECRET) or "
                              "GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY is required to reconcile")
        return cls(token=token, app_id=app_id, app_key=key, installation_id=installation)

    def __call__(self, hook: HookRef) -> str:
        if hook.kind == "app":
            if self._app_key is None or self._app_id is None:
                raise GitHubAuthError("the App hook needs GITHUB_APP_ID and its private key")
            return f"Bearer {self._app_jwt()}"
        if self._token is not None:
            return f"token {self._token()}"
        if self._installation_id is not None and self._exchange is not None:
            return f"token {self._installation_token()}"
        raise GitHubAuthError(f"hook {hook.key} needs a token (GITHUB_TOKEN…) or an App "
                              "installation (GITHUB_APP_INSTALLATION_ID)")

    def _installation_token(self) -> str:
        now = self._clock()
        if self._installation is None or self._installation[1] - INSTALLATION_RENEW_S <= now:
            self._installation = self._exchange(str(self._installation_id), self._app_jwt())
        return self._installation[0]

    def _app_jwt(self) -> str:
        now = self._clock()
        if self._jwt is None or self._jwt[1] - JWT_RENEW_S <= now:
            from gidgethub.apps import get_jwt
            from jwt import PyJWTError

            try:
                token = get_jwt(app_id=str(self._app_id), private_key=self._app_key(),
                                expiration=JWT_LIFETIME_S - 60)
            except (PyJWTError, ValueError, TypeError) as exc:  # not a PEM RSA key; not the key
                raise GitHubAuthError(f"GitHub App private key unusable: "
                                      f"{type(exc).__name__}") from None
            # gidgethub backdates iat by 60 s for clock drift: exp = now - 60 + lifetime.
            self._jwt = (token, now + JWT_LIFETIME_S - 120)
        return self._jwt[0]
