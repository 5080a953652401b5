"""Concurrency manager, pure core (no I/O; clocks are epoch-second floats passed in).

* :mod:`.plan` / :mod:`.rules` / :mod:`.render` -- tier plans deriving every limit, the rules
  they keep, and their rendering for Chalice, ``app.py`` and ``infra/``.
* :mod:`.slots` (data in :mod:`.slot_state`) -- shared database slots as crash-safe leases
  with priority partitions; :mod:`.manager` -- acquire with the adaptive limit folded in.
* :mod:`.limit` -- the adaptive slot limit (AIMD, Gradient2).
* :mod:`.health` -- healthy / degraded / critical with reasons.
* :mod:`.routing` -- the light / heavy / batch target router.
* :mod:`.lanes` -- round-robin over a function's aliases, skipping unhealthy lanes.
"""
