"""Deploy preflight: what ``spillway deploy`` checks before it acts (and all ``--dry-run`` does).

Checks, in order (each a :class:`Check`; a failed one is a problem, and any problem stops the
deploy with exit status 2):

* ``region`` -- boto3 resolves a region (``AWS_DEFAULT_REGION``, ``AWS_REGION`` or the
  profile's);
* ``credentials`` -- boto3 finds credentials and STS ``GetCallerIdentity`` accepts them (the
  account id is used below);
* ``placeholders`` -- no environment variable of the stage in ``.chalice/config.json`` still
  holds a placeholder (``spillway-claim-checks-ACCOUNT_ID``: the workers reject it only at their
  first cold start, after a "successful" deploy);
* ``template`` -- ``cfn-lint`` passes on ``infra/template.yaml`` and, when a region is known, on
  the template ``chalice package --merge-template`` makes of the app for the stage's tier plan
  (``sam.json``: the lanes and the stage's front -- REST API, HTTP API or function URL);
* ``ssm`` -- every SSM parameter the stage names (``*_PARAM`` variables) exists;
* ``plan`` -- the stage's tier plan (``.chalice/tier-<stage>.json`` as Chalice packaging reads
  it, else the ``SPILLWAY_TIER`` its functions get, else ``$SPILLWAY_TIER``) keeps every rule of
  ``chalicelib.core.concurrency.rules``, and the config names no other tier.

A check that cannot run because an earlier one failed is ``skipped`` (not a problem of its own).
Nothing here changes anything in AWS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Values that are placeholders, not settings (the config ships with ``ACCOUNT_ID``).
PLACEHOLDER = re.compile(r"ACCOUNT_ID|REPLACE_ME|CHANGE_?ME|<[^>]*>|\bTODO\b|XXXX")
#: Seconds ``chalice package`` may take (it builds the deployment package).
PACKAGE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Check:
    """One preflight check: ``status`` is ``ok``, ``problem`` or ``skipped``; ``detail`` says
    what was found (for a problem: what is wrong and how to fix it)."""

    name: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "problem"


def _stage_env(config: dict, stage: str) -> Iterator[tuple[str, str, str]]:
    """``(where, key, value)`` of every environment variable the stage's functions get."""
    yield from (("global", k, v) for k, v in config.get("environment_variables", {}).items())
    stage_cfg = config.get("stages", {}).get(stage, {})
    yield from ((f"stage {stage}", k, v)
                for k, v in stage_cfg.get("environment_variables", {}).items())
    for name, fn in stage_cfg.get("lambda_functions", {}).items():
        yield from ((f"stage {stage} function {name}", k, v)
                    for k, v in fn.get("environment_variables", {}).items())


def check_placeholders(config: dict, stage: str, account: str | None) -> Check:
    found = []
    for where, key, value in _stage_env(config, stage):
        if isinstance(value, str) and PLACEHOLDER.search(value):
            hint = (f" (e.g. {PLACEHOLDER.sub(account, value)})"
                    if account and "ACCOUNT_ID" in value else "")
            found.append(f"{key}={value!r} ({where}) is a placeholder: set the real value{hint}")
    if found:
        return Check("placeholders", "problem", "; ".join(found) + " in .chalice/config.json")
    return Check("placeholders", "ok", "none in .chalice/config.json")


def ssm_parameter_names(config: dict, stage: str) -> list[str]:
    """The SSM parameter names the stage's functions read (``*_PARAM`` variables), sorted."""
    return sorted({v for _, k, v in _stage_env(config, stage)
                   if k.endswith("_PARAM") and isinstance(v, str) and v})


def _config_tiers(config: dict, stage: str) -> dict[str, set[str]]:
    """Tier name -> where the stage's config names it: its ``tier`` key and every
    ``SPILLWAY_TIER`` variable (global, stage or per function)."""
    found: dict[str, set[str]] = {}
    if config.get("stages", {}).get(stage, {}).get("tier"):
        found.setdefault(str(config["stages"][stage]["tier"]).strip().lower(), set()).add(
            f"stage {stage} 'tier'")
    for where, key, value in _stage_env(config, stage):
        if key == "SPILLWAY_TIER" and isinstance(value, str) and value.strip():
            found.setdefault(value.strip().lower(), set()).add(where)
    return found


