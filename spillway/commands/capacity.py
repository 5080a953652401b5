"""``spillway capacity``: predict a tier's waits, backlog, refusals, connections and bill for an
arrival profile (:mod:`spillway.capacity.model`); ``--recommend`` the smallest tier meeting a
target; ``capacity check`` drives the profile through the local stack and prints predicted beside
measured (:mod:`spillway.capacity.check`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from chalicelib.core.concurrency.plan import CUSTOM, PRESETS, PlanError, build_plan
from chalicelib.errors import ConfigError
from spillway.capacity import inputs
from spillway.capacity.model import simulate
from spillway.capacity.report import (
    Target,
    monthly_volume,
    plan_summary,
    prediction,
    profile_summary,
    recommend,
    render,
    same_miss_note,
)
from spillway.commands.options import add_backend
from spillway.json_output import print_json


def _add_profile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", default="0/s", metavar="N/s",
                   help="steady arrival rate (deliveries/s, default %(default)s)")
    p.add_argument("--burst", action="append", default=[], metavar="N/s:DUR[@START]",
                   help="a burst, e.g. 40/s:30s (repeatable; without @START it follows "
                        f"{inputs.LEAD_S} s of steady traffic after the previous one)")
    p.add_argument("--duration", metavar="DUR",
                   help="profile length, e.g. 10m (default: last burst/outage + "
                        f"{inputs.LEAD_S} s)")
    p.add_argument("--profile", type=Path, metavar="FILE",
                   help="rates per second over time: JSON {\"rates\": [...]} or one rate a line "
                        "(instead of --rate/--burst)")
    p.add_argument("--outage", action="append", default=[], metavar="DUR@START",
                   help="a database outage window, e.g. 20s@40s (repeatable)")
    p.add_argument("--tier", default="free", help=f"tier plan: {', '.join(PRESETS)} or {CUSTOM} "
                   "(with --knob; default %(default)s)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="override a plan knob (JSON value), e.g. burst=30 (repeatable)")
    p.add_argument("--store-rate", metavar="N/s",
                   help="deliveries stored per second per database connection (default: the "
                        "last `make bench`, else a documented default)")
    p.add_argument("--bench", type=Path, default=Path(".spillway/bench/last.json"),
                   help="benchmark results to read service times from (default: %(default)s)")
    p.add_argument("--arrivals", choices=("poisson", "even"), default=None,
                   help="arrival process: independent deliveries (poisson, the default for a "
                        "prediction) or evenly spaced (even, what `capacity check` sends)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--plot", type=Path, metavar="DIR",
                   help="write PNG charts of depth and wait over time into DIR")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _add_workdir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", help="where the run's embedded databases live (default: a "
                                     "temporary directory, so a local stack's data is left "
                                     "alone)")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``capacity`` (and ``capacity check``) to ``subparsers``."""
    p = subparsers.add_parser(
        "capacity", help="predict waits, backlog, refusals and cost of a tier for a traffic "
                         "profile (or --recommend a tier); `capacity check` measures it locally",
        description="Predict a tier's waits, queue depths, drain, edge refusals, database "
                    "connections and monthly bill for an arrival profile; --recommend the "
                    "smallest tier meeting a target. `capacity check` measures the same profile "
                    "on the local stack; `capacity calibrate` measures the stack's drain rate.")
    _add_profile_options(p)
    p.add_argument("--recommend", action="store_true",
                   help="name the smallest tier meeting --target-p95-wait / --no-edge-refusals")
    p.add_argument("--target-p95-wait", action="append", default=[], metavar="PRIORITY=DUR",
                   help="with --recommend: p95 wait limit, e.g. high=5s (repeatable)")
    p.add_argument("--no-edge-refusals", action="store_true",
                   help="with --recommend: the edge must refuse nothing")
    p.set_defaults(func=cmd_capacity)
    sub = p.add_subparsers(dest="capacity_command")
    c = sub.add_parser("check", help="drive the profile through the local stack; print "
                                     "predicted beside measured",
                       description="Run the profile against the local stack (the tier's plan) "
                                   "and compare every figure with the prediction.")
    _add_profile_options(c)
    add_backend(c)
    _add_workdir(c)
    c.add_argument("--host-rate", metavar="N/s",
                   help="most deliveries/s the local stack's one process stores in total "
                        "(default: `spillway capacity calibrate`'s measurement, if any)")
    c.set_defaults(func=cmd_check)
    k = sub.add_parser("calibrate", help="measure the local stack's throughput under a backlog "
                                         "(for `capacity check`)",
                       description="Send a backlog through the local stack and record how many "
                                   "deliveries/s its workers store in total.")
    k.add_argument("--tier", default="free", help="tier plan (default %(default)s)")
    add_backend(k)
    _add_workdir(k)
    k.add_argument("--json", action="store_true", help="print one JSON document")
    k.set_defaults(func=cmd_calibrate)
    return p


