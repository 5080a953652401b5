"""Reconciler settings and credentials: validated once, errors name the key, secrets unseen."""

from __future__ import annotations

import pytest

from chalicelib.adapters.github.auth import GitHubAuth
from chalicelib.adapters.github.client import GitHubAuthError, HookRef
from chalicelib.errors import ConfigError
from chalicelib.reconcile.settings import ReconcileSettings


def test_hooks_parse_and_round_trip_to_their_key():
    settings = ReconcileSettings.from_env({
        "GITHUB_HOOKS": "repo:octo/spill:77, org:octo:12,app", "RECONCILE_COOLDOWN_S": "60"})
    assert [h.key for h in settings.hooks] == ["repo:octo/spill:77", "org:octo:12", "app"]
    assert [h.path for h in settings.hooks] == ["/repos/octo/spill/hooks/77/deliveries",
                                                "/orgs/octo/hooks/12/deliveries",
                                                "/app/hook/deliveries"]
    assert settings.options.cooldown_s == 60 and settings.options.window_s == 3 * 24 * 3600


@pytest.mark.parametrize("key,value", [
    ("GITHUB_HOOKS", "repo:octo:77"), ("GITHUB_HOOKS", "org:octo/x:1"), ("GITHUB_HOOKS", "app:abc"),
    ("RECONCILE_WINDOW_S", "999999999"), ("RECONCILE_MAX_REQUESTS", "0"),
    ("GITHUB_API_URL", "ftp://x"),
])
def test_bad_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        ReconcileSettings.from_env({key: value})


def test_credentials_come_from_the_environment_and_never_show():
    auth = GitHubAuth.from_env({"GITHUB_TOKEN": "ghp_supersecret"})
    assert auth(HookRef.parse("repo:o/r:1")) == "token ghp_supersecret"
    assert "supersecret" not in repr(auth)
    with pytest.raises(GitHubAuthError, match="App"):
        auth(HookRef.parse("app"))
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        GitHubAuth.from_env({})
    with pytest.raises(ConfigError, match="GITHUB_APP_ID"):
        GitHubAuth.from_env({"GITHUB_APP_ID": "1"})
    with pytest.raises(ConfigError, match="GITHUB_APP_INSTALLATION_ID"):
        GitHubAuth.from_env({"GITHUB_TOKEN": "t", "GITHUB_APP_INSTALLATION_ID": "7"})
    unbound = GitHubAuth.from_env({"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": "k",
                                   "GITHUB_APP_INSTALLATION_ID": "7"})
    with pytest.raises(GitHubAuthError, match="GITHUB_APP_INSTALLATION_ID"):
        unbound(HookRef.parse("repo:o/r:1"))


def test_an_unusable_app_key_is_named_without_its_content():
    auth = GitHubAuth(app_id="1", app_key=lambda: "not-a-pem-secret")
    with pytest.raises(GitHubAuthError) as err:
        auth(HookRef.parse("app"))
    assert "not-a-pem-secret" not in str(err.value)
