"""Operator logic over the ports, without argparse: what ``spillway`` verbs, the demo, the
load test and the tests call to inspect or steer a running system (breaker verbs, status,
ledger accounting). Never shipped to Lambda.

May import: :mod:`chalicelib` (ports, adapters, wiring, core), the standard library. Never
argparse or printing: the CLI in ``spillway/`` formats what these return.
"""
