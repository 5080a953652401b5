"""spillway.migrate against a real PostgreSQL: both URL forms, idempotent."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from spillway.migrate import migrate, migrations_dir, yoyo_url
from spillway.paths import MIGRATIONS

APP_TABLES = {"webhook_deliveries", "repositories", "users", "pull_requests", "issues",
              "reviews", "comments", "pushes", "commits", "stars"}


def as_uri(conninfo: str) -> str:
    """The libpq URI form of a conninfo, with the unix socket directory in ``?host=``
    (the form pgserver hands out)."""
    params = conninfo_to_dict(conninfo)
    user = quote(params.pop("user", "") or "", safe="")
    password = params.pop("password", None)
    dbname = params.pop("dbname", "")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    return f"postgresql://{auth}/{quote(dbname)}?{urlencode(params)}"


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def test_yoyo_url_forms():
    assert yoyo_url("dbname=x host=/tmp/s user=u") == \
        "postgresql+psycopg:///x?host=%2Ftmp%2Fs&user=u"
    assert yoyo_url("postgresql://u:p%40ss@/x?host=/tmp/s") == \
        "postgresql+psycopg:///x?host=%2Ftmp%2Fs&password=p%40ss&user=u"
    assert yoyo_url("postgresql://u@db.example:6432/x?sslmode=require") == \
        "postgresql+psycopg:///x?host=db.example&port=6432&sslmode=require&user=u"


def test_migrate_conninfo_is_idempotent(pg_url):
    applied = migrate(pg_url)
    assert applied == sorted(applied) and applied[0] == "app_0001_ledger"
    assert APP_TABLES <= tables(pg_url)
    assert migrate(pg_url) == []


def test_migrate_uri_form(pg_url):
    uri = as_uri(pg_url)
    assert uri.startswith("postgresql://") and "host=" in uri
    assert migrate(uri)
    assert migrate(pg_url) == []  # the same database, seen through the other form
    assert APP_TABLES <= tables(uri)


def test_unknown_folder():
    with pytest.raises(FileNotFoundError):
        migrations_dir("no-such-db")


@pytest.mark.skipif(not (MIGRATIONS / "queue").is_dir(), reason="no queue migrations")
def test_app_and_queue_share_one_database(pg_url):
    """DATABASE_URL and QUEUE_DATABASE_URL default to the same database: both folders apply
    there side by side (distinct ids, one yoyo history table)."""
    assert migrate(pg_url, "queue")
    assert migrate(pg_url, "app")
    assert migrate(pg_url, "queue") == [] and migrate(pg_url, "app") == []
