"""``cold_start_ratio``: a fresh process importing ``app.py`` and handling its first delivery ÷ a
fresh process running ``import chalice, boto3`` (what any Chalice app on AWS imports).

Each run is a new Python interpreter (``subprocess``) that times itself with
:func:`time.perf_counter` from its first statement, so interpreter start-up, the same for both,
is left out of both; each also reports its CPU time (``cpu_ratio`` in the detail). The first
delivery goes through :func:`chalicelib.wiring.handle_webhook`,
as the route of ``app.py`` calls it, on the moto-backed stack of ``bench.aws_requests`` (so it
includes creating the boto3 clients, reading the secret and the first SQS and DynamoDB calls,
on loopback). Runs of the two alternate; the figure is the median of the per-run ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.corpus import ROOT, SignedDelivery, renamed
from bench.report import Figure

_APP = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import app
from chalicelib import wiring
d = json.load(open(sys.argv[1]))
r = wiring.handle_webhook(d["headers"], d["body"].encode("utf-8"), None)
t1, c1 = time.perf_counter(), time.process_time()
assert r.status == 202, (r.status, r.body)
print(t1 - t0, c1 - c0)
"""

_BASELINE = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import chalice, boto3
print(time.perf_counter() - t0, time.process_time() - c0)
"""


def _child(code: str, env: dict[str, str], *args: str) -> tuple[float, float]:
    """``(wall_s, cpu_s)`` the child measured itself."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr.strip()[-2000:]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def run(delivery: SignedDelivery, env: dict[str, str], *, runs: int = 5) -> Figure:
    """Measure with ``delivery`` (a new GUID each run) on the stack of ``env``."""
    child_env = {**os.environ, **env, "POWERTOOLS_METRICS_DISABLED": "true"}
    app_s, base_s, app_cpu, base_cpu = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="spillway-bench-cold-") as tmp:
        for i in range(runs):
            print(f"  cold start: run {i + 1}/{runs}", file=sys.stderr, flush=True)
            d = renamed(delivery)
            path = Path(tmp) / f"delivery-{i}.json"
            path.write_text(json.dumps({"headers": d.headers,
                                        "body": d.body.decode("utf-8")}))
            for walls, cpus, measured in ((app_s, app_cpu, _child(_APP, child_env, str(path))),
                                          (base_s, base_cpu, _child(_BASELINE, child_env))):
                walls.append(measured[0])
                cpus.append(measured[1])
    ratios = [a / b for a, b in zip(app_s, base_s, strict=True)]
    cpu_ratios = [a / b for a, b in zip(app_cpu, base_cpu, strict=True)]
    return Figure("cold_start_ratio", statistics.median(ratios),
                  f"import chalice, boto3 = 1, {statistics.median(base_s) * 1000:.0f} ms", "x",
                  {"app_first_delivery_ms": statistics.median(app_s) * 1000,
                   "import_chalice_boto3_ms": statistics.median(base_s) * 1000, "runs": runs,
                   "ratios": [round(r, 3) for r in ratios],
                   # CPU time of each child: steadier than wall time on a loaded machine, but
                   # blind to waits (moto's answers, disk), which a cold start also spends.
                   "cpu_ratio": statistics.median(cpu_ratios),
                   "cpu_ratios": [round(r, 3) for r in cpu_ratios]})
