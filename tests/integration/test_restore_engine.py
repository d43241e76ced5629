"""The restore engine on the reference backups: right set, full fidelity, nothing modified."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fixtures.fingerprint import objects_fingerprint, postgres_fingerprint, warehouse_fingerprint
from harness.config import DrillConfig, resolve
from harness.drill import open_catalog, restore_latest, restore_set_into
from harness.errors import DrillError, RestoreError
from harness.restore.engine import describe_timing
from harness.restore.postgres import inspect_dump
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.scratch.session import ScratchSession
from harness.tools import pgbin

pytestmark = pytest.mark.integration


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def drill_config(backups: Path, run_root: Path, **drill: object) -> DrillConfig:
    return resolve(environ={}, arguments={"backups": {"source": str(backups)},
                                          "scratch": {"root": str(run_root)},
                                          "drill": dict(drill)})


@pytest.fixture()
def sessions(run_root: Path) -> Iterator[list[ScratchSession]]:
    made: list[ScratchSession] = []
    yield made
    for s in made:
        s.close(failed=False)


def scratch_maker(cfg: DrillConfig, made: list[ScratchSession]):
    def new() -> tuple[object, Path]:
        s = ScratchSession(cfg)
        made.append(s)
        s.open()
        return s.provider.endpoints, s.run.subdir("staging")
    return new


def broken_copy(reference, tmp: Path) -> Path:
    dst = tmp / "backups"
    shutil.copytree(reference.backups, dst)
    return dst


def test_restore_reproduces_the_source_exactly_and_leaves_backups_untouched(
        reference, run_root, sessions, measure) -> None:
    before = tree_hashes(reference.backups)
    cfg = drill_config(reference.backups, run_root)
    source, catalog = open_catalog(cfg)
    platform = restore_latest(cfg, source, catalog, scratch_maker(cfg, sessions))
    result, ep = platform.result, platform.endpoints
    last = reference.meta["backup_runs"][-1]["stamp"]
    assert platform.restore_set.run == last and result.ok, result.errors
    expected = reference.fingerprint(last)
    assert {db: postgres_fingerprint(ep.postgres.conninfo(db)) for db in expected["postgres"]} \
        == expected["postgres"]
    assert objects_fingerprint(ep.s3.client(), ["scrydon-kb", "scrydon-notebooks"]) \
        == expected["objects"]
    conn = ep.warehouse.connect()
    try:
        assert warehouse_fingerprint(conn, "scrydon_managed") == expected["warehouse"]
    finally:
        conn.close()
    assert result.master_key is not None and len(result.master_key.key) == 32
    per_store = result.store_seconds()
    measure(describe_timing(result))
    # Independent stores overlap: the wall time is below the sum of the store times.
    assert result.wall_seconds < sum(per_store.values())
    assert {p.store for p in result.phases} >= {"postgres", "objects", "warehouse", "master-key"}
    assert tree_hashes(reference.backups) == before


def test_truncated_dump_fails_clearly_and_fallback_restores_the_previous_day(
        reference, run_root, sessions, tmp_path) -> None:
    backups = broken_copy(reference, tmp_path)
    last = reference.meta["backup_runs"][-1]["stamp"]
    victim = backups / "postgres" / "dumps" / last / "auth.dump"
    data = victim.read_bytes()
    victim.write_bytes(data[: int(len(data) * 0.6)])
    cfg = drill_config(backups, run_root)
    source, catalog = open_catalog(cfg)
    platform = restore_latest(cfg, source, catalog, scratch_maker(cfg, sessions))
    assert not platform.result.ok
    message = platform.result.errors["postgres"]
    assert "auth" in message and str(victim) in message
    # With fallback, the day before is restored and the RPO loss is stated.
    cfg = drill_config(backups, run_root, fallback=True)
    platform = restore_latest(cfg, source, catalog, scratch_maker(cfg, sessions))
    assert platform.result.ok and platform.fallback_from is not None
    assert platform.fallback_from.run == last
    assert platform.rpo_loss_seconds == 24 * 3600
    assert "RPO loss 24.0 h" in platform.notes[-1]


def test_dump_from_a_newer_major_is_refused_before_restoring(run_root, tmp_path) -> None:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(run_root)}})
    newer = pgbin.find(18)
    with LocalProvider(cfg, Run.create(run_root), stores=("postgres",),
                       postgres_major=18) as src:
        pg18 = src.endpoints.postgres
        with psycopg.connect(**pg18.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE auth")
        dump = tmp_path / "auth.dump"
        subprocess.run([newer.tool("pg_dump"), "-Fc", "-f", str(dump), "-d", "auth"],
                       env={**os.environ, **pg18.env()}, check=True)
    with LocalProvider(cfg, Run.create(run_root), stores=("postgres",)) as dst:
        pg16 = dst.endpoints.postgres
        with pytest.raises(RestoreError) as err:
            inspect_dump("auth", dump, pg16)
        assert "PostgreSQL 18" in str(err.value) and "PostgreSQL 16" in str(err.value)
        assert "scratch.postgres_version = 18" in str(err.value)
        with psycopg.connect(**pg16.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'auth'"
                                ).fetchone()[0] == 0


@pytest.fixture(scope="module")
def pg16_without_pgvector() -> Iterator[Path]:
    """A real PostgreSQL 16 installation lacking pgvector (a copy with its files removed)."""
    src = pgbin.find(16).bindir.parent
    root = Path(tempfile.mkdtemp(prefix="scrydon-drill-pg16novec-"))
    os.chmod(root, 0o755)
    dst = root / src.parent.name / src.name  # same depth as in site-packages
    shutil.copytree(src, dst, symlinks=True)
    # The wheel's binaries find their bundled libraries beside the package (auditwheel rpath).
    for libs in src.parent.parent.glob("*.libs"):
        shutil.copytree(libs, root / libs.name, symlinks=True)
    for p in list(dst.rglob("vector*")):
        if p.is_file():
            p.unlink()
    try:
        yield dst / "bin"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_missing_pgvector_is_refused_before_restoring(reference, run_root, sessions,
                                                      pg16_without_pgvector, monkeypatch) -> None:
    monkeypatch.setenv("SCRYDON_DRILL_PG_BINDIRS", str(pg16_without_pgvector))
    pgbin.installations.cache_clear()
    try:
        inst = pgbin.installations()[0]
        assert inst.major == 16 and not inst.has_pgvector
        cfg = resolve(environ={}, arguments={
            "backups": {"source": str(reference.backups)},
            "scratch": {"root": str(run_root), "require_pgvector": False}})
        source, catalog = open_catalog(cfg)
        rs = catalog.choose_restore_set()
        session = ScratchSession(cfg)
        sessions.append(session)
        ep = session.open()
        assert not ep.postgres.has_pgvector
        result = restore_set_into(cfg, ep, source, rs, session.run.subdir("staging"))
        assert "vector (needed by agentic)" in result.errors["postgres"]
        with psycopg.connect(**ep.postgres.conninfo()) as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = 'auth'"
                                ).fetchone()[0] == 0
    finally:
        pgbin.installations.cache_clear()


def test_missing_backup_source_is_a_config_error(run_root) -> None:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(run_root)}})
    with pytest.raises(DrillError, match="no backup source is configured"):
        open_catalog(cfg)
