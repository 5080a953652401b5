"""AWS adapters behind :mod:`chalicelib.ports`: SQS queues, DynamoDB state, S3 claim checks,
and the one translation of botocore errors into :mod:`chalicelib.errors` (``errors``).

May import: boto3/botocore, :mod:`chalicelib.core`, :mod:`chalicelib.ports`,
:mod:`chalicelib.errors`. Never the PostgreSQL adapters, the wiring or ``spillway``.
"""
