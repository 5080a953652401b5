"""Verbs that lied or crashed (issue 19 item 5), as a user types them, with no stack running:
``db migrate`` against an unreachable database, ``--local db migrate`` reading the stack's
database, ``local --port`` on a port in use; and the env file's mode (item 4)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import psycopg
import pytest

from spillway.cli import main
from spillway.local.lifecycle import LOCAL_ENV_FILE, STACK_PID_KEY, write_private
from spillway.paths import ROOT

#: A port of this suite's range with nothing listening (the connection is refused at once).
CLOSED_PORT = 18601


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spillway.cli", *argv], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


def test_db_migrate_against_an_unreachable_database_is_one_line_and_exit_1():
    out = run_cli("db", "migrate", "--url",
                  f"postgresql://nobody:hunter2@127.0.0.1:{CLOSED_PORT}/nowhere")
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "cannot reach the app database" in out.stderr
    assert "hunter2" not in out.stderr


def test_db_migrate_with_a_url_that_is_no_url_exits_2():
    out = run_cli("db", "migrate", "--url", "this is = not = a url")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out


def test_local_db_migrate_migrates_the_stacks_database(pg_url, tmp_path, monkeypatch):
    """``--url`` was defaulted from DATABASE_URL before ``--local`` loaded the stack's
    environment: the stack's database was never the one migrated."""
    write_private(tmp_path / LOCAL_ENV_FILE, json.dumps(
        {"DATABASE_URL": pg_url, STACK_PID_KEY: str(os.getpid())}))
    monkeypatch.setenv("SPILLWAY_WORKDIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["--local", "db", "migrate"]) == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('webhook_deliveries')").fetchone()[0]


def test_local_on_a_port_in_use_exits_2_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("local", "--port", str(port), "--no-dashboard",
                      env={"SPILLWAY_WORKDIR": str(tmp_path)})
    assert out.returncode == 2, out
    assert f"127.0.0.1:{port} is in use" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing was started, nothing written


@pytest.mark.parametrize("old_mode", [None, 0o644])
def test_write_private_leaves_the_file_readable_by_its_owner_only(tmp_path, old_mode):
    path = tmp_path / LOCAL_ENV_FILE
    if old_mode is not None:  # a file an older version wrote world-readable
        path.write_text("{}")
        path.chmod(old_mode)
    write_private(path, '{"GITHUB_WEBHOOK_SECRET": "s"}')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"GITHUB_WEBHOOK_SECRET": "s"}
    assert [p.name for p in tmp_path.iterdir()] == [LOCAL_ENV_FILE]  # no temporary left
