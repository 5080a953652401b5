"""The verbs of the ``spillway`` command line, one module each.

Every module has the same shape: ``register(subparsers)`` adds its parser (and subcommands) to
the top-level ``add_subparsers()`` object and sets ``func(args) -> int`` (the exit status) on
each; optional keyword-only arguments of ``register`` inject what tests replace (a store, a
pool, a clock). A module parses flags, calls the job and prints; the job itself lives in
``spillway`` (demo, replay, loadtest, deploy, migrate, housekeeping), ``spillway.local`` or
``chalicelib.wiring``. A user's mistake is raised as :class:`chalicelib.errors.ConfigError`;
``spillway.cli`` turns it into a message and exit status 2.

May import ``chalicelib``, ``spillway.*`` and ``spillway.local``; nothing imports this package
but ``spillway.cli`` and the tests.
"""
