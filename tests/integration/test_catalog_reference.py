"""The catalogue and posture checks on the reference deployment's real backups.

``reference.backups`` is evidence: faults are injected into copies only, and one test proves
every catalogue and posture operation leaves the source byte-for-byte (and mtime) unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures.reference.schema import DATABASES
from harness.catalog import wal
from harness.catalog.catalog import Catalog
from harness.catalog.posture import check_posture
from harness.catalog.source import DirectorySource, open_source
from harness.config import BackupsConfig
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed

pytestmark = pytest.mark.integration


def stamps(ref: Any) -> list[str]:
    return [r["stamp"] for r in ref.meta["backup_runs"]]


def directory_catalog(root: Path, **cfg: Any) -> Catalog:
    return Catalog(DirectorySource(root), BackupsConfig(source=str(root), **cfg))


def object_refs(ref: Any) -> list[tuple[str, str, None, str]]:
    """What the newest backup's source held, as (bucket, key, size, sha256)."""
    objs = ref.fingerprint(stamps(ref)[-1])["objects"]
    return [(k.split("/", 1)[0], k.split("/", 1)[1], None, sha) for k, sha in objs.items()]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every file and folder below ``root``: content hash, size, mtime (ns) and mode."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = sha(p) if p.is_file() else "dir"
        out[p.relative_to(root).as_posix()] = (digest, st.st_size if p.is_file() else 0,
                                               st.st_mtime_ns, st.st_mode)
    return out


def copy_of(ref: Any, tmp_path: Path) -> Path:
    dest = tmp_path / "backups"
    shutil.copytree(ref.backups, dest)
    return dest


def test_restore_set_is_the_newest_complete_run_with_its_companions(reference, measure) -> None:
    root: Path = reference.backups
    t0 = time.monotonic()
    rs = directory_catalog(root).choose_restore_set()
    took = time.monotonic() - t0
    last = stamps(reference)[-1]
    assert rs.run == last and rs.flags == [], rs.flags
    assert sorted(rs.dumps) == sorted(DATABASES)
    for db, art in rs.dumps.items():
        path = root / f"postgres/dumps/{last}/{db}.dump"
        assert art.location == str(path) and art.size == path.stat().st_size
        assert art.sha256 == sha(path)
        assert art.taken_at == rs.backup_time
    manifest = json.loads((root / f"warehouse/{last}/snapshot.json").read_text())
    assert rs.warehouse is not None and rs.warehouse.run == last
    assert sorted(rs.warehouse.tables) == sorted(manifest["tables"])
    assert rs.warehouse.database == manifest["database"]
    assert rs.master_key is not None
    assert rs.master_key.sha256 == sha(root / "master-key/master-key.backup.yaml")
    base_runs = [r["stamp"] for r in reference.meta["backup_runs"] if r["base_backup"]]
    assert rs.base_backup is not None and rs.base_backup.run == base_runs[-1]
    assert rs.base_backup.size == sum(p.stat().st_size for p in
                                      (root / "postgres/base" / base_runs[-1]).rglob("*")
                                      if p.is_file())
    assert rs.wal_archive == str(root / "postgres/wal")
    assert rs.objects_root == str(root / "objects")
    assert f"auth.dump of run {last} chosen: newest complete run" in rs.reasons
    measure(f"catalogue: restore set of the reference with SHA-256 of {len(rs.artifacts())} "
            f"artefacts in {took * 1000:.0f} ms")


def test_a_copy_missing_a_dump_in_the_newest_run_falls_back(reference, tmp_path) -> None:
    root = copy_of(reference, tmp_path)
    last, before = stamps(reference)[-1], stamps(reference)[-2]
    (root / f"postgres/dumps/{last}/analytics.dump").unlink()
    rs = directory_catalog(root).choose_restore_set()
    assert rs.run == before and rs.warehouse is not None and rs.warehouse.run == before
    assert any(f"newest dump run {last} is incomplete: analytics (no dump)" in f
               for f in rs.flags)
    report = check_posture(directory_catalog(root), use_pg_waldump=False)
    assert not report.finding("dump-completeness").ok


