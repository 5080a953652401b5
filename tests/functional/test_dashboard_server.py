"""The dashboard's HTTP server over real sockets: the page, its static files, the JSON
snapshot, and nothing else (no path outside static/)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from spillway.dashboard.feeds import AckFeed
from spillway.dashboard.sampler import Sampler, Sources
from spillway.dashboard.server import serve
from spillway.dashboard.snapshot import LedgerReading


@pytest.fixture
def dashboard():
    acks = AckFeed()
    sampler = Sampler(Sources(ledger=lambda: LedgerReading(3), acks=acks,
                              labels={"backend": "postgres"}))
    acks.record(12.5, 202)
    sampler.sample_now()
    server = serve(sampler)
    yield server
    server.stop()


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_binds_to_loopback_on_a_free_port(dashboard):
    assert dashboard.url.startswith("http://127.0.0.1:") and dashboard.port > 0


def test_status_is_the_samplers_snapshot(dashboard):
    status, headers, body = get(dashboard.url + "api/status")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    snap = json.loads(body)
    assert snap["totals"] == {"accepted": 1, "rejected": 0, "stored": 3}
    assert snap["ack"]["p50_ms"] == 12.5 and snap["labels"] == {"backend": "postgres"}


def test_page_and_bundled_chart_library(dashboard):
    status, headers, page = get(dashboard.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    for ref in (b"/static/uPlot.iife.min.js", b"/static/dashboard.js", b"/static/uPlot.min.css"):
        assert ref in page
    status, headers, lib = get(dashboard.url + "static/uPlot.iife.min.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert lib.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert b"http://" not in page and b"https://" not in page  # nothing from a CDN


@pytest.mark.parametrize("path", ["static/../server.py", "static/%2e%2e/server.py",
                                  "static/uPlot.LICENSE", "static/", "api/other", "server.py"])
def test_nothing_else_is_served(dashboard, path):
    status, _, _ = get(dashboard.url + path)
    assert status == 404


def get_with_host(server, host: str | None) -> tuple[int, dict, bytes]:
    """GET /api/status over a raw connection with ``Host: host`` (None: no Host header)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("GET", "/api/status", skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_of_its_port_are_answered(dashboard, name):
    status, _, body = get_with_host(dashboard, f"{name}:{dashboard.port}")
    assert status == 200 and json.loads(body)["totals"]["stored"] == 3


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost", "127.0.0.1.evil.example:{port}", "", None])
def test_any_other_host_is_refused_with_a_json_error(dashboard, host):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: it must read nothing."""
    status, headers, body = get_with_host(
        dashboard, None if host is None else host.format(port=dashboard.port))
    assert status == 421 and headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert "misdirected" in error and "delivery" not in body.decode()


def test_the_module_without_a_stack_says_so_in_one_line(tmp_path):
    """``python -m spillway.dashboard`` with nothing to watch (no credentials, no --env-file):
    exit 2 and one line naming --env-file, not a traceback (found by a fresh user)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(SPILLWAY_BACKEND="aws", AWS_DEFAULT_REGION="us-east-1",
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    done = subprocess.run([sys.executable, "-m", "spillway.dashboard"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "--env-file" in done.stderr and len(done.stderr.strip().splitlines()) == 1
