"""LocalStack on the host, no Docker: the server of the second emulator tier.

``localstack-core`` 2026.3.0 runs from its own venv (``.localstack/venv``, Python >= 3.12, made
by ``scripts/localstack-setup``) as ``python -m localstack.runtime.main`` in a new process
group; the tests speak to it over HTTP from the project's ``.venv``. DynamoDB is DynamoDB Local
(a ``java`` child of the server), laid out by the setup script where LocalStack's installer
looks for it, so nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from spillway.local.embedded import FAKE_AWS_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]
SETUP_DIR = ROOT / ".localstack"
VENV_PYTHON = SETUP_DIR / "venv" / "bin" / "python"
LIB_DIR = SETUP_DIR / "lib"
STAMP = SETUP_DIR / ".installed"
SETUP_ERROR = SETUP_DIR / "setup-error"
#: LocalStack's FILESYSTEM_ROOT (its var/lib/localstack, cache, logs): the project's work folder.
WORK_DIR = ROOT / ".spillway" / "localstack"
#: What the tier's tests touch; SNS for the template's alarm topic.
SERVICES = "cloudformation,sqs,dynamodb,s3,cloudwatch,ssm,iam,sts,logs,sns"
#: LocalStack's account id in ARNs (the same as moto's).
ACCOUNT_ID = "000000000000"


class LocalStackUnavailable(RuntimeError):
    """LocalStack cannot start here; the message names what is missing."""


def missing_setup() -> str | None:
    """Why the setup is incomplete (text naming what is missing), or None when it is ready."""
    if SETUP_ERROR.is_file():
        return f"scripts/localstack-setup failed: {SETUP_ERROR.read_text().strip()}"
    if not VENV_PYTHON.is_file() or not STAMP.is_file():
        return (f"no LocalStack venv at {VENV_PYTHON.parent.parent} (run scripts/localstack-setup"
                " or make test-localstack)")
    jar = LIB_DIR / "dynamodb-local" / "2" / "DynamoDBLocal.jar"
    if not jar.exists():
        return f"DynamoDB Local jar missing at {jar} (run scripts/localstack-setup)"
    return None


@dataclass
class LocalStackServer:
    """A running LocalStack. ``url`` is the gateway endpoint (every service on one port);
    ``log_path`` its combined stdout/stderr."""

    url: str
    process: subprocess.Popen
    log_path: Path
    start_s: float  # seconds from spawn to every service in SERVICES answering "available"

    @classmethod
    def start(cls, timeout_s: float = 90.0) -> LocalStackServer:
        """Start LocalStack on a free port and wait for its health endpoint to list every
        service of :data:`SERVICES` as available. Raises :class:`LocalStackUnavailable` (with
        the reason and the log's tail) when the setup is missing, the process exits, or
        ``timeout_s`` seconds pass."""
        reason = missing_setup()
        if reason:
            raise LocalStackUnavailable(reason)
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        # config.dirs.static_libs on the host: DynamoDB Local and java/21 (the setup's lib/).
        static_libs = WORK_DIR / "usr" / "lib" / "localstack"
        static_libs.parent.mkdir(parents=True, exist_ok=True)
        if static_libs.is_symlink() or static_libs.exists():
            static_libs.unlink()
        static_libs.symlink_to(LIB_DIR)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            **FAKE_AWS_ENV,
            "OVERRIDE_IN_DOCKER": "0",  # we are on the host, not in LocalStack's image
            "FILESYSTEM_ROOT": str(WORK_DIR),
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "SERVICES": SERVICES,
            "EAGER_SERVICE_LOADING": "1",  # load providers (and DynamoDB Local) before "ready"
            "DNS_ADDRESS": "0",  # no DNS server on port 53
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",  # no analytics calls
            "LOCALSTACK_TELEMETRY": "0",
        }
        log_path = WORK_DIR / "localstack.log"
        t0 = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen([str(VENV_PYTHON), "-m", "localstack.runtime.main"],
                                    stdout=log, stderr=subprocess.STDOUT, env=env,
                                    cwd=str(WORK_DIR), start_new_session=True)
        server = cls(url=f"http://127.0.0.1:{port}", process=proc, log_path=log_path,
                     start_s=0.0)
        deadline = t0 + timeout_s
        wanted = set(SERVICES.split(","))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LocalStackUnavailable(
                    f"LocalStack exited with {proc.returncode}: {server.log_tail()}")
            health = server.health()
            ready = {name for name, state in health.get("services", {}).items()
                     if state in ("available", "running")}
            if wanted <= ready:
                server.start_s = time.monotonic() - t0
                return server
            time.sleep(0.25)
        server.stop()
        raise LocalStackUnavailable(
            f"LocalStack not ready within {timeout_s} s on {server.url}: {server.log_tail()}")

    def health(self) -> dict:
        """``GET /_localstack/health`` as a dict ({} while the gateway does not answer)."""
        try:
            with urllib.request.urlopen(self.url + "/_localstack/health", timeout=2) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError):
            return {}

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:])

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the server's process group (LocalStack and DynamoDB Local's java), then
        SIGKILL what is left after ``timeout_s`` seconds."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # The group outlives its leader when a child (java) ignores SIGTERM.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
