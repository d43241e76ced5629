"""Point-in-time recovery from a base backup and the WAL archive."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fixtures.backup.producer import BackupProducer, archive_settings, prepare_wal_dir
from fixtures.reference.model import Settings
from harness.catalog.wal import (
    BackupLabel,
    base_member,
    needed_for_recovery,
    parse_backup_label,
)
from harness.config import resolve
from harness.errors import RestoreError
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.scratch.servers import unprivileged_user

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pitr_source(tmp_path_factory):
    """A source with a base backup and audit events committed at known real times."""
    import os
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="scrydon-drill-pitr-"))
    os.chmod(root, 0o755)
    backups = root / "backups"
    wal = backups / "postgres" / "wal"
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(root)}})
    prepare_wal_dir(wal, unprivileged_user(cfg.scratch.os_user))
    run = Run.create(root)
    provider = LocalProvider(cfg, run, role="source", stores=("postgres",),
                             postgres_settings=archive_settings(wal),
                             postgres_initdb_args=["--wal-segsize=1"])
    events: list[tuple[str, dt.datetime]] = []
    try:
        ep = provider.start()
        pg = ep.postgres
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE auth")
        with psycopg.connect(**pg.conninfo("auth"), autocommit=True) as conn:
            conn.execute('CREATE TABLE audit_log (id text PRIMARY KEY, "createdAt" timestamptz)')
        producer = BackupProducer(ep, backups, settings=Settings(), master_key=bytes(32))
        base = producer.base_backup("base")
        with psycopg.connect(**pg.conninfo("auth"), autocommit=True) as conn:
            for i in range(6):
                # Each event its own transaction; createdAt is its real commit-time neighbour.
                row = conn.execute("INSERT INTO audit_log VALUES (%s, clock_timestamp()) "
                                   'RETURNING "createdAt"', (f"aud_{i:04d}",)).fetchone()
                events.append((f"aud_{i:04d}", row[0]))
                # One WAL segment per event, so a missing segment is a gap inside the history.
                conn.execute("SELECT pg_switch_wal()")
                time.sleep(0.3)
        producer.switch_wal()
        yield {"root": root, "base": base, "wal": wal, "events": events, "cfg": cfg}
    finally:
        provider.stop()
        shutil.rmtree(root, ignore_errors=True)


def restored_events(endpoint) -> list[str]:
    with psycopg.connect(**endpoint.conninfo("auth")) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM audit_log ORDER BY id")]


@contextlib.contextmanager
def recovery(run_root, cfg):
    """A provider with no stores of its own: it runs (and stops) the recovered server."""
    with LocalProvider(cfg, Run.create(run_root), stores=()) as provider:
        yield provider


def test_pitr_to_t_holds_events_up_to_t_and_none_after(pitr_source, run_root, measure) -> None:
    events = pitr_source["events"]
    # T between event 2 and event 3.
    target = events[2][1] + (events[3][1] - events[2][1]) / 2
    sha_before = sorted(p.stat().st_mtime_ns for p in pitr_source["wal"].iterdir())
    with recovery(run_root, pitr_source["cfg"]) as provider:
        endpoint, proof = provider.recover_postgres(pitr_source["base"], pitr_source["wal"],
                                                    target)
        got = restored_events(endpoint)
        assert got == [e for e, t in events if t <= target]
        assert got and len(got) < len(events)
        assert proof.promoted and "recovery stopping before commit" in proof.stopped
        measure(f"PITR to {target.isoformat()}: {len(got)} of {len(events)} events; "
                f"{proof.stopped}")
    assert sorted(p.stat().st_mtime_ns for p in pitr_source["wal"].iterdir()) == sha_before


def test_archive_ending_before_target_is_a_clear_error(pitr_source, run_root) -> None:
    target = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    with recovery(run_root, pitr_source["cfg"]) as provider, \
            pytest.raises(RestoreError) as err:
        provider.recover_postgres(pitr_source["base"], pitr_source["wal"], target)
    assert "WAL archive ends before the recovery target" in str(err.value)


def test_missing_segment_stops_recovery_short(pitr_source, run_root, tmp_path) -> None:
    wal_copy = tmp_path / "wal"
    shutil.copytree(pitr_source["wal"], wal_copy)
    segments = sorted(p for p in wal_copy.iterdir() if len(p.name) == 24)
    segments[-3].unlink()  # a gap two events before the end
    target = pitr_source["events"][-1][1]
    with recovery(run_root, pitr_source["cfg"]) as provider, \
            pytest.raises(RestoreError) as err:
        provider.recover_postgres(pitr_source["base"], wal_copy, target)
    assert "ends before the recovery target" in str(err.value)


def pitr_label(source: Any, catalog: Any, cfg: Any) -> BackupLabel:
    """The backup_label of the base backup a PITR to ``drill.pitr_target`` starts from."""
    from harness.drill import parse_pitr_target

    target = parse_pitr_target(cfg.drill.pitr_target)
    base = [b for b in catalog.base_backups() if b.taken_at and b.taken_at <= target][-1]
    raw = base_member(source, base.relpath, "backup_label")
    assert raw is not None
    return parse_backup_label(raw.decode())


def test_pitr_from_the_catalogue_reproduces_a_backup_run(reference, run_root, measure) -> None:
    """PITR to the moment backup run 2 completed equals that run's source fingerprint."""
    from fixtures.fingerprint import postgres_fingerprint
    from harness.drill import open_catalog, restore_pitr

    run2 = reference.meta["backup_runs"][1]
    cfg = resolve(environ={}, arguments={"backups": {"source": str(reference.backups)},
                                         "scratch": {"root": str(run_root)},
                                         "drill": {"pitr_target": run2["server_time"]}})
    source, catalog = open_catalog(cfg)
    with recovery(run_root, cfg) as provider:
        staging = provider.run.subdir("staging")
        t0 = time.monotonic()
        endpoint, proof = restore_pitr(cfg, source, catalog, provider, staging)
        seconds = time.monotonic() - t0
        expected = reference.fingerprint(run2["stamp"])["postgres"]
        got = {db: postgres_fingerprint(endpoint.conninfo(db)) for db in expected}
        assert got == expected
        # Only what recovery from the chosen base backup can read was staged.
        archive = sorted(a.name for a in catalog.wal_files())
        staged = sorted(p.name for p in (staging / "wal-needed").iterdir())
        label = pitr_label(source, catalog, cfg)
        assert staged == needed_for_recovery(archive, label)
        assert 0 < len(staged) < len(archive)
        measure(f"PITR of the reference to run 2's completion in {seconds:.1f} s: all five "
                f"databases equal the source fingerprint; {proof.last_transaction}; WAL "
                f"staged: {len(staged)} of the archive's {len(archive)} files")
