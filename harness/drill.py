"""The drill pipeline up to the checks: choose the restore set, restore it, keep the result.

Used by the pytest plugin's ``drill_restored`` fixture and by the CLI. The checks in
``drills/`` read what this produces; the evidence collector records its lineage and phases.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.catalog.model import Artifact, RestoreSet
from harness.catalog.source import clean_relpath
from harness.catalog.timeline import SetRefused
from harness.config import BackupsConfig, DrillConfig
from harness.errors import ConfigError, DrillError
from harness.records import CheckResult, PhaseClock, RunRecord, utcnow
from harness.restore.engine import RestoreEngine
from harness.restore.result import RestoredPlatform, RestoreResult
from harness.scratch.base import ScratchProvider
from harness.scratch.endpoints import Endpoints, PostgresEndpoint
from harness.scratch.run import new_run_id
from harness.tools.pitr import PitrResult


def open_catalog(config: DrillConfig) -> tuple[Any, Any]:
    """The backup source and catalogue named by ``[backups]``."""
    from harness.catalog.catalog import Catalog
    from harness.catalog.source import open_source

    if not config.backups.source:
        raise ConfigError("no backup source is configured",
                         remedy="set backups.source (a directory or s3://bucket/prefix) in the "
                         "drill config, or SCRYDON_DRILL_BACKUPS_SOURCE")
    source = open_source(config.backups)
    return source, Catalog(source, config.backups)


def make_engine(endpoints: Endpoints, source: Any, staging: Path,
                backups: BackupsConfig | None = None) -> RestoreEngine:
    """A restore engine reading artefacts through the backup source (read-only)."""

    def fetch(artifact: Artifact) -> Path:
        # The catalogue's SHA-256 is checked again on download (remote sources).
        return Path(source.fetch(artifact.relpath, staging, sha256=artifact.sha256))

    return RestoreEngine(endpoints, fetch=fetch, backups=backups)


def restore_set_into(config: DrillConfig, endpoints: Endpoints, source: Any,
                     restore_set: RestoreSet, staging: Path,
                     stores: tuple[str, ...] = ("postgres", "objects", "warehouse"), *,
                     result: RestoreResult | None = None, early: bool = False
                     ) -> RestoreResult:
    """Restore one set into ``endpoints``; downloads go to ``staging`` (in the run folder,
    so teardown removes them). ``result`` and ``early``: see :meth:`RestoreEngine.restore`."""
    from harness.restore.environment import check_clocks, diagnose

    check_clocks(endpoints, config.scratch.max_clock_skew_seconds)
    engine = make_engine(endpoints, source, staging, config.backups)
    try:
        result = engine.restore(restore_set, stores=stores, result=result, early=early)
    finally:
        # A downloaded copy of the master-key backup is the one plaintext key on disk: it
        # must not outlive its use (a scratch environment kept for inspection included).
        if restore_set.master_key is not None:
            (staging / clean_relpath(restore_set.master_key.relpath)).unlink(missing_ok=True)
    if result.errors:
        # A full disk, a dead server or a vanished source is not a broken backup.
        fault = diagnose(result.errors, endpoints, source, staging)
        if fault is not None:
            raise fault
    return result


NewScratch = Callable[[], tuple[Endpoints, Path]]


def preflight_disk(config: DrillConfig, source: Any, restore_set: RestoreSet) -> None:
    """Before any server starts: is there room on the scratch filesystem for this set?"""
    from harness.catalog.source import DirectorySource
    from harness.restore.environment import check_free_disk
    from harness.scratch.run import default_root

    if not config.scratch.check_free_disk:
        return
    folder = Path(config.scratch.root) if config.scratch.root else default_root()
    # Only the local provider keeps the servers' data here; the others stage downloads only.
    check_free_disk(restore_set, folder, servers_here=config.scratch.provider == "local",
                    staged=not isinstance(source, DirectorySource))


def restore_latest(config: DrillConfig, source: Any, catalog: Any,
                   new_scratch: NewScratch) -> RestoredPlatform:
    """Restore the newest restore set; with ``drill.fallback``, the one before on failure.

    ``new_scratch`` provisions a fresh scratch environment and returns its endpoints and a
    staging folder inside it; a fallback gets its own environment so nothing of the failed
    attempt leaks into the result.
    """
    try:
        newest = catalog.choose_restore_set()
    except SetRefused as refused:
        if not config.drill.fallback:
            raise
        return _restore_older(config, source, catalog, new_scratch, refused)
    preflight_disk(config, source, newest)
    endpoints, staging = new_scratch()
    result = restore_set_into(config, endpoints, source, newest, staging)
    platform = RestoredPlatform(config=config, endpoints=endpoints, restore_set=newest,
                                result=result)
    if result.ok or not config.drill.fallback:
        return platform
    reason = "; ".join(f"{k}: {v.splitlines()[0]}" for k, v in result.errors.items())
    try:
        older = catalog.choose_restore_set(exclude_runs={newest.run})
    except DrillError as exc:
        platform.notes.append(f"no older backup set to fall back to: {exc.message}")
        return platform
    endpoints2, staging2 = new_scratch()
    result2 = restore_set_into(config, endpoints2, source, older, staging2)
    fallback = RestoredPlatform(config=config, endpoints=endpoints2, restore_set=older,
                                result=result2, fallback_from=newest, fallback_reason=reason)
    fallback.notes.append(
        f"the newest backup set ({newest.run}) could not be restored ({reason}); restored "
        f"{older.run} instead: effective RPO loss {fallback.rpo_loss_seconds / 3600:.1f} h")
    return fallback


def pipelined(config: DrillConfig) -> bool:
    """Whether checks may start while stores are still restoring.

    Not when the outcome of the whole restore decides what the checks read: a fallback to
    an older set, a pre-upgrade rehearsal (migrations run after the restore), a platform
    deployed on the restored stores (Kubernetes).
    """
    return (not config.drill.fallback and not config.upgrade.enabled
            and config.scratch.provider != "kubernetes")


@dataclass
class RestoreStarted:
    """A restore running in the background, and the platform its checks read."""

    platform: RestoredPlatform
    thread: threading.Thread


def start_restore(config: DrillConfig, source: Any, catalog: Any, new_scratch: NewScratch,
                  finish: Callable[[RestoredPlatform], None]) -> RestoreStarted:
    """Choose the newest set and provision (here), then restore in a background thread.

    The platform comes back at once; ``platform.result.gate`` says which stores are
    restored (checks wait for the ones they read). When the restore has ended, ``finish``
    runs in that thread, then the gate opens completely; an exception (e.g. a full scratch
    disk) is handed to every waiter instead. Only for :func:`pipelined` configurations.
    """
    stores = ("postgres", "objects", "warehouse")
    newest = catalog.choose_restore_set(checksums=False)
    preflight_disk(config, source, newest)
    # The set's files are hashed while the servers start (reading only: nothing to clean
    # up), and before anything is restored from them.
    hashing = (ThreadPoolExecutor(1, thread_name_prefix="drill-checksums")
               if config.backups.checksums else None)
    hashed = hashing.submit(catalog.checksum_set, newest) if hashing else None
    try:
        endpoints, staging = new_scratch()
    finally:
        if hashing is not None:
            hashing.shutdown(wait=True)
    if hashed is not None:
        hashed.result()  # a backup that cannot be read is reported before any restore
    result = RestoreResult(restore_set=newest)
    result.gate.close(("master-key", *stores))
    platform = RestoredPlatform(config=config, endpoints=endpoints, restore_set=newest,
                                result=result)

    def work() -> None:
        try:
            restore_set_into(config, endpoints, source, newest, staging, stores,
                             result=result, early=True)
            finish(platform)
        except BaseException as exc:  # noqa: BLE001 - every waiter must learn of it
            result.gate.fail(exc)
        else:
            result.gate.open_all()

    thread = threading.Thread(target=work, name="drill-restore", daemon=True)
    thread.start()
    return RestoreStarted(platform=platform, thread=thread)


def rehearse_upgrade(platform: RestoredPlatform) -> None:
    """A pre-upgrade drill: state the source and target versions and apply the target's
    migrations to the restored copy (every check then runs on the migrated databases)."""
    from harness.restore.migrate import apply_migrations

    up = platform.config.upgrade
    if not up.enabled:
        return
    pg = platform.endpoints.postgres
    sources = sorted(set(platform.result.source_versions.values())) or ["unknown"]
    target = f"PostgreSQL {pg.version}" if pg else "no PostgreSQL"
    platform.notes.append(
        f"pre-upgrade validation: backups from PostgreSQL {', '.join(sources)} restored into "
        f"{target}" + (f"; target platform version {up.target_platform_version}"
                       if up.target_platform_version else ""))
    if not up.migrations:
        return
    if not platform.result.ok or pg is None:
        platform.notes.append("the migrations were not applied: the stores did not restore")
        return
    report = apply_migrations(Path(up.migrations), pg)
    platform.migrations = report
    platform.result.phases.extend(report.phases)


def deploy_platform(platform: RestoredPlatform, provider: Any) -> None:
    """Runbook steps 5-7 where the provider can take them (Kubernetes): the master-key
    Secret, the chart on the restored stores, the rollout. Recorded on ``platform``."""
    deploy = getattr(provider, "deploy_platform", None)
    if deploy is None:
        return
    result = platform.result
    if not result.ok:
        platform.deployment_note = ("the platform was not deployed: the stores did not "
                                    "restore (" + "; ".join(sorted(result.errors)) + ")")
        platform.notes.append(platform.deployment_note)
        return
    deployment = deploy(result.master_key_document, result.master_key)
    platform.deployment = deployment
    result.phases.extend(deployment.phases)
    if deployment.cluster_key is not None:
        result.secrets["cluster master-key value"] = deployment.cluster_key.raw_value
        result.secrets["cluster master key"] = deployment.cluster_key.key


def _restore_older(config: DrillConfig, source: Any, catalog: Any, new_scratch: NewScratch,
                   refused: SetRefused) -> RestoredPlatform:
    """The newest set was refused before restoring: restore the one before it instead."""
    reason = f"refused: {'; '.join(refused.problems)}"
    older = catalog.choose_restore_set(exclude_runs={refused.run})
    endpoints, staging = new_scratch()
    result = restore_set_into(config, endpoints, source, older, staging)
    platform = RestoredPlatform(config=config, endpoints=endpoints, restore_set=older,
                                result=result, fallback_from=refused.restore_set,
                                fallback_reason=reason)
    loss = platform.rpo_loss_seconds / 3600
    platform.notes.append(f"the newest backup set ({refused.run}) was {reason}; restored "
                          f"{older.run} instead: effective RPO loss {loss:.1f} h")
    return platform


def parse_pitr_target(text: str) -> dt.datetime:
    """Parse ``drill.pitr_target`` (ISO 8601; a time without zone is taken as UTC)."""
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise DrillError(f"drill.pitr_target {text!r} is not an ISO 8601 time", store="config",
                         remedy="write e.g. 2026-11-23T14:30:00Z") from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def restore_pitr(config: DrillConfig, source: Any, catalog: Any, provider: ScratchProvider,
                 staging: Path) -> tuple[PostgresEndpoint, PitrResult]:
    """Point-in-time recovery to ``drill.pitr_target`` from the newest base backup before it,
    run by ``provider`` wherever the drill runs (it stops the server with the rest).

    Returns the recovered server's endpoint and the recovery's proof.
    """
    target = parse_pitr_target(config.drill.pitr_target)
    bases = [b for b in catalog.base_backups() if b.taken_at and b.taken_at <= target]
    if not bases:
        raise DrillError(f"no base backup was taken before the PITR target {target.isoformat()}",
                         store="postgres",
                         remedy="choose a later target; base backups start at "
                         + ", ".join(b.run or b.relpath for b in catalog.base_backups()[:3]))
    base = bases[-1]
    base_path = Path(source.fetch(base.relpath, staging))
    return provider.recover_postgres(base_path, stage_needed_wal(source, catalog, base, staging),
                                     target)


def stage_needed_wal(source: Any, catalog: Any, base: Artifact, staging: Path) -> Path:
    """A folder holding the archived WAL recovery from ``base`` can read: nothing older
    than the base backup's start segment is fetched or copied (in a month of archive that
    is most of it). Without a readable ``backup_label`` the whole archive is used."""
    from harness.catalog import wal

    label = wal.read_backup_label(source, base.relpath)
    if label is None:
        return Path(source.fetch(catalog.wal_prefix, staging))
    files = {art.name: art for art in catalog.wal_files()}
    folder = staging / "wal-needed"
    folder.mkdir(parents=True, exist_ok=True)
    for name in wal.needed_for_recovery(sorted(files), label):
        # A directory source's files are linked in place, a remote one's downloaded first.
        local = Path(source.fetch(files[name].relpath, staging / "wal-fetched"))
        (folder / name).symlink_to(local.resolve())
    return folder


@dataclass
class PostureRun:
    """The posture checks' run record, the secrets read on the way (the master-key
    backup's, for the evidence's leak scan) and the error that stopped them, if any."""

    record: RunRecord
    secrets: dict[str, str | bytes] = field(default_factory=dict)
    error: DrillError | None = None


def posture_run(config: DrillConfig) -> PostureRun:
    """The posture checks alone, from the catalogue (no scratch, no restore).

    A backup source that cannot be read becomes a run error: the evidence still says why.
    """
    from harness.catalog.posture import check_posture
    from harness.crypto import masterkey

    record = RunRecord(run_id=new_run_id(), started_at=utcnow().isoformat(), kind="posture")
    secrets: dict[str, str | bytes] = {}
    clock = PhaseClock(record.phases)
    try:
        with clock.phase("catalog", "posture") as phase:
            source, catalog = open_catalog(config)
            report = check_posture(
                catalog, require_full_retention=config.backups.require_full_retention)
            for key in catalog.master_keys():
                secrets.update(masterkey.secret_material(
                    source.read_bytes(key.relpath).decode("utf-8", errors="replace")))
            phase.detail = f"{len(report.findings)} findings on {source.root}"
    except DrillError as exc:
        record.run_errors.append(exc.render())
        return PostureRun(record, secrets, exc)
    for found in report.findings:
        passed = found.ok or found.severity == "warning"
        record.checks.append(CheckResult(
            id=f"posture.{found.id}", title=f"Backup posture: {found.id.replace('-', ' ')}",
            verdict="pass" if passed else "fail", message=found.message,
            measured={k: v for k, v in found.details.items()
                      if isinstance(v, (int, float, str, bool))}))
    record.notes.append("posture.objects-replica was not run: it compares the replica with the "
                        "restored document index, which only a drill restores")
    return PostureRun(record, secrets)
