"""Finishing a run's evidence: one pipeline for drills, the posture command and the self-test.

Whoever filled a :class:`~harness.records.RunRecord` (the pytest plugin from its hooks, the
posture command from the catalogue, the self-test from its matrix) hands it to
:func:`finish_run`, which completes it and writes it out, in this order: objectives as checks,
controls, the verdict, redaction of every secret, signing, the history trend, the reports,
a leak scan of every artefact, the history entry, publishing. A problem on the way becomes a
run error (the run fails), never a silent pass; a report that leaks a secret stays local.
"""

from __future__ import annotations

import datetime as dt
import getpass
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import DrillConfig
from harness.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_STARTED,
    EXIT_PASSED,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
)
from harness.evidence.controls import apply_controls, load_catalog
from harness.evidence.history import HistoryEntry, open_history, trend
from harness.evidence.leaks import MIN_SECRET_LENGTH, Redactor, scan_for_secrets
from harness.evidence.publish import publish
from harness.evidence.reports import write_reports
from harness.evidence.storage import S3Options
from harness.evidence.views import run_failed
from harness.records import CheckResult, RunRecord, utcnow

_STORES = {"postgres", "objects", "warehouse"}


@dataclass
class Finished:
    """Where the evidence went and whether the run failed."""

    record: RunRecord
    folder: Path
    published: str | None = None
    failed: bool = False


@dataclass
class FinishOptions:
    """What only the caller knows about the run."""

    secrets: Mapping[str, str | bytes] = field(default_factory=dict)  # label -> value
    fixed_controls: set[str] = field(default_factory=set)  # checks whose controls are final
    extra_files: Mapping[str, str] = field(default_factory=dict)  # name -> text, written first
    base_dir: Path | None = None  # where a relative report.dir is resolved (default: cwd)
    versions: Mapping[str, str] = field(default_factory=dict)  # tool versions to record


def describe_host(record: RunRecord, versions: Mapping[str, str] | None = None) -> None:
    """Who ran it where: host name, OS, Python, user, the harness's version."""
    from harness import __version__

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    record.host.update({"hostname": socket.gethostname(), "os": platform.platform(),
                        "python": platform.python_version(), "user": user})
    record.versions.setdefault("harness", __version__)
    for name, version in (versions or {}).items():
        record.versions.setdefault(name, version)


