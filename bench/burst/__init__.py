"""``spillway bench burst``: Spillway, the handler most teams write first, and a conventional
Python peer (FastAPI + uvicorn + procrastinate) under the same signed burst, the same edge
concurrency cap and the same 20 s application-database outage, one after the other in one run.

Modules: ``send`` (the paced, signed sender and its acknowledgements), ``naive`` (verify and
INSERT inside the request), ``peer`` (FastAPI + procrastinate, run as two child processes),
``systems`` (the three systems behind one small interface), ``ledger`` (what each system's
database holds per delivery id), ``summary`` (pure: the per-system figures), ``plot`` (one PNG),
``run`` (the whole benchmark).
"""
