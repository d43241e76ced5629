"""The reference deployment's backups are what the real tools produce."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from fixtures.reference.schema import BETTER_AUTH, DATABASES
from harness.config import resolve
from harness.crypto import masterkey
from harness.layout import DEFAULT_LAYOUT
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.tools import betterauth_node, pgbin

pytestmark = pytest.mark.integration


def pg16() -> pgbin.PgInstallation:
    return pgbin.find(16)


def stamps(ref) -> list[str]:
    return [r["stamp"] for r in ref.meta["backup_runs"]]


def test_layout_has_every_store_for_every_run(reference) -> None:
    root: Path = reference.backups
    assert len(stamps(reference)) == 3
    for stamp in stamps(reference):
        for db in DATABASES:
            assert (root / DEFAULT_LAYOUT.postgres_dump.format(ts=stamp, db=db)).stat().st_size > 0
        manifest = json.loads((root / DEFAULT_LAYOUT.warehouse_manifest.format(ts=stamp)).read_text())
        assert manifest["tables"] and all(t["rows"] > 0 for t in manifest["tables"].values())
        # mtimes carry the backup time, as a real backup store's would
        dump = root / DEFAULT_LAYOUT.postgres_dump.format(ts=stamp, db="auth")
        taken = DEFAULT_LAYOUT.parse_stamp(stamp)
        assert abs(dump.stat().st_mtime - taken.timestamp()) < 1
    days = [DEFAULT_LAYOUT.parse_stamp(s) for s in stamps(reference)]
    assert [b - a for a, b in zip(days, days[1:])] == [dt.timedelta(days=1)] * 2


def test_pg_restore_reads_every_dump(reference) -> None:
    for stamp in stamps(reference):
        for db in DATABASES:
            path = reference.backups / DEFAULT_LAYOUT.postgres_dump.format(ts=stamp, db=db)
            out = subprocess.run([pg16().tool("pg_restore"), "-l", str(path)], capture_output=True,
                                 text=True, check=True).stdout
            assert "Format: CUSTOM" in out and f"dbname: {db}" in out
            assert "Dumped from database version: 16." in out
    toc = subprocess.run([pg16().tool("pg_restore"), "-l", str(
        reference.backups / DEFAULT_LAYOUT.postgres_dump.format(ts=stamps(reference)[-1], db="agentic"))],
        capture_output=True, text=True, check=True).stdout
    assert "EXTENSION - vector" in toc and "TABLE public kb_embedding" in toc


def test_pg_verifybackup_accepts_the_base_backup_and_rejects_a_changed_file(reference, tmp_path) -> None:
    (base,) = sorted((reference.backups / "postgres" / "base").iterdir())
    ok = subprocess.run([pg16().tool("pg_verifybackup"), "-n", str(base)], capture_output=True,
                        text=True)
    assert ok.returncode == 0, ok.stderr
    # The same check on an altered copy fails: the manifest's checksums mean something.
    import shutil

    copy = tmp_path / "base"
    shutil.copytree(base, copy)
    victim = next(p for p in sorted((copy / "base").rglob("*")) if p.is_file() and p.stat().st_size > 8192)
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    bad = subprocess.run([pg16().tool("pg_verifybackup"), "-n", str(copy)], capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "checksum mismatch" in bad.stderr


def test_wal_archive_is_continuous_from_the_base_backup(reference) -> None:
    wal = reference.backups / DEFAULT_LAYOUT.wal_archive
    segments = sorted(p.name for p in wal.iterdir() if len(p.name) == 24)
    assert len(segments) >= 3
    proc = subprocess.run([pg16().tool("pg_waldump"), "-p", str(wal), "--stats",
                           segments[0], segments[-1]], capture_output=True, text=True)
    # pg_waldump exits 1 at the (expected) end of the last segment but names any gap it meets.
    assert "could not find file" not in proc.stderr, proc.stderr


def test_master_key_backup_is_a_runbook_shaped_secret(reference) -> None:
    text = (reference.backups / DEFAULT_LAYOUT.master_key).read_text()
    for field in ("resourceVersion", "uid", "creationTimestamp"):
        assert field not in text
    backup = masterkey.load_master_key_backup(text)
    assert backup.name == "master-key" and backup.namespace == "scrydon-platform"
    assert len(backup.key) == 32


def test_history_changes_between_runs_and_replica_holds_indexed_objects(reference) -> None:
    fps = [reference.fingerprint(s) for s in stamps(reference)]
    audit = [fp["postgres"]["auth"]["public.audit_log"]["rows"] for fp in fps]
    assert audit[0] < audit[1] < audit[2]
    assert len(fps[0]["objects"]) < len(fps[2]["objects"])
    for key in fps[2]["objects"]:
        assert (reference.backups / "objects" / key).is_file()


def test_same_seed_gives_same_content(reference, tmp_path_factory, run_root, measure) -> None:
    import os
    import tempfile

    from fixtures.reference.build import build_reference

    out = Path(tempfile.mkdtemp(prefix="scrydon-drill-ref2-"))
    os.chmod(out, 0o755)
    try:
        again = build_reference(out / "ref", scale="tiny", days=3, seed=7,
                                anchor=dt.datetime.fromisoformat(reference.meta["anchor"]),
                                config=resolve(environ={}, arguments={"scratch": {"root": str(run_root)}}))
        last = stamps(reference)[-1]
        assert stamps(again) == stamps(reference)
        assert again.fingerprint(last) == reference.fingerprint(last)
        measure(f"reference build (tiny, 3 days, same seed twice, identical content): "
                f"{again.seconds:.1f} s")
    finally:
        import shutil

        shutil.rmtree(out, ignore_errors=True)


def columns(conninfo: dict) -> dict[str, list[tuple[str, str, str]]]:
    with psycopg.connect(**conninfo) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM "
            "information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, "
            "ordinal_position").fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for table, col, typ, null in rows:
        out.setdefault(table, []).append((col, typ, null))
    return out


def test_auth_schema_equals_better_auth_own_migration(run_root) -> None:
    """Our better-auth tables are column for column what better-auth 1.7.25 creates."""
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(run_root)}})
    with LocalProvider(cfg, Run.create(run_root), stores=("postgres",)) as env:
        pg = env.endpoints.postgres
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE ours")
            conn.execute("CREATE DATABASE theirs")
        with psycopg.connect(**pg.conninfo("ours"), autocommit=True) as conn:
            conn.execute(BETTER_AUTH)
        betterauth_node.migrate(pg.dsn("theirs"))
        assert columns(pg.conninfo("ours")) == columns(pg.conninfo("theirs"))


def test_building_into_a_folder_that_is_not_empty_is_refused_before_anything_starts(
        tmp_path: Path, run_root: Path) -> None:
    from fixtures.reference.build import build_reference
    from harness.errors import ConfigError

    out = tmp_path / "ref"
    (out / "backups").mkdir(parents=True)
    (out / "backups" / "left.txt").write_text("an earlier build")
    with pytest.raises(ConfigError) as err:
        build_reference(out, scale="tiny",
                        config=resolve(environ={}, arguments={"scratch": {"root": str(run_root)}}))
    assert str(out) in str(err.value) and "not empty" in str(err.value)
    assert "remove this one" in str(err.value)
    assert sorted(p.name for p in out.rglob("*")) == ["backups", "left.txt"]
    assert list(run_root.iterdir()) == []  # no server was started