def measured_rto(record: RunRecord) -> float | None:
    """Seconds from the first phase (provisioning) to the end of the last one that brings
    the platform back or verifies it (the checks).

    That is the drill's recovery time: an empty environment became a restored and verified
    platform. Teardown is not part of it (a real recovery keeps what it restored). None when
    nothing was restored (no store phase), so no RTO is claimed.
    """
    if not any(p.store in _STORES for p in record.phases):
        return None
    spans = []
    for p in record.phases:
        if p.name == "teardown":
            continue
        start = dt.datetime.fromisoformat(p.started_at)
        spans.append((start, start + dt.timedelta(seconds=p.seconds)))
    return round((max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds(), 3)


def objective_checks(record: RunRecord) -> None:
    """RTO and RPO targets become checks of their own (only when a target is set)."""
    for name, target, measured in (("rto", record.targets.rto_seconds, record.rto_seconds),
                                   ("rpo", record.targets.rpo_seconds, record.rpo_seconds)):
        if target is None:
            continue
        upper = name.upper()
        check = CheckResult(id=f"objective.{name}", title=f"{upper} within its target",
                            verdict="pass", message="", controls=[],
                            measured={f"{name}_seconds": measured,
                                      f"{name}_target_seconds": target})
        if measured is None:
            check.verdict = "could-not-verify"
            check.message = (f"{upper} target {target:g} s is configured but no check "
                             f"measured {name}_seconds; measure it with "
                             f"drill_measure({name}_seconds=...)")
        elif measured > target:
            check.verdict = "fail"
            check.message = (f"{upper} {measured:g} s exceeds the target {target:g} s by "
                             f"{measured - target:g} s; look at the timeline for the slowest "
                             "phase, or revisit the objective")
        else:
            check.message = f"{upper} {measured:g} s is within the target {target:g} s"
        record.checks.append(check)


def s3_options(cfg: DrillConfig) -> S3Options:
    """Where ``evidence.publish_to`` and ``evidence.history_dir`` live on S3."""
    ev = cfg.evidence
    return S3Options(endpoint=ev.s3_endpoint, access_key=ev.s3_access_key,
                     secret_key=ev.s3_secret_key, region=ev.s3_region,
                     lock_mode=ev.object_lock_mode, lock_days=ev.object_lock_days)


def _signing_key(cfg: DrillConfig, secrets: dict[str, str | bytes],
                 errors: list[str]) -> Any:
    from cryptography.hazmat.primitives import serialization

    from harness.evidence.manifest import load_private_key

    ev = cfg.evidence
    try:
        if ev.sign_key_file:
            material = Path(ev.sign_key_file).read_bytes()
            secrets["signing key file"] = material.strip()
        else:
            material = ev.sign_key.encode()
        key = load_private_key(material)
    except Exception as exc:  # noqa: BLE001 - reported, the run fails
        errors.append(f"the manifest could not be signed: {exc}")
        return None
    secrets["signing key (raw)"] = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    return key


def _attempt(into: list[str], what: str, step: Callable[[], Any]) -> tuple[bool, Any]:
    """Run one step; a failure is written to ``into`` (run errors or notes), not raised."""
    try:
        return True, step()
    except Exception as exc:  # noqa: BLE001 - a report problem must not look like success
        into.append(f"{what}: {exc}")
        return False, None


def finish_run(record: RunRecord, cfg: DrillConfig,
               options: FinishOptions | None = None) -> Finished:
    """Complete ``record`` and write its evidence to ``<report.dir>/<run-id>/``."""
    from harness.scratch.run import new_run_id

    opts = options or FinishOptions()
    ev = cfg.evidence
    record.run_id = record.run_id or new_run_id()
    record.finished_at = record.finished_at or utcnow().isoformat()
    record.targets.rto_seconds = ev.rto_target_seconds or None
    record.targets.rpo_seconds = ev.rpo_target_seconds or None
    describe_host(record, opts.versions)
    record.config = cfg.redacted()
    record.config_sources = {k: v for k, v in cfg.sources.items() if v != "default"}
    if record.rto_seconds is None:
        record.rto_seconds = measured_rto(record)
    objective_checks(record)
    _, catalog = _attempt(record.run_errors, "the controls mapping could not be loaded",
                          lambda: load_catalog(ev.controls_file or None))
    if catalog is not None:
        unknown = apply_controls(record, catalog, fixed=opts.fixed_controls)
        if unknown:
            record.notes.append(f"controls cited but not in the catalogue: "
                                f"{', '.join(unknown)}; describe them in "
                                "evidence.controls_file")
    record.verdict = record.overall_verdict(allow_unverified=record.allow_unverified)

    secrets: dict[str, str | bytes] = dict(opts.secrets)
    for section, values in cfg.redacted().items():
        for name, shown in values.items():
            if shown == "***":  # a secret key with a value
                secrets.setdefault(f"{section}.{name}", getattr(getattr(cfg, section), name))
    key = _signing_key(cfg, secrets, record.run_errors) if (ev.sign_key_file or ev.sign_key) \
        else None
    record = Redactor(secrets.values()).value(record)

    base = Path(cfg.report.dir)
    if not base.is_absolute():
        base = (opts.base_dir or Path.cwd()) / base
    s3 = s3_options(cfg)
    history = open_history(ev.history_dir or str(base / "history"), s3)
    _, the_trend = _attempt(record.notes, "the run history could not be read",
                            lambda: trend(record, history.load(max(ev.history_runs, 1) + 1),
                                          limit=max(ev.history_runs, 1)))
    if the_trend and the_trend.warning:
        record.notes.append(the_trend.warning)

    folder = base / record.run_id
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; run ids must be unique")
    folder.mkdir(parents=True)
    for name, text in opts.extra_files.items():
        (folder / name).write_text(text, encoding="utf-8")
    write_reports(record, folder, the_trend, key)
    scannable = {k: v for k, v in secrets.items() if len(v) >= MIN_SECRET_LENGTH}
    for label in sorted(set(secrets) - set(scannable)):
        record.notes.append(f"the secret '{label}' is shorter than {MIN_SECRET_LENGTH} "
                            "characters, too short to tell apart from other text: it was "
                            "neither redacted nor searched for; use a longer secret")
    leaks = scan_for_secrets(folder, scannable)
    record.run_errors.extend(str(f).replace(str(folder) + "/", "") for f in leaks)
    rewrite = bool(set(secrets) != set(scannable) or leaks)
    added, _ = _attempt(record.notes, "this run could not be added to the history",
                        lambda: history.add(HistoryEntry.from_record(record)))
    rewrite = rewrite or not added
    published = None
    if ev.publish_to and leaks:
        # A report that leaks a secret stays on this machine.
        record.run_errors.append(f"not published to {ev.publish_to}: the report leaks a "
                                 "secret (see the errors above)")
        rewrite = True
    elif ev.publish_to:
        done, published = _attempt(record.run_errors,
                                   f"publishing the report to {ev.publish_to} failed",
                                   lambda: publish(folder, ev.publish_to, s3))
        rewrite = rewrite or not done
    if rewrite:
        write_reports(record, folder, the_trend, key)
    return Finished(record=record, folder=folder, published=published,
                    failed=run_failed(record))


# pytest's own exit statuses, as plain numbers (this module does not import pytest).
_PYTEST_INTERRUPTED, _PYTEST_INTERNAL, _PYTEST_USAGE, _PYTEST_NO_TESTS = 2, 3, 4, 5


def drill_exit_code(record: RunRecord, hints: Mapping[str, int], pytest_status: int = 0) -> int:
    """The exit code of a run (see :data:`harness.errors.EXIT_CODES`).

    ``hints`` says, per failed check, what its failure meant (a DrillError's exit code: a
    source that cannot be read, a scratch that did not start, a configuration error); a
    failure without a hint is a failed check. A failed check wins over everything but an
    interruption: the backups are not good. could-not-verify alone gives 2, unless
    unverified checks are allowed.
    """
    if pytest_status == _PYTEST_INTERRUPTED:
        return EXIT_INTERRUPTED
    if pytest_status in (_PYTEST_USAGE, _PYTEST_NO_TESTS):
        return EXIT_USAGE
    failed = [c.id for c in record.checks if c.verdict == "fail"]
    kinds = {hints.get(cid, EXIT_FAILED) for cid in failed}
    if EXIT_FAILED in kinds or record.run_errors:
        return EXIT_FAILED
    if EXIT_USAGE in kinds:
        return EXIT_USAGE
    if kinds or pytest_status == _PYTEST_INTERNAL:
        return EXIT_NOT_STARTED
    unverified = any(c.verdict == "could-not-verify" for c in record.checks)
    if unverified and not record.allow_unverified:
        return EXIT_UNVERIFIED
    return EXIT_PASSED
