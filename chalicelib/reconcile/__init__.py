"""Reconciling with GitHub's delivery log (what runs in the scheduled Lambda function).

``runner`` (one run over the configured hooks: page, decide with
:mod:`chalicelib.core.reconcile`, redeliver, record), ``known`` (which GUIDs Spillway already
has: the ledger, the edge's dedup records, the postgres DLQ), ``store`` (cursors, cool-downs
and the audit of runs in the application database), ``settings`` (``GITHUB_HOOKS``,
``RECONCILE_*``), ``wiring`` (builds a runner from the environment).

May import: ``chalicelib.core``, ``chalicelib.adapters``, ``chalicelib.errors``,
``chalicelib.settings``, ``chalicelib.wiring``; never ``spillway``.
"""