def check_tier_plan(config: dict, stage: str, project_dir: Path) -> Check:
    """The stage's plan, found as ``chalicelib.tier_plan.stage_plan`` finds it when Chalice
    packages the app (``.chalice/tier-<stage>.json`` of ``spillway tier set``), else the tier
    the config names (``SPILLWAY_TIER`` of the stage / its functions, or a ``tier`` key), else
    ``$SPILLWAY_TIER``; a problem if it breaks a rule of ``chalicelib.core.concurrency.rules``
    or the config's functions name different tiers (from each other or the tier file)."""
    try:
        from chalicelib.core.concurrency.plan import build_plan
        from chalicelib.errors import ConfigError
        from chalicelib.tier_plan import plan_from_file
    except ImportError as exc:
        return Check("plan", "skipped", f"tier plan module not usable ({exc})")
    named = _config_tiers(config, stage)
    tier_path = project_dir / ".chalice" / f"tier-{stage}.json"
    if len(named) > 1:
        where = "; ".join(f"{t}: {', '.join(sorted(w))}" for t, w in sorted(named.items()))
        return Check("plan", "problem", f"stage {stage} names more than one tier ({where}); "
                                        f"run `spillway tier set TIER --stage {stage} "
                                        "--reason ...`")
    tier = next(iter(named), None) or os.environ.get("SPILLWAY_TIER", "").strip().lower()
    if tier_path.exists():
        source = f".chalice/{tier_path.name}"
    elif tier:
        source = ("SPILLWAY_TIER in .chalice/config.json" if named
                  else "SPILLWAY_TIER of this shell")
    else:
        return Check("plan", "skipped", f"no tier for stage {stage} (.chalice/{tier_path.name}, "
                                        "SPILLWAY_TIER in .chalice/config.json, or "
                                        "$SPILLWAY_TIER); `spillway tier set` writes one")
    try:
        plan = plan_from_file(tier_path) if tier_path.exists() else build_plan(tier)
    except ConfigError as exc:  # PlanError: a broken rule, an unknown tier or knob
        return Check("plan", "problem", f"{source}: {exc}")
    if named and plan.name not in named:
        return Check("plan", "problem", f".chalice/{tier_path.name} is tier {plan.name} but "
                                        f".chalice/config.json's functions say "
                                        f"SPILLWAY_TIER={next(iter(named))}; run `spillway "
                                        f"tier set {plan.name} --stage {stage} --reason "
                                        "...` to rewrite both")
    return Check("plan", "ok", f"tier {plan.name} ({source}) keeps every rule")


def _cfn_lint() -> str | None:
    beside = Path(sys.executable).parent / "cfn-lint"
    return str(beside) if beside.exists() else shutil.which("cfn-lint")


def _merge_template(project_dir: Path, stage: str, out: Path) -> tuple[list[str], str | None]:
    """``(["--merge-template", out], front)`` for the stage's tier plan (as packaging finds
    it), or ``([], None)`` when it has none that builds (the ``plan`` check says why)."""
    try:
        from chalicelib.errors import ConfigError
        from chalicelib.tier_plan import stage_plan
        from spillway.package import merge_template

        plan = stage_plan({"SPILLWAY_STAGE": stage}, project_dir=project_dir)
    except (ImportError, ConfigError):
        return [], None
    out.write_text(json.dumps(merge_template(plan, [w.name for w in plan.workers])))
    return ["--merge-template", str(out)], plan.front


