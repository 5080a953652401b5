"""Flags shared by several verbs (``local``, ``demo``, ``loadtest``)."""

from __future__ import annotations

import argparse
import os


def add_backend(p: argparse.ArgumentParser) -> None:
    """``--backend aws|postgres`` (default ``$SPILLWAY_BACKEND``, else ``aws``)."""
    p.add_argument("--backend", choices=("aws", "postgres"),
                   default=os.environ.get("SPILLWAY_BACKEND", "aws"),
                   help="aws: SQS/DynamoDB/S3 (embedded moto server unless AWS_ENDPOINT_URL); "
                        "postgres: queues and state in PostgreSQL (default: %(default)s)")


def add_workdir(p: argparse.ArgumentParser) -> None:
    """``--workdir DIR`` (default ``$SPILLWAY_WORKDIR``, else the stack's ``.spillway``)."""
    p.add_argument("--workdir", default=os.environ.get("SPILLWAY_WORKDIR"),
                   help="where the embedded databases live (default: .spillway in the project)")
