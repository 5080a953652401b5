"""The per-system figures of ``spillway bench burst``, from what was sent and what each
system's database holds. Pure: no I/O, no clock.

Definitions (every time in seconds from the run's start, every latency in ms):

* ``sent``: deliveries sent; ``accepted``: answered 2xx within GitHub's 10 s; ``rejected``:
  every other answer (``rejected_by_status``: HTTP status -> count, 0 = failed or timed out).
* ``stored``: sent deliveries with at least one row in the system's table; ``lost``: sent and
  never stored (GitHub does not retry a failed delivery by itself, so a rejected delivery that
  was not stored is lost unless someone redelivers it by hand); ``acked_lost``: accepted and
  never stored (the worst kind: the sender was told it arrived); ``stored_unacked``: stored
  although the answer was not 2xx (a timeout after the work was done); ``duplicated``: rows
  beyond the first per delivery id.
* ``p95_ack_ms``: 95th percentile (nearest rank) of the 2xx answers' latency; None without one.
* ``first_5xx_s``: when the first 5xx answer came; None if none did.
* ``recovery_s``: from the outage's end until the backlog is stored: the last delivery sent
  before that end (whatever its answer) that was stored at all was stored; 0 when none was
  still waiting; None without an outage. Deliveries never stored are counted in ``lost``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.core.edge_window import percentile

#: The fields of every system's object, in the order the table shows them.
FIELDS = ("system", "sent", "accepted", "rejected", "stored", "lost", "acked_lost",
          "stored_unacked", "duplicated", "p95_ack_ms", "first_5xx_s", "db_connections_max",
          "recovery_s")


@dataclass(frozen=True)
class Stored:
    """One delivery id's rows in a system's table: ``rows`` (count) and ``first_at`` (s from
    the run's start when the first was written)."""

    rows: int
    first_at: float


def summarize(system: str, acks: Sequence, stored: Mapping[str, Stored],
              outage: tuple[float, float] | None, db_connections_max: int,
              *, settled: bool = True) -> dict:
    """The figures above for one system. ``acks``: objects with ``delivery_id``, ``sent_at``
    (s), ``status`` and ``ack_ms`` (:class:`bench.burst.send.Ack`); ``stored``: delivery id ->
    :class:`Stored` (ids not sent are ignored); ``outage``: ``(start_s, end_s)``, when the
    database's stop was asked for and when its restart had completed;
    ``settled``: False when the system still had a backlog at the time limit."""
    sent_ids = {a.delivery_id for a in acks}
    ok = [a for a in acks if 200 <= a.status < 300]
    ok_ids = {a.delivery_id for a in ok}
    mine = {d: s for d, s in stored.items() if d in sent_ids and s.rows > 0}
    by_status: dict[str, int] = {}
    for a in acks:
        if not 200 <= a.status < 300:
            by_status[str(a.status)] = by_status.get(str(a.status), 0) + 1
    first_5xx = min((a.sent_at + a.ack_ms / 1000 for a in acks if a.status >= 500),
                    default=None)
    p95 = percentile([a.ack_ms for a in ok], 0.95)
    return {
        "system": system,
        "sent": len(acks),
        "accepted": len(ok),
        "rejected": len(acks) - len(ok),
        "rejected_by_status": dict(sorted(by_status.items())),
        "stored": len(mine),
        "lost": len(sent_ids) - len(mine),
        "acked_lost": len(ok_ids - mine.keys()),
        "stored_unacked": len(mine.keys() - ok_ids),
        "duplicated": sum(s.rows - 1 for s in mine.values()),
        "p95_ack_ms": round(p95, 1) if p95 is not None else None,
        "first_5xx_s": round(first_5xx, 2) if first_5xx is not None else None,
        "db_connections_max": db_connections_max,
        "recovery_s": recovery_s(acks, mine, outage),
        "outage_s": list(outage) if outage else None,
        "settled": settled,
    }


def recovery_s(acks: Sequence, stored: Mapping[str, Stored],
               outage: tuple[float, float] | None) -> float | None:
    """Seconds from the outage's end until the last delivery of ``acks`` sent before it that
    was stored at all was stored; 0.0 when none was left waiting; None without an outage."""
    if outage is None:
        return None
    end = outage[1]
    waited = [stored[a.delivery_id].first_at for a in acks
              if a.sent_at < end and a.delivery_id in stored]
    return round(max(0.0, max(waited, default=end) - end), 2)


def consistent(row: Mapping) -> list[str]:
    """What does not add up in one system's figures (empty when all do): accepted + rejected
    = sent, stored + lost = sent, acked_lost <= lost, stored_unacked <= stored, the rejected
    by status add up to rejected, nothing negative."""
    problems = []
    if row["accepted"] + row["rejected"] != row["sent"]:
        problems.append("accepted + rejected != sent")
    if row["stored"] + row["lost"] != row["sent"]:
        problems.append("stored + lost != sent")
    if row["acked_lost"] > row["lost"]:
        problems.append("acked_lost > lost")
    if row["stored_unacked"] > row["stored"]:
        problems.append("stored_unacked > stored")
    if sum(row["rejected_by_status"].values()) != row["rejected"]:
        problems.append("rejected_by_status does not add up to rejected")
    if any(isinstance(row[k], int) and row[k] < 0 for k in FIELDS if k != "system"):
        problems.append("a negative count")
    return problems


def table(rows: Sequence[Mapping]) -> str:
    """The systems side by side, one column each, a line per field (None shows as '-')."""
    def cell(v) -> str:
        return "-" if v is None else str(v)

    width = max(12, *(len(r["system"]) + 2 for r in rows))
    lines = ["".join([f"{'':<20}", *(f"{r['system']:>{width}}" for r in rows)])]
    for key in FIELDS[1:]:
        lines.append("".join([f"{key:<20}", *(f"{cell(r[key]):>{width}}" for r in rows)]))
    return "\n".join(lines)
