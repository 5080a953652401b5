"""Flags shared by several verbs (``local``, ``demo``, ``loadtest``), and :func:`command_hint`
for the follow-up commands verbs print."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_backend(p: argparse.ArgumentParser) -> None:
    """``--backend aws|postgres`` (default ``$SPILLWAY_BACKEND``, else ``aws``)."""
    p.add_argument("--backend", choices=("aws", "postgres"),
                   default=os.environ.get("SPILLWAY_BACKEND", "aws"),
                   help="aws: SQS/DynamoDB/S3 (embedded moto server unless AWS_ENDPOINT_URL); "
                        "postgres: queues and state in PostgreSQL (default: %(default)s)")


def add_workdir(p: argparse.ArgumentParser) -> None:
    """``--workdir DIR`` (default ``$SPILLWAY_WORKDIR``, else the stack's ``.spillway``)."""
    p.add_argument("--workdir", default=os.environ.get("SPILLWAY_WORKDIR"), type=_workdir,
                   help="where the embedded databases live (default: .spillway in the project)")


def _workdir(value: str) -> str:
    """``value`` if it is a folder or can be made one (created later, by the stack);
    argparse.ArgumentTypeError otherwise (a file in the way, a parent that cannot hold it)."""
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} exists and is not a folder")
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if not path.exists() and (parent is None or not parent.is_dir()
                              or not os.access(parent, os.W_OK | os.X_OK)):
        raise argparse.ArgumentTypeError(f"{value!r} cannot be created here")
    return value


def add_dashboard(p: argparse.ArgumentParser) -> None:
    """``--dashboard-port N`` and ``--no-dashboard``; :func:`dashboard_port` reads them."""
    p.add_argument("--dashboard-port", type=int, default=0, metavar="N",
                   help="serve the live dashboard on http://127.0.0.1:N (default: any free port)")
    p.add_argument("--no-dashboard", action="store_true", help="do not serve the live dashboard")


def dashboard_port(args: argparse.Namespace) -> int | None:
    """The port for ``spillway.dashboard.local.attach`` (None: no dashboard)."""
    return None if args.no_dashboard else args.dashboard_port


def command_hint(args: argparse.Namespace, verb: str) -> str:
    """``verb`` (e.g. ``"redrive --reason ..."``) as a command line to copy: the running
    executable (:func:`spillway.local.lifecycle.spillway_executable`), plus ``--local`` when
    this command itself ran with ``--local``, so a printed hint works when followed as is."""
    from spillway.local.lifecycle import spillway_executable

    local = " --local" if getattr(args, "local", False) else ""
    return f"{spillway_executable()}{local} {verb}"
