"""What the capacity model reads and how the command line spells it: rates (``5/s``), bursts
(``80/s:60s`` or ``80/s:60s@120s``), outages (``20s@40s``), target waits (``high=5s``), profile
files, the corpus's event mix and the benchmark's service times.

Parsing is pure and raises :class:`chalicelib.errors.ConfigError` with a one-line reason; the
readers (:func:`read_profile_file`, :func:`corpus_mix`, :func:`service_from_bench`) do the I/O.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from chalicelib.errors import ConfigError
from spillway.capacity.model import PRIORITIES, Profile, Service

_NUM = r"(\d+(?:\.\d+)?)"
_RATE = re.compile(rf"^{_NUM}/s$")
_DUR = re.compile(rf"^{_NUM}(s|m|h)?$")
_MULT = {"s": 1, "m": 60, "h": 3600, None: 1}
#: Seconds of steady traffic before the first burst when ``@START`` is not given.
LEAD_S = 30
#: Most seconds a profile may last (a week).
MAX_PROFILE_S = 7 * 24 * 3600


def parse_rate(text: str) -> float:
    """``"5/s"`` -> 5.0 deliveries/s. Raises ConfigError."""
    m = _RATE.match(text.strip())
    if not m:
        raise ConfigError(f"rate {text!r}: expected N/s, e.g. 5/s")
    return float(m.group(1))


def parse_duration(text: str) -> float:
    """``"30s"``, ``"2m"``, ``"1h"``, ``"45"`` -> seconds. Raises ConfigError."""
    m = _DUR.match(text.strip())
    if not m:
        raise ConfigError(f"duration {text!r}: expected N[s|m|h], e.g. 30s")
    return float(m.group(1)) * _MULT[m.group(2)]


@dataclass(frozen=True)
class Burst:
    """``rate`` deliveries/s for ``length_s`` seconds, starting at ``start_s`` (None: after the
    previous one, with :data:`LEAD_S` of steady traffic between)."""

    rate: float
    length_s: float
    start_s: float | None = None


def parse_burst(text: str) -> Burst:
    """``"80/s:60s"`` or ``"80/s:60s@120s"``. Raises ConfigError."""
    head, _, at = text.partition("@")
    rate, sep, length = head.partition(":")
    if not sep:
        raise ConfigError(f"burst {text!r}: expected RATE:DURATION[@START], e.g. 40/s:30s")
    b = Burst(parse_rate(rate), parse_duration(length), parse_duration(at) if at else None)
    if b.length_s <= 0:
        raise ConfigError(f"burst {text!r}: the duration must be > 0")
    return b


def parse_outage(text: str) -> tuple[float, float]:
    """``"20s@40s"``: a database outage of 20 s starting at 40 s -> ``(40.0, 60.0)``."""
    length, sep, at = text.partition("@")
    if not sep:
        raise ConfigError(f"outage {text!r}: expected DURATION@START, e.g. 20s@40s")
    start, span = parse_duration(at), parse_duration(length)
    if span <= 0:
        raise ConfigError(f"outage {text!r}: the duration must be > 0")
    return start, start + span


def parse_target(text: str) -> tuple[str, float]:
    """``"high=5s"`` -> ``("high", 5.0)``: a p95 wait target for a priority."""
    name, sep, value = text.partition("=")
    if not sep or name not in PRIORITIES:
        raise ConfigError(f"target {text!r}: expected PRIORITY=DURATION with PRIORITY one of "
                          f"{', '.join(PRIORITIES)}, e.g. high=5s")
    return name, parse_duration(value)


def build_profile(rate: float, bursts: Sequence[Burst], outages: Sequence[tuple[float, float]],
                  duration_s: float | None = None, tail_s: float = LEAD_S) -> Profile:
    """A per-second profile: ``rate`` everywhere, each burst's rate during its window (bursts
    without a start follow :data:`LEAD_S` after the previous one), lasting ``duration_s`` (default:
    the last burst or outage plus ``tail_s``). Raises ConfigError."""
    windows, cursor = [], 0.0
    for b in bursts:
        start = b.start_s if b.start_s is not None else cursor + LEAD_S
        windows.append((start, start + b.length_s, b.rate))
        cursor = start + b.length_s
    end = max([w[1] for w in windows] + [o[1] for o in outages] + [0.0]) + tail_s
    length = int(round(duration_s if duration_s is not None else end))
    if length <= 0 or length > MAX_PROFILE_S:
        raise ConfigError(f"the profile must last 1 s to {MAX_PROFILE_S} s, got {length} s")
    rates = [rate] * length
    for start, stop, r in windows:
        for s in range(int(start), min(length, int(round(stop)))):
            rates[s] = r
    return Profile(tuple(rates), tuple(outages), tuple((a, b) for a, b, _ in windows))


def read_profile_file(path: Path, outages: Sequence[tuple[float, float]] = ()) -> Profile:
    """A profile file: JSON ``{"rates": [r0, r1, ...]}`` (deliveries/s, one per second; optional
    ``"outages": [[start_s, end_s], ...]`` and ``"bursts"``) or a text file of one rate per line
    (``#`` comments). Raises ConfigError naming the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the profile {path}: {exc.strerror or exc}") from None
    try:
        if text.lstrip().startswith("{"):
            doc = json.loads(text)
            rates = [float(r) for r in doc["rates"]]
            file_outages = [tuple(map(float, o)) for o in doc.get("outages", [])]
            bursts = [tuple(map(float, b)) for b in doc.get("bursts", [])]
        else:
            rates = [float(line.split("#")[0]) for line in text.splitlines()
                     if line.split("#")[0].strip()]
            file_outages, bursts = [], []
        return Profile(tuple(rates), tuple(file_outages) + tuple(outages), tuple(bursts))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"profile {path}: not a list of rates per second ({exc})") from None


def corpus_mix(path: Path | None = None) -> dict[tuple[str, str], float]:
    """The event mix of the corpus (default: :func:`bench.corpus.corpus_path`): the share of its
    payloads per (priority, target), as the edge classifies them. Raises ConfigError if there
    is no payload."""
    from bench.corpus import corpus_path
    from chalicelib.core.classify import classify
    from chalicelib.core.concurrency.routing import items_of
    from spillway.replay import iter_payloads

    counts: Counter = Counter()
    try:
        for p in iter_payloads([path or corpus_path()]):
            doc = json.loads(p.body)
            action = doc.get("action") if isinstance(doc, dict) else None
            items = items_of(p.event, doc) if isinstance(doc, dict) else 0
            c = classify(p.event, action if isinstance(action, str) else None, len(p.body), items)
            counts[(c.priority, c.target)] += 1
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    total = sum(counts.values())
    if not total:
        raise ConfigError(f"no payloads under {path or corpus_path()}")
    return {k: v / total for k, v in sorted(counts.items())}


def service_from_bench(path: Path, base: Service | None = None) -> Service:
    """``base`` with ``store_s`` / ``edge_s`` from ``make bench``'s results at ``path`` (the
    worker's and edge's wall time per delivery), or ``base`` when there is no such file.
    Raises ConfigError for a file that is there but unusable."""
    from spillway.cost.inputs import load_usage

    base = base or Service()
    try:
        usage = load_usage(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not usage.measured:
        return base
    return replace(base, store_s=usage.worker_ms / 1000, edge_s=usage.edge_ms / 1000,
                   source=usage.source)
