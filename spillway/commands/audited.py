"""Flags and parsing shared by the audited verbs (``breaker``, ``promote``, ``redrive``,
``audit``): ``--by`` (default: the OS user), ``--reason``, ``--since``, rates; and the
wiring's state store the audit trail lives in."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import re

from chalicelib.ports import StatePort

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def whoami() -> str:
    """The OS user running the command (``getpass.getuser()``), or ``"unknown"``."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def add_who_why(p: argparse.ArgumentParser, *, reason_required: bool = True) -> None:
    """``--reason TEXT`` (required unless told) and ``--by WHO`` (default: the OS user)."""
    p.add_argument("--reason", required=reason_required,
                   help="why (kept in the audit record)")
    p.add_argument("--by", default=whoami(), help="who (default: the current user)")


def parse_duration(text: str) -> float:
    """``"30s"`` -> 30.0, ``"5m"`` -> 300.0, ``"1h"`` -> 3600.0, ``"90"`` -> 90.0 (seconds).
    Raises argparse.ArgumentTypeError for anything else or a value <= 0."""
    raw = text.strip().lower()
    unit = raw[-1] if raw and raw[-1] in UNITS else "s"
    number = raw[:-1] if raw and raw[-1] in UNITS else raw
    try:
        seconds = float(number) * UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (e.g. 30s, 5m, 1h)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return seconds


class Since:
    """``--since``: a duration back from now (``30m``, ``2h``, ``1d``) or an ISO 8601 instant
    (``2026-12-02T18:00:00Z``; without a zone: UTC). :meth:`at` gives epoch seconds."""

    def __init__(self, text: str):
        self.text = text
        self._ago: float | None = None
        self._at: float | None = None
        if re.fullmatch(r"\s*[0-9.]+\s*[smhd]?\s*", text.lower()):
            self._ago = parse_duration(text)
            return
        try:
            when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad --since {text!r} (a duration such as 2h, or an ISO instant such as "
                "2026-12-02T18:00:00Z)") from None
        self._at = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()

    def at(self, now: float) -> float:
        return now - self._ago if self._ago is not None else float(self._at)


def parse_rate(text: str) -> float:
    """``"5/s"``, ``"5"`` -> 5.0 messages per second; ``"120/m"`` -> 2.0. Raises
    argparse.ArgumentTypeError for anything else or a rate <= 0."""
    raw = text.strip().lower()
    number, _, unit = raw.partition("/")
    per = UNITS.get(unit or "s")
    try:
        rate = float(number) / per if per else float("nan")
    except ValueError:
        rate = float("nan")
    if not rate > 0 or rate == float("inf"):
        raise argparse.ArgumentTypeError(f"bad rate {text!r} (e.g. 5/s, 120/m)")
    return rate


def when(epoch_s: float | None) -> str:
    """``"2026-12-02 18:00:00 UTC"``, or ``"-"`` for None."""
    if epoch_s is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def wiring_state() -> StatePort:
    """The configured backend's state store (DynamoDB table or PostgreSQL ``state``)."""
    from chalicelib import wiring

    return wiring.get_state()
