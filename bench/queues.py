"""Queue throughput, moto-backed SQS vs the PostgreSQL queue, in one run.

``python -m bench.queues [--messages N]`` starts a moto server (provisioned from
``infra/template.yaml``) and an embedded PostgreSQL (``migrations/queue``), then on each backend
cycles N messages through send -> receive -> delete in rounds of 10 (ten single sends, receives
until the ten are in hand, one batch delete), so queue depth stays at most 10. Prints messages
per second for each backend and the ratio postgres / moto. A measurement, not a test: numbers
depend on the machine; moto is an emulator, so its rate says nothing about real SQS.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

BATCH = 10


def cycle(queue: Any, messages: int, name: str = "high") -> float:
    """Send, receive and delete ``messages`` messages in rounds of :data:`BATCH`; returns the
    wall time in seconds."""
    body = '{"action": "opened", "number": 1, "pad": "' + "x" * 200 + '"}'
    start = time.perf_counter()
    done = 0
    while done < messages:
        n = min(BATCH, messages - done)
        for _ in range(n):
            queue.send(name, body, {"priority": name})
        handles: list[str] = []
        while len(handles) < n:
            handles += [m.receipt_handle
                        for m in queue.receive(name, max_messages=n - len(handles))]
        queue.delete(name, handles)
        done += n
    return time.perf_counter() - start


def run_aws(messages: int) -> float:
    import boto3

    from chalicelib.adapters.aws.sqs_queue import SqsQueue
    from spillway.deploy import provision
    from spillway.local.embedded import FAKE_AWS_ENV, MotoServer

    server = MotoServer.start()
    try:
        os.environ.update(FAKE_AWS_ENV)
        os.environ["AWS_ENDPOINT_URL"] = server.url
        provision("bench", max_receive_count=5, cfn=boto3.client("cloudformation"))
        queue = SqsQueue.from_prefix(boto3.client("sqs"), "bench")
        return cycle(queue, messages)
    finally:
        server.stop()


def run_postgres(messages: int) -> float:
    from psycopg_pool import ConnectionPool

    from chalicelib.adapters.postgres.queue import PgQueue
    from spillway.local.embedded import EmbeddedPostgres
    from spillway.migrate import migrate

    server = EmbeddedPostgres(tempfile.mkdtemp(prefix="spillway-bench-pg-")).start()
    try:
        url = server.create_database("bench_queue")
        migrate(url, "queue")
        with ConnectionPool(url, min_size=1, max_size=2, open=True,
                            check=ConnectionPool.check_connection) as pool:
            return cycle(PgQueue(pool), messages)
    finally:
        server.cleanup()


def report(name: str, messages: int, run: Callable[[int], float]) -> float:
    seconds = run(messages)
    rate = messages / seconds
    print(f"{name:<9} {messages:>6} messages  {seconds:7.2f} s  {rate:9.1f} msg/s", flush=True)
    return rate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.queues", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000,
                        help="messages per backend (default 1000)")
    args = parser.parse_args(argv)
    print("send -> receive -> delete, rounds of 10, queue depth <= 10")
    moto = report("moto SQS", args.messages, run_aws)
    pg = report("postgres", args.messages, run_postgres)
    print(f"ratio postgres / moto: {pg / moto:.1f}x")


if __name__ == "__main__":
    main()
