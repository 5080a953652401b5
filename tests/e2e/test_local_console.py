"""``spillway local`` and ``spillway demo`` as a user runs them (the installed command line in a
child process), issue 19 items 3-5: the env file is 0600; ``--tier`` runs the plan's shared
slots; one line per delivery accepted and stored on stdout; the logs are JSON lines on stderr,
once each, INFO included; a killed application PostgreSQL comes back and every accepted
delivery is stored once; on the aws backend, stopping says how many queued deliveries the
emulator's memory loses; Ctrl-C during ``demo`` stops the sender and exits 130.

Waits are bounded by deadlines on what the output says, never measured."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests

from spillway.local.lifecycle import LOCAL_ENV_FILE, STACK_PID_KEY
from spillway.ops.ledger import ledger_counts_at
from spillway.paths import ROOT, SAMPLES
from spillway.replay import iter_payloads, replay
from tests.e2e.test_local_cleanup import workdir  # noqa: F401

pytestmark = pytest.mark.e2e

#: Seconds the stack may take to start, recover or stop on 2 busy cores (deadlines).
WITHIN_S = 240
OUTSIDE_SERVERS = ("DATABASE_URL", "QUEUE_DATABASE_URL", "AWS_ENDPOINT_URL", "SPILLWAY_URL",
                   "SPILLWAY_TIER")


class Console:
    """A ``spillway`` child process with its stdout and stderr lines collected as they come."""

    def __init__(self, workdir: Path, *argv: str):  # noqa: F811
        env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS}
        env["SPILLWAY_WORKDIR"] = str(workdir)
        self.workdir = workdir
        self.proc = subprocess.Popen([sys.executable, "-m", "spillway.cli", *argv], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)  # its own group, as in a terminal
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out),
                                               (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for(self, what: str, check, timeout_s: float = WITHIN_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.proc.kill()
        pytest.fail(f"gave up waiting for {what}:\n" + "\n".join(self.out[-30:] + self.err[-30:]))

    def env(self) -> dict[str, str]:
        """The running stack's env file (once its pid is this process's)."""
        def owned():
            try:
                env = json.loads((self.workdir / LOCAL_ENV_FILE).read_text())
            except (OSError, ValueError):
                return None
            return env if env.get(STACK_PID_KEY) == str(self.proc.pid) else None

        return self.wait_for("the stack to come up", owned)

    def finish(self, sig: int = signal.SIGTERM, group: bool = False) -> int:
        """Send ``sig`` to the process (``group``: to its whole process group, as a terminal's
        Ctrl-C does) and wait for its exit status."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(WITHIN_S)
        for reader in self._readers:
            reader.join(10)
        return code


def send(env: dict[str, str], folders=("issues", "push")) -> list[str]:
    payloads = list(iter_payloads([SAMPLES / f for f in folders]))
    results = replay(payloads, env["SPILLWAY_URL"], env["GITHUB_WEBHOOK_SECRET"], concurrency=4)
    assert {r.status for r in results} == {202}, [r.response for r in results][:3]
    return [r.delivery_id for r in results]


def test_local_stack_reads_like_lambda_and_survives_a_killed_postgres(workdir):  # noqa: F811
    console = Console(workdir, "local", "--backend", "postgres", "--no-dashboard",
                      "--tier", "pro")
    try:
        env = console.env()
        assert stat.S_IMODE((workdir / LOCAL_ENV_FILE).stat().st_mode) == 0o600
        assert (env["SPILLWAY_TIER"], env["SLOTS_ENABLED"]) == ("pro", "true")

        first = send(env)
        for delivery in first:
            console.wait_for(f"the stored line of {delivery}", lambda d=delivery: any(
                "stored" in line and d in line for line in console.out))
        assert all(any(line.split()[:2] == ["accepted", "202"] and d in line
                       for line in console.out) for d in first)

        refused = str(uuid.uuid4())  # an INFO log line of the edge, printed once, as JSON
        reply = requests.post(env["SPILLWAY_URL"], data=b"{}", timeout=30, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": refused,
            "X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"})
        assert reply.status_code == 401
        console.wait_for("the rejection's log line", lambda: any(
            refused in line and "rejected a delivery" in line for line in console.err))
        logged = [json.loads(line) for line in console.err if refused in line]
        assert [(r["level"], r["correlation_id"]) for r in logged] == [("INFO", refused)]
        assert not any("rejected a delivery" in line for line in console.out)

        postmaster = int((workdir / "pg-app" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        second = send(env)  # the edge keeps accepting; the workers hold back meanwhile
        console.wait_for("the restart", lambda: any(
            "application PostgreSQL is back" in line for line in console.out))
        accepted = first + second

        def all_stored():
            try:
                return len(ledger_counts_at(env["DATABASE_URL"], accepted).per_delivery) \
                    == len(accepted)
            except Exception:  # noqa: BLE001 -- not back yet
                return False

        console.wait_for("every accepted delivery stored", all_stored)
        counts = ledger_counts_at(env["DATABASE_URL"], accepted)
        assert set(counts.per_delivery.values()) == {1}  # each once
        assert any("is gone" in line for line in console.err)  # the WARNING log line
    finally:
        code = console.finish()
    assert code == 0, console.out[-10:] + console.err[-10:]


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c-to-the-group"])
def test_stopping_the_aws_backend_says_what_the_emulator_loses(workdir, stop):  # noqa: F811
    """Also when Ctrl-C reaches every process of the group at once (a terminal): the emulator
    must not die before the stack has counted what it holds."""
    console = Console(workdir, "local", "--backend", "aws", "--no-dashboard", "--quiet")
    try:
        env = console.env()
        forced = subprocess.run(
            [sys.executable, "-m", "spillway.cli", "--local", "breaker", "open", "postgres",
             "--reason", "e2e: hold every delivery back"], cwd=ROOT, text=True,
            capture_output=True, timeout=120,
            env={**{k: v for k, v in os.environ.items() if k not in OUTSIDE_SERVERS},
                 "SPILLWAY_WORKDIR": str(workdir)})
        assert forced.returncode == 0, forced.stderr
        sent = send(env, folders=("issues",))
    finally:
        code = (console.finish() if stop == "sigterm"
                else console.finish(signal.SIGINT, group=True))
    assert code in ((0,) if stop == "sigterm" else (0, 130)), code
    assert not any(d in line for d in sent for line in console.out)  # --quiet
    (loss,) = [line for line in console.out if "loses what it holds in memory" in line]
    queued = int(re.search(r"(\d+) queued deliveries", loss).group(1))
    assert queued == len(sent)  # held back by the forced-open breaker, lost with moto
    assert int(re.search(r"(\d+) audit records", loss).group(1)) >= 1  # the breaker force
    assert console.out.index(loss) < next(i for i, line in enumerate(console.out)
                                          if line.startswith("Stopped:"))


def test_ctrl_c_during_demo_stops_the_sender_and_exits_130(workdir):  # noqa: F811
    console = Console(workdir, "demo", "--backend", "postgres", "--no-dashboard",
                      "--burst", "200", "--workdir", str(workdir))
    progress = re.compile(r"sent (\d+)/(\d+)")
    console.wait_for("the first progress line", lambda: any(
        progress.search(line) for line in console.err))
    code = console.finish(signal.SIGINT)
    assert code == 130, console.err[-20:]
    assert any("interrupted; stopped the sender" in line for line in console.err)
    assert not any("Traceback" in line for line in console.err + console.out)
    sent = [tuple(map(int, m.groups())) for m in map(progress.search, console.err) if m]
    assert sent and all(n < total for n, total in sent)  # the rest was never sent