def test_posture_of_the_healthy_reference(reference, measure) -> None:
    t0 = time.monotonic()
    report = check_posture(directory_catalog(reference.backups),
                           object_references=object_refs(reference))
    took = time.monotonic() - t0
    assert report.ok, report.render()
    cont = report.finding("wal-continuity")
    assert cont.ok and cont.details["pg_waldump_continuous"] is True
    assert cont.details["segment_size_from"] == "pg_controldata"
    assert cont.details["wal_segment_size"] == 1 << 20  # the reference uses --wal-segsize=1
    assert report.finding("master-key").ok and report.finding("objects-replica").ok
    assert report.finding("dump-freshness").ok and report.finding("dump-completeness").ok
    # three days of history against 30/7/14-day baselines: said, not hidden
    assert {f.id for f in report.warnings} == {"dump-retention", "wal-retention",
                                                "warehouse-retention"}
    assert "history starts on" in report.finding("dump-retention").message
    strict = check_posture(directory_catalog(reference.backups), require_full_retention=True,
                           use_pg_waldump=False)
    assert not strict.ok
    print(report.render())
    measure(f"posture: all checks of the reference incl. pg_controldata and pg_waldump in "
            f"{took * 1000:.0f} ms")


def test_a_deleted_wal_segment_is_found_by_arithmetic_and_by_pg_waldump(reference, tmp_path,
                                                                      measure) -> None:
    root = copy_of(reference, tmp_path)
    healthy = check_posture(directory_catalog(root)).finding("wal-continuity")
    assert healthy.ok
    start, end = healthy.details["start_segment"], healthy.details["end_segment"]
    seg = 1 << 20
    middle = [n for n in sorted(p.name for p in (root / "postgres/wal").iterdir())
              if wal.is_segment(n) and wal.segno(start, seg) < wal.segno(n, seg)
              < wal.segno(end, seg)]
    assert middle, "the reference should archive several segments after its base backup"
    victim = middle[0]
    (root / "postgres/wal" / victim).unlink()
    t0 = time.monotonic()
    f = check_posture(directory_catalog(root)).finding("wal-continuity")
    took = time.monotonic() - t0
    assert not f.ok and f.severity == "error"
    assert victim in f.message and f.details["gaps"] == [victim]
    assert f.details["pg_waldump_continuous"] is False
    assert f"could not find file \"{victim}\"" in f.details["pg_waldump"]
    measure(f"posture: deleted WAL segment {victim} found by arithmetic and by pg_waldump "
            f"in {took:.1f} s (pg_waldump retries a missing file for about 5 s)")


def test_a_damaged_wal_segment_is_found_by_pg_waldump(reference, tmp_path) -> None:
    root = copy_of(reference, tmp_path)
    good = check_posture(directory_catalog(root), use_pg_waldump=False)
    start = good.finding("wal-continuity").details["start_segment"]
    seg_size = 1 << 20
    # Flip bytes inside the first record after the base backup's start: the size stays right,
    # so only PostgreSQL's own reader (record CRCs) can notice.
    target = root / "postgres/wal" / start
    data = bytearray(target.read_bytes())
    for i in range(0x60, 0x70):
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    f = check_posture(directory_catalog(root)).finding("wal-continuity")
    assert not f.ok and f.details["gaps"] == [] and f.details["wrong_size"] == []
    assert f.details["pg_waldump_continuous"] is False
    assert "pg_waldump stops before the end" in f.message
    assert len(data) == seg_size


