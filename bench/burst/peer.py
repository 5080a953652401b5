"""A conventional Python peer built from well-kept parts: FastAPI served by uvicorn verifies
the signature and defers a procrastinate job (procrastinate: a job queue in PostgreSQL); a
procrastinate worker runs the job, which INSERTs the delivery. Answers 202 once the job is
deferred, 500 when deferring fails (FastAPI's answer to an unhandled error).

The job queue lives in the application database, as procrastinate's documentation sets it up
(one ``conninfo`` for the app): an application-database outage stops the queue too. That is
the comparison: Spillway keeps its queue apart from the database it protects.

The same concurrency cap as Spillway's edge: ``PEER_CONCURRENCY`` requests at once (10); one
that waits :data:`THROTTLE_AFTER_S` for its turn is answered 429. The worker runs
``PEER_CONCURRENCY`` jobs at once, each retried up to 5 times, 2 s apart
(:class:`procrastinate.RetryStrategy`). Like the naive handler's, its table has no unique key
on the delivery id, so a job run twice stores a duplicate.

Run as two child processes (:class:`bench.burst.systems.PeerSystem` starts them):
``python -m bench.burst.peer web PORT`` and ``python -m bench.burst.peer worker``, configured by
``PEER_DATABASE_URL``, ``PEER_SECRET`` and ``PEER_CONCURRENCY``; ``... schema`` creates the
queue's and the table's schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import procrastinate
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chalicelib.core.signature import verify_signature
from chalicelib.errors import SignatureInvalid

#: Seconds a request waits for its turn before it is answered 429 (as the local API Gateway).
THROTTLE_AFTER_S = 5.0

DATABASE_URL = os.environ.get("PEER_DATABASE_URL", "")
SECRET = os.environ.get("PEER_SECRET", "")
CONCURRENCY = int(os.environ.get("PEER_CONCURRENCY", "10"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS peer_webhooks (
    id          bigserial   PRIMARY KEY,
    delivery_id text        NOT NULL,
    event       text        NOT NULL,
    payload     jsonb       NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""

queue = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DATABASE_URL))
_writes: psycopg_pool.AsyncConnectionPool | None = None


@queue.task(name="store_delivery",
            retry=procrastinate.RetryStrategy(max_attempts=5, wait=2))
async def store_delivery(delivery_id: str, event: str, payload: str) -> None:
    """INSERT one delivery (the worker's job)."""
    global _writes
    if _writes is None:
        _writes = psycopg_pool.AsyncConnectionPool(DATABASE_URL, min_size=1,
                                                   max_size=CONCURRENCY, open=False)
        await _writes.open()
    async with _writes.connection() as conn:
        await conn.execute(
            "INSERT INTO peer_webhooks (delivery_id, event, payload) VALUES (%s, %s, %s::jsonb)",
            (delivery_id, event, payload))


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    async with queue.open_async():  # the pool the requests defer through
        yield


api = FastAPI(lifespan=_lifespan)
_turns = asyncio.Semaphore(CONCURRENCY)


@api.get("/healthz")
async def healthz() -> dict:
    return {"ok": True}


@api.post("/webhooks/github")
async def webhook(request: Request):
    try:
        await asyncio.wait_for(_turns.acquire(), THROTTLE_AFTER_S)
    except TimeoutError:
        return JSONResponse({"message": "Rate Exceeded."}, status_code=429)
    try:
        body = await request.body()
        try:
            verify_signature(SECRET, body, request.headers.get("x-hub-signature-256"))
        except SignatureInvalid as exc:
            return JSONResponse({"message": str(exc)}, status_code=401)
        delivery_id = request.headers.get("x-github-delivery", "")
        await store_delivery.defer_async(delivery_id=delivery_id,
                                         event=request.headers.get("x-github-event", ""),
                                         payload=body.decode("utf-8"))
        return JSONResponse({"queued": delivery_id}, status_code=202)
    finally:
        _turns.release()


async def _schema() -> None:
    async with queue.open_async():
        await queue.schema_manager.apply_schema_async()
        await queue.connector.execute_query_async(SCHEMA)


def main(argv: list[str]) -> int:
    """``web PORT`` | ``worker`` | ``schema`` (see the module docstring)."""
    if argv[:1] == ["web"] and len(argv) == 2:
        import uvicorn

        uvicorn.run(api, host="127.0.0.1", port=int(argv[1]), log_level="warning")
    elif argv == ["worker"]:
        queue.run_worker(concurrency=CONCURRENCY, install_signal_handlers=True)
    elif argv == ["schema"]:
        asyncio.run(_schema())
    else:
        print("usage: python -m bench.burst.peer web PORT | worker | schema", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
