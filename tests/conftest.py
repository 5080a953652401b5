"""Shared fixtures: real components only.

* ``moto_server`` -- a moto server in a child process, spoken to over real HTTP.
* ``pg``          -- an embedded PostgreSQL (pgserver), or the server in ``TEST_DATABASE_URL``.
* ``pg_url``      -- a fresh, empty database on that server for each test that asks.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid

import pytest

from spillway.local.embedded import FAKE_AWS_ENV, EmbeddedPostgres, MotoServer


@pytest.fixture(autouse=True)
def _environment_put_back():
    """``spillway --local <verb>`` run in-process loads the stack's environment into
    ``os.environ`` (as the CLI does for its one run); put the environment back after every
    test, so a later test never inherits another test's stack (its ``SPILLWAY_URL`` made a
    status snapshot look for that stack's dashboard)."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer.start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch):
    """Point boto3 at the moto server (``AWS_ENDPOINT_URL``) with fake credentials; resets moto
    state before the test."""
    moto_server.reset()
    for key, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return moto_server.url


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """The PostgreSQL server for the session: ``TEST_DATABASE_URL`` if set, else pgserver."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's basetemp: a concurrent pytest session resets that tree to mode 0700,
    # and pgserver's postgres runs as another user when we are root.
    data_dir = tempfile.mkdtemp(prefix="spillway-test-pg-")
    server = EmbeddedPostgres(data_dir).start()
    yield server
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pg_url(pg):
    """URL of a brand-new empty database, dropped after the test."""
    import psycopg

    admin_url = pg if isinstance(pg, str) else pg.url
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_dbname(admin_url, name)
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_dbname(url: str, name: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = name
    return make_conninfo(**params)
