"""The single-node ("postgres") backend behind :mod:`chalicelib.ports`: connection pool and
error translation (``pool``), queues, shared state, claim-check blobs and the Powertools
idempotency persistence layer, all in the queue database (``migrations/queue``).

May import: psycopg/psycopg_pool, Powertools' idempotency base classes, :mod:`chalicelib.core`,
:mod:`chalicelib.ports`, :mod:`chalicelib.errors`. Never the AWS adapters, the wiring or
``spillway``. The application database is written by :mod:`chalicelib.appdb`, not here.
"""
