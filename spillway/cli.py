"""spillway: the operator's command line (never shipped to Lambda).

Commands: ``local`` (run the local stack), ``replay`` (send payloads as signed deliveries),
``demo`` (the main job end to end), ``db migrate|housekeep``, ``status``, ``ledger`` (what was
stored), ``dlq`` (what waits in the dead-letter queue), ``redrive``,
``promote``, ``audit``, ``breaker ...`` (runbook verbs for the shared circuit breaker),
``lanes ...`` (worker lanes), ``loadtest``, ``deploy``, ``cost``, ``reconcile``, ``alarms``,
``tier ...`` (tier plans and lifts), ``bench burst`` (the side-by-side benchmark). Each lives in its own module under ``spillway.commands``; this one builds the
top-level parser, dispatches, and reports errors: a user's mistake
(:class:`~chalicelib.errors.ConfigError`) exits 2, any other Spillway error 1, with a message
and no traceback.

Conventions every verb keeps: ``--json`` puts exactly one JSON document on stdout and
everything else (progress, summaries, the output of child processes) on stderr, so
``spillway VERB --json | python -m json.tool`` works; ``--local`` is offered only by verbs that
talk to a running stack (:data:`WITHOUT_LOCAL` lists the others, which refuse it with exit 2);
``spillway --version`` prints the installed version.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from spillway.commands import (
    alarms,
    audit,
    bench,
    breaker,
    capacity,
    cost,
    db,
    demo,
    deploy,
    dlq,
    lanes,
    ledger,
    loadtest,
    local,
    promote,
    reconcile,
    redrive,
    replay,
    slots,
    status,
    tier,
)

COMMANDS = (local, replay, demo, db, status, ledger, dlq, redrive, promote, breaker, lanes, loadtest,
            deploy, cost, reconcile, audit, alarms, tier, bench, slots, capacity)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spillway", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"spillway {_version()}",
                        help="print the installed version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--local", action="store_true",
                        help="talk to the running `spillway local` stack (reads its environment "
                             "from .spillway/local-env.json, or --workdir's)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    _accept_local_anywhere(sub)
    return parser


#: Verbs that talk to no running stack (pure computation, AWS itself, or they start their own
#: systems): no ``--local`` after them, and ``spillway --local VERB`` is refused (exit 2),
#: where it would read as if it changed something.
WITHOUT_LOCAL = frozenset({"tier plan", "tier merge-template", "tier docs", "bench burst", "cost",
                           "local", "demo", "deploy", "loadtest"})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spillway")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _accept_local_anywhere(subparsers: argparse._SubParsersAction, path: str = "") -> None:
    """``--local`` after the verb too (``spillway status --local``): every (sub)command parser
    but :data:`WITHOUT_LOCAL`'s gets it, defaulting to "not given" so that a ``--local`` before
    the verb still counts."""
    for name, parser in subparsers.choices.items():
        verb = f"{path} {name}".strip()
        if verb in WITHOUT_LOCAL:
            continue
        if "--local" not in parser._option_string_actions:
            parser.add_argument("--local", action="store_true", default=argparse.SUPPRESS,
                                help="talk to the running `spillway local` stack (as "
                                     "`spillway --local VERB`)")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_local_anywhere(action, verb)
            elif action.option_strings == ["--json"] and not action.help:
                action.help = "print JSON instead of text"  # the same meaning on every verb


def _command_name(args: argparse.Namespace) -> str:
    """``"db migrate"``, ``"breaker open"``, ``"status"``: the verbs the user typed."""
    return " ".join(str(v) for k, v in vars(args).items()
                    if (k == "command" or k.endswith("_command")) and v)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "json", False):
        with _json_stdout():
            return _run(args)
    return _run(args)


@contextlib.contextmanager
def _json_stdout():
    """While a ``--json`` verb runs, file descriptor 1 is stderr, so whatever else writes to
    stdout -- ``print``, loggers, child processes (the emulator, the database, Locust) -- lands
    on stderr, and only :func:`spillway.json_output.print_json` reaches the real stdout:
    the verb's one JSON document. Restored afterwards. Left alone when ``sys.stdout`` is not
    file descriptor 1 (a test capturing it)."""
    from spillway import json_output as options

    try:
        is_fd1 = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):
        is_fd1 = False
    if not is_fd1:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    options.json_out = os.fdopen(os.dup(saved), "w", encoding=sys.stdout.encoding)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        try:
            options.json_out.close()
        except OSError:
            pass
        options.json_out = None
        os.dup2(saved, 1)
        os.close(saved)


def _run(args: argparse.Namespace) -> int:
    from chalicelib.errors import ConfigError, SpillwayError

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # the breaker and the demo report outages; the pool's retries are noise
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        if args.local and _command_name(args) in WITHOUT_LOCAL:
            raise ConfigError(f"--local means nothing for `{_command_name(args)}`: it talks to "
                              "no running local stack")
        if args.local:
            from spillway.local.lifecycle import read_local_env

            os.environ.update(read_local_env(getattr(args, "workdir", None)))
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"spillway {_command_name(args)}: {exc}", file=sys.stderr)
        return 2
    except SpillwayError as exc:
        hint = ""
        if "credentials" in str(exc).lower() or "endpoint" in str(exc).lower():
            from spillway.local.lifecycle import spillway_executable

            hint = (f" (for the local stack use `{spillway_executable()} --local ...`; for AWS "
                    "configure credentials and SPILLWAY_BACKEND)")
        print(f"spillway: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `spillway ... | head`: the reader left; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