def _knobs(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--knob {pair!r}: expected NAME=VALUE, e.g. burst=30")
        try:
            out[name] = json.loads(value)
        except ValueError:
            raise ConfigError(f"--knob {pair!r}: the value must be JSON, e.g. 30") from None
    return out


def prepare(args) -> tuple:
    """``(plan, profile, mix, service)`` from the parsed options. Raises ConfigError."""
    try:
        plan = build_plan(args.tier, **_knobs(args.knob))
    except PlanError as exc:
        raise ConfigError(str(exc)) from None
    outages = [inputs.parse_outage(o) for o in args.outage]
    if args.profile:
        if args.burst or args.rate != "0/s":
            raise ConfigError("--profile replaces --rate and --burst; give one or the other")
        profile = inputs.read_profile_file(args.profile, outages)
    else:
        rate = inputs.parse_rate(args.rate)
        bursts = [inputs.parse_burst(b) for b in args.burst]
        duration = inputs.parse_duration(args.duration) if args.duration else None
        profile = inputs.build_profile(rate, bursts, outages, duration)
    if profile.deliveries <= 0:
        raise ConfigError("the profile has no arrivals: give --rate, --burst or --profile")
    service = inputs.service_from_bench(args.bench)
    if args.store_rate:
        rate = inputs.parse_rate(args.store_rate)
        if rate <= 0:
            raise ConfigError("--store-rate must be > 0/s")
        service = replace(service, store_s=1 / rate, source=f"--store-rate {args.store_rate}")
    return plan, profile, inputs.corpus_mix(), service


def document(plan, profile, mix, service, result) -> dict:
    """The JSON document of one prediction (see ``--json``)."""
    from spillway.cost import inputs as cost_inputs
    from spillway.cost import model as cost_model

    doc = {"plan": plan_summary(plan), "profile": profile_summary(profile),
           "mix": {f"{p}/{t}": round(s, 4) for (p, t), s in mix.items()},
           "service": {"store_s": service.store_s, "overhead_s": service.overhead_s,
                       "edge_s": service.edge_s, "service_cv": service.service_cv,
                       "breaker_open_s": service.breaker_open_s, "source": service.source},
           "prediction": prediction(result)}
    try:
        table = cost_inputs.load_prices()
        estimate = cost_model.estimate(
            monthly_volume(profile), prices=table["prices"],
            usage=cost_inputs.load_usage(cost_inputs.BENCH_PATH), plan=plan,
            alarms=cost_inputs.count_alarms())
        doc["cost"] = {"deliveries_per_month": estimate.deliveries_per_month,
                       "usd_per_month": round(estimate.usd_per_month, 2),
                       "assumes": "the profile's mean rate all month"}
    except ValueError as exc:
        doc["cost"] = None
        doc["cost_error"] = str(exc)
    return doc


def _emit(args, doc: dict) -> None:
    if args.json:
        print_json(json.dumps(doc, indent=1))
    else:
        print(render(doc))


def cmd_capacity(args) -> int:
    plan, profile, mix, service = prepare(args)
    if args.recommend:
        if not args.target_p95_wait and not args.no_edge_refusals:
            raise ConfigError("--recommend needs a target: --target-p95-wait PRIORITY=DUR "
                              "and/or --no-edge-refusals")
        target = Target(dict(inputs.parse_target(t) for t in args.target_p95_wait),
                        args.no_edge_refusals)
        chosen, result, tried = recommend(profile, mix, service, target, seed=args.seed,
                                          arrivals=args.arrivals or "poisson")
        if chosen is None:
            plan_shown, result = plan, simulate(plan, profile, mix, service, seed=args.seed,
                                                arrivals=args.arrivals or "poisson")
        else:
            plan_shown = chosen
        doc = document(plan_shown, profile, mix, service, result)
        doc["recommend"] = {"tier": tried[-1]["tier"] if chosen else None, "tried": tried,
                            "note": same_miss_note(tried)}
        _emit(args, doc)
        _plot(args, result)
        return 0 if chosen else 1
    elif args.target_p95_wait or args.no_edge_refusals:
        raise ConfigError("--target-p95-wait and --no-edge-refusals need --recommend")
    result = simulate(plan, profile, mix, service, seed=args.seed,
                      arrivals=args.arrivals or "poisson")
    _emit(args, document(plan, profile, mix, service, result))
    _plot(args, result)
    return 0


def _plot(args, result, measured: dict | None = None) -> None:
    if args.plot:
        from spillway.capacity.plot import plot

        plot(result.series, args.plot, measured)


def cmd_check(args) -> int:
    from spillway.capacity.check import compare, run_check
    from spillway.local.stack import StackOptions

    plan, profile, mix, service = prepare(args)
    # the local stack's breaker re-probes sooner than AWS's default: model the one that runs
    service = replace(service, breaker_open_s=StackOptions().breaker_open_s)
    service = _with_host_rate(service, args.host_rate)
    result = simulate(plan, profile, mix, service, seed=args.seed,
                      arrivals=args.arrivals or "even")
    doc = document(plan, profile, mix, service, result)
    measured = run_check(plan, profile, backend=args.backend, workdir=args.workdir)
    if profile.outages and measured["outages"] != [list(o) for o in profile.outages]:
        # the input, not the model, changed: a restarted server answers some time after its
        # planned end. Predict again for the outage as it happened, and say so.
        realized = replace(profile, outages=tuple(tuple(o) for o in measured["outages"]))
        result = simulate(plan, realized, mix, service, seed=args.seed,
                          arrivals=args.arrivals or "even")
        doc["prediction_planned_outage"] = doc["prediction"]
        doc["prediction"] = prediction(result)
        doc["profile"]["outages_as_run"] = measured["outages"]
    doc["measured"] = {k: v for k, v in measured.items() if not k.startswith(("series", "_"))}
    doc["comparison"] = compare(doc["prediction"], measured)
    _emit(args, doc)
    _plot(args, result, measured.get("series"))
    return 0 if all(r["verdict"] != "off" for r in doc["comparison"]) else 1


def _with_host_rate(service, text: str | None):
    """``service`` capped at ``--host-rate`` or the calibration file's figure (if any)."""
    from spillway.capacity.check import CALIBRATION_PATH

    if text:
        rate = inputs.parse_rate(text)
        if rate <= 0:
            raise ConfigError("--host-rate must be > 0/s")
        return replace(service, host_rate=rate,
                       source=f"{service.source}; host rate --host-rate {text}")
    try:
        found = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
        rate = float(found["host_rate"])
    except FileNotFoundError:
        return service
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{CALIBRATION_PATH}: unusable ({exc}); run `spillway capacity "
                          "calibrate` again or delete it") from None
    return replace(service, host_rate=rate, source=f"{service.source}; host rate {rate:g}/s "
                   f"measured {found.get('measured_at', '?')} ({CALIBRATION_PATH})")


def cmd_calibrate(args) -> int:
    from spillway.capacity.check import CALIBRATION_PATH, calibrate

    try:
        plan = build_plan(args.tier)
    except PlanError as exc:
        raise ConfigError(str(exc)) from None
    found = calibrate(plan, backend=args.backend, workdir=args.workdir)
    CALIBRATION_PATH.parent.mkdir(parents=True, exist_ok=True)
    CALIBRATION_PATH.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    if args.json:
        print_json(json.dumps({**found, "file": str(CALIBRATION_PATH)}))
    else:
        bound = " (a lower bound: the workers kept up)" if found["kept_up"] else ""
        print(f"local stack stores {found['host_rate']:g} deliveries/s under a backlog{bound}; "
              f"written to {CALIBRATION_PATH}")
    return 0
