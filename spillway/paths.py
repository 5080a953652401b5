"""Where things are in this repository: the one place that computes its root.

``ROOT`` is the checkout (the folder holding ``app.py``); the other names are files and folders
the operator tooling reads from it. Imports nothing of Spillway's own, so anything may import it.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (this file is ``<ROOT>/spillway/paths.py``).
ROOT = Path(__file__).resolve().parents[1]
#: The Chalice app whose handlers the local stack runs.
APP_FILE = ROOT / "app.py"
#: The CloudFormation template of the infra stack (queues, DLQ, tables, bucket, alarms).
INFRA_TEMPLATE = ROOT / "infra" / "template.yaml"
#: ``migrations/<which>/``: yoyo SQL migrations per database (``app``, ``queue``).
MIGRATIONS = ROOT / "migrations"
#: The bundled sample deliveries (``<event>/<name>.json`` and ``MANIFEST.tsv``).
SAMPLES = ROOT / "spillway" / "samples"
#: Default workdir of the local stack (embedded databases' data, ``local-env.json``).
WORKDIR = ROOT / ".spillway"