def test_catalog_and_posture_leave_the_source_unchanged(reference, tmp_path,
                                                        measure) -> None:
    root: Path = reference.backups
    before = tree_state(root)
    t0 = time.monotonic()
    cat = directory_catalog(root)
    inventory = cat.inventory(checksums=True)
    rs = cat.choose_restore_set()
    for art in rs.artifacts():
        cat.source.fetch(art.relpath, tmp_path / "fetched", sha256=art.sha256)
    report = check_posture(cat, object_references=object_refs(reference))
    assert report.ok
    elapsed = time.monotonic() - t0
    after = tree_state(root)
    assert after == before
    assert not (tmp_path / "fetched").exists()  # a directory source never copies
    files = sum(len(v) for v in inventory.values())
    measure(f"catalogue read-only proof: {len(before)} paths unchanged (SHA-256, size, mtime, "
            f"mode) after inventory ({files} artefacts hashed), restore set, fetch and "
            f"posture ({elapsed:.1f} s)")


def upload_tree(client: Any, bucket: str, prefix: str, root: Path) -> int:
    files = [p for p in root.rglob("*") if p.is_file()]

    def put(p: Path) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}/{p.relative_to(root).as_posix()}",
                          Body=p.read_bytes())

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, files))
    return len(files)


def test_s3_source_chooses_the_same_set_with_the_same_checksums(reference, run_root, tmp_path,
                                                                measure) -> None:
    server = LocalSeaweed(Run.create(run_root), name="backups", access_key="cat-ak",
                          secret_key="cat-sk")
    try:
        server.start()
        server.wait_ready(60)
        ep = server.endpoint
        client: Any = ep.client()
        client.create_bucket(Bucket="backups")
        t0 = time.monotonic()
        # The upload is the copy: it only reads the reference's files.
        n = upload_tree(client, "backups", "prod/scrydon", reference.backups)
        uploaded = time.monotonic() - t0

        def bucket_state() -> dict[str, tuple[int, str]]:
            out = {}
            for page in client.get_paginator("list_objects_v2").paginate(Bucket="backups"):
                for o in page.get("Contents", []):
                    out[o["Key"]] = (o["Size"], o["ETag"])
            return out

        before = bucket_state()
        cfg = BackupsConfig(source="s3://backups/prod/scrydon", s3_endpoint=ep.url,
                            s3_access_key="cat-ak", s3_secret_key="cat-sk")
        t1 = time.monotonic()
        s3cat = Catalog(open_source(cfg), cfg)
        rs3 = s3cat.choose_restore_set()
        chose = time.monotonic() - t1
        rsd = directory_catalog(reference.backups).choose_restore_set()

        def key(a: Any) -> tuple:
            return (a.store, a.relpath, a.size, a.sha256, a.run, a.taken_at if a.run else None)

        assert rs3.run == rsd.run == stamps(reference)[-1]
        assert [key(a) for a in rs3.artifacts()] == [key(a) for a in rsd.artifacts()]
        assert rs3.dumps["auth"].location == (
            f"s3://backups/prod/scrydon/postgres/dumps/{rs3.run}/auth.dump")
        assert rs3.wal_archive == "s3://backups/prod/scrydon/postgres/wal"
        assert rs3.objects_root == "s3://backups/prod/scrydon/objects"
        assert rs3.flags == []

        local = s3cat.source.fetch(rs3.dumps["cortex"].relpath, tmp_path / "restore",
                                   sha256=rs3.dumps["cortex"].sha256)
        assert sha(local) == rs3.dumps["cortex"].sha256
        assert local.is_relative_to(tmp_path / "restore")

        t2 = time.monotonic()
        report = check_posture(s3cat, object_references=object_refs(reference))
        posture = time.monotonic() - t2
        assert report.ok, report.render()
        assert report.finding("wal-continuity").details["pg_waldump_continuous"] is True
        assert bucket_state() == before  # only reads reached the bucket
        measure(f"catalogue on S3 (SeaweedFS): uploaded {n} files in {uploaded:.1f} s; same "
                f"restore set and SHA-256s in {chose:.2f} s; posture incl. pg_waldump over "
                f"fetched segments in {posture:.2f} s")
    finally:
        server.stop()
