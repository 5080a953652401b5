"""Spillway's local Lambda runtime: API Gateway + reserved concurrency for the edge, and SQS
event source mappings for the workers, driving the unchanged Chalice handlers of ``app.py``.

Written here (not taken from a library) because it is part of what Spillway exists for:
Chalice's own ``chalice local`` serves routes from one shared app object (its
``current_request`` is a single attribute, so concurrent requests would read each other's
bodies) and runs no SQS event sources at all.
"""