def check_template(project_dir: Path, stage: str, region: str | None,
                   run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Check:
    lint = _cfn_lint()
    if lint is None:
        return Check("template", "problem", "cfn-lint is not installed "
                                            "(pip install -r requirements-dev.txt)")
    templates = [project_dir / "infra" / "template.yaml"]
    notes = []
    with tempfile.TemporaryDirectory(prefix="spillway-package-") as out:
        if region:
            from spillway.deploy import chalice_executable

            merge, front = _merge_template(project_dir, stage, Path(out) / "merge.json")
            notes.append(f"front {front}" if front else "no valid tier plan: packaged without "
                                                        "its merge template")
            packaged = run([chalice_executable(), "--project-dir", str(project_dir), "package",
                            "--stage", stage, *merge, str(Path(out) / "package")],
                           capture_output=True, text=True, timeout=PACKAGE_TIMEOUT_S,
                           check=False, env={**os.environ, "SPILLWAY_STAGE": stage})
            if packaged.returncode != 0:
                tail = (packaged.stderr or packaged.stdout).strip().splitlines()[-3:]
                return Check("template", "problem", "chalice package failed: " + " / ".join(tail))
            templates.append(Path(out) / "package" / "sam.json")
        else:
            notes.append("the packaged app template needs a region (not packaged)")
        result = run([lint, *map(str, templates)], capture_output=True, text=True, check=False)
    names = ", ".join(p.name for p in templates)
    if result.returncode != 0:
        lines = [ln for ln in result.stdout.strip().splitlines() if ln.strip()][:10]
        return Check("template", "problem", f"cfn-lint on {names}: " + " / ".join(lines))
    return Check("template", "ok", f"cfn-lint passes on {names}"
                 + (f"; {'; '.join(notes)}" if notes else ""))


def preflight(stage: str, project_dir: Path, *, session: Any = None,
              run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[Check]:
    """Every check for deploying ``stage`` of ``project_dir`` (see the module docstring).
    ``session`` a ``boto3.session.Session`` (default: a new one from the environment); ``run``
    runs cfn-lint and ``chalice package``. Never raises for what it finds: a broken
    configuration, a missing region or refused credentials are problems in the list."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    checks: list[Check] = []
    session = session or boto3.session.Session()
    region = session.region_name
    checks.append(Check("region", "ok", region) if region else Check(
        "region", "problem", "no AWS region: set AWS_DEFAULT_REGION (or AWS_REGION, or a "
                             "profile's region with AWS_PROFILE)"))
    account = None
    try:
        creds = session.get_credentials()
    except BotoCoreError as exc:
        creds, cred_error = None, str(exc)
    else:
        cred_error = "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and " \
                     "AWS_SECRET_ACCESS_KEY, or run `aws configure`"
    if creds is None:
        checks.append(Check("credentials", "problem", cred_error))
    elif not region:
        checks.append(Check("credentials", "skipped", "found, not verified (no region)"))
    else:
        try:
            identity = session.client("sts").get_caller_identity()
            account = identity["Account"]
            checks.append(Check("credentials", "ok", f"account {account} as {identity['Arn']}"))
        except (BotoCoreError, ClientError) as exc:
            checks.append(Check("credentials", "problem", f"refused by STS: {exc}"))
    config_path = project_dir / ".chalice" / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        checks.append(Check("config", "problem", f"{config_path}: {exc}"))
        return checks
    if stage not in config.get("stages", {}):
        checks.append(Check("config", "problem", f"stage {stage!r} is not in {config_path}"))
    checks.append(check_placeholders(config, stage, account))
    checks.append(check_template(project_dir, stage, region, run))
    checks.append(_check_ssm(session, ssm_parameter_names(config, stage), account is not None))
    checks.append(check_tier_plan(config, stage, project_dir))
    return checks


def _check_ssm(session: Any, names: list[str], can_call: bool) -> Check:
    if not names:
        return Check("ssm", "ok", "the stage names no SSM parameter")
    if not can_call:
        return Check("ssm", "skipped", f"needs region and credentials to look up "
                                       f"{', '.join(names)}")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ssm = session.client("ssm")
        missing = []
        for i in range(0, len(names), 10):  # GetParameters takes 10 names at most (SSM API)
            missing += ssm.get_parameters(Names=names[i:i + 10])["InvalidParameters"]
    except (BotoCoreError, ClientError) as exc:
        return Check("ssm", "problem", f"cannot read SSM parameters: {exc}")
    if missing:
        return Check("ssm", "problem", "missing SSM parameters: " + ", ".join(sorted(missing))
                     + " (create them: aws ssm put-parameter --type SecureString --name NAME "
                       "--value VALUE)")
    return Check("ssm", "ok", f"{len(names)} present: {', '.join(names)}")


def format_checks(checks: list[Check]) -> str:
    """One line per check: ``  ok       region: eu-west-1``."""
    return "\n".join(f"  {c.status:<8} {c.name}: {c.detail}" for c in checks)
