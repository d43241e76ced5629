"""Choosing the restore set from synthetic backup layouts made of small files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from harness.catalog.catalog import Catalog
from harness.catalog.source import DirectorySource, S3Source
from harness.config import BackupsConfig
from harness.crypto import masterkey
from harness.errors import DrillError
from tests.unit.test_catalog_source import FakeS3

UTC = dt.timezone.utc
DBS = ("auth", "agentic", "analytics", "cortex", "ontology")
FMT = "%Y-%m-%dT%H%M%SZ"
NOW = dt.datetime(2026, 3, 12, 6, 0, tzinfo=UTC)


def day(n: int, hour: int = 2) -> dt.datetime:
    """Day ``n`` of the synthetic history (day 0 = 2026-03-10) at ``hour`` UTC."""
    return dt.datetime(2026, 3, 10, hour, 0, tzinfo=UTC) + dt.timedelta(days=n)


def put(root: Path, rel: str, data: bytes = b"x", at: dt.datetime | None = None) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    if at:
        os.utime(p, (at.timestamp(), at.timestamp()))
    return p


def master_key_yaml(key: bytes = bytes(range(32)), encode: str = "base64") -> bytes:
    return masterkey.dump_master_key_backup(key, encode=encode).encode()  # type: ignore[arg-type]


def backups(root: Path, days: list[dt.datetime], *, skip: dict[int, set[str]] | None = None,
            warehouse: list[dt.datetime] | None = None, base: list[dt.datetime] | None = None,
            master_key: bool = True) -> Path:
    """A default-layout backup tree with a dump run per time in ``days``.

    ``skip`` maps an index of ``days`` to databases whose dump that run lacks.
    """
    skip = skip or {}
    for i, t in enumerate(days):
        ts = t.strftime(FMT)
        for db in DBS:
            if db not in skip.get(i, set()):
                put(root, f"postgres/dumps/{ts}/{db}.dump", f"{db}@{ts}".encode(), t)
    for t in days if warehouse is None else warehouse:
        ts = t.strftime(FMT)
        put(root, f"warehouse/{ts}/snapshot.json",
            b'{"tables": {"t1": {}, "t2": {}}}', t)
        put(root, f"warehouse/{ts}/wh/t1.sql", f"t1@{ts}".encode(), t)
        put(root, f"warehouse/{ts}/wh/t2.sql", f"t2@{ts}".encode(), t)
    for t in base if base is not None else days[:1]:
        ts = t.strftime(FMT)
        put(root, f"postgres/base/{ts}/PG_VERSION", b"16\n", t)
        put(root, f"postgres/base/{ts}/global/pg_control", b"\0" * 100, t)
    put(root, "postgres/wal/000000010000000000000001", b"\0" * 16, days[0])
    put(root, "objects/kb/org/1/doc.txt", b"hello", days[0])
    if master_key:
        put(root, "master-key/master-key.backup.yaml", master_key_yaml(), days[0])
    return root


def catalog(root: Path, **cfg: Any) -> Catalog:
    return Catalog(DirectorySource(root), BackupsConfig(source=str(root), **cfg))


def test_healthy_history_gives_the_newest_run_and_its_companions(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1), day(2)])
    rs = catalog(root).choose_restore_set()
    ts = day(2).strftime(FMT)
    assert rs.run == ts and rs.backup_time == day(2) and rs.flags == []
    assert sorted(rs.dumps) == sorted(DBS)
    assert rs.dumps["auth"].relpath == f"postgres/dumps/{ts}/auth.dump"
    assert rs.dumps["auth"].sha256 == hashlib.sha256(f"auth@{ts}".encode()).hexdigest()
    assert rs.warehouse is not None and rs.warehouse.run == ts
    assert sorted(rs.warehouse.tables) == ["t1", "t2"] and rs.warehouse.database == "wh"
    assert rs.master_key is not None and rs.master_key.sha256
    assert rs.base_backup is not None and rs.base_backup.run == day(0).strftime(FMT)
    # a folder: no single checksum, but the total size of its files
    assert rs.base_backup.sha256 is None and rs.base_backup.size == 3 + 100
    assert rs.wal_archive == str(root / "postgres/wal")
    assert rs.objects_root == str(root / "objects")
    assert f"auth.dump of run {ts} chosen: newest complete run" in rs.reasons
    assert all(a.sha256 for a in rs.artifacts() if a.store != "base-backup")
    assert len(rs.lineage()) == 5 + 3 + 1 + 1


def test_missing_database_in_newest_run_falls_back_and_flags_it(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1), day(2)], skip={2: {"analytics"}})
    rs = catalog(root).choose_restore_set()
    assert rs.run == day(1).strftime(FMT)
    assert any("newest dump run" in f and "analytics (no dump)" in f for f in rs.flags)
    assert any(f"dump run {day(2).strftime(FMT)} skipped: missing analytics" in r
               for r in rs.reasons)
    # the warehouse follows the chosen run, not the newest one
    assert rs.warehouse is not None and rs.warehouse.run == day(1).strftime(FMT)


def test_an_empty_dump_file_makes_a_run_incomplete(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)])
    put(root, f"postgres/dumps/{day(1).strftime(FMT)}/cortex.dump", b"", day(1))
    rs = catalog(root).choose_restore_set()
    assert rs.run == day(0).strftime(FMT)
    assert any("cortex (empty file)" in f for f in rs.flags)


def test_no_complete_run_is_an_error_listing_every_run(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)], skip={0: {"auth"}, 1: {"ontology"}})
    with pytest.raises(DrillError) as exc:
        catalog(root).choose_restore_set()
    text = exc.value.render()
    assert "no dump run holds all of auth, agentic" in text
    assert "missing auth (no dump)" in text and "missing ontology (no dump)" in text
    assert exc.value.store == "postgres" and exc.value.remedy


def test_skewed_warehouse_is_flagged_and_strict_raises(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)], warehouse=[day(0), day(1, hour=2) -
                                                         dt.timedelta(hours=10)])
    rs = catalog(root).choose_restore_set()
    assert any("10.0 h older than the dump run" in f for f in rs.flags)
    assert any("spans 10.0 h" in f for f in rs.flags)
    assert catalog(root, max_skew_hours=12).choose_restore_set().flags == []
    with pytest.raises(DrillError) as exc:
        catalog(root).choose_restore_set(strict=True)
    text = exc.value.render()
    assert "auth dump" in text and "warehouse snapshot" in text
    assert day(1).isoformat() in text and (day(1) - dt.timedelta(hours=10)).isoformat() in text


def test_warehouse_only_after_the_dumps_is_flagged(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0)], warehouse=[day(0, hour=3)])
    rs = catalog(root).choose_restore_set()
    assert rs.warehouse is not None and rs.warehouse.taken_at == day(0, hour=3)
    assert any("1.0 h after the dump run" in f for f in rs.flags)


def test_missing_master_key_is_a_flag_not_an_error(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0)], master_key=False)
    rs = catalog(root).choose_restore_set()
    assert rs.master_key is None
    assert any("master-key backup not found" in f for f in rs.flags)


def test_base_backup_at_or_before_and_time_limits(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1), day(2), day(3)],
                   base=[day(0), day(2, hour=1), day(3, hour=5)])
    cat = catalog(root)
    rs = cat.choose_restore_set()
    assert rs.run == day(3).strftime(FMT)
    assert rs.base_backup is not None and rs.base_backup.taken_at == day(2, hour=1)
    earlier = cat.choose_restore_set(at_or_before=day(1, hour=12))
    assert earlier.run == day(1).strftime(FMT)
    assert earlier.base_backup is not None and earlier.base_backup.taken_at == day(0)
    naive = cat.choose_restore_set(at_or_before=day(1, hour=12).replace(tzinfo=None))
    assert naive.run == earlier.run
    excl = cat.choose_restore_set(exclude_runs={day(3).strftime(FMT)})
    assert excl.run == day(2).strftime(FMT)
    assert any("excluded by the caller" in r for r in excl.reasons)
    assert excl.flags == []  # an excluded run is not "incomplete"
    with pytest.raises(DrillError, match="at or before"):
        cat.choose_restore_set(at_or_before=day(-1))


def test_checksums_off_leaves_sha256_empty(tmp_path: Path) -> None:
    rs = catalog(backups(tmp_path, [day(0)]), checksums=False).choose_restore_set()
    assert all(a.sha256 is None for a in rs.artifacts())


def test_custom_layout_and_timestamp_format(tmp_path: Path) -> None:
    fmt = "%Y%m%d_%H%M"
    for n in (0, 1):
        ts = day(n).strftime(fmt)
        for db in ("app", "audit"):
            put(tmp_path, f"pg/{db}/{db}-{ts}.sql.gz", f"{db}{n}".encode(), day(n))
        put(tmp_path, f"olap/{ts}/sales.orders.csv", b"1,2\n", day(n))
    put(tmp_path, "k8s/secret.yaml", master_key_yaml(), day(0))
    cfg = dict(postgres_dump="pg/{db}/{db}-{ts}.sql.gz", timestamp_format=fmt,
               warehouse_table="olap/{ts}/{database}.{table}.csv",
               warehouse_manifest="olap/{ts}/manifest.json", master_key="k8s/secret.yaml",
               base_backup="pitr/{ts}", wal_archive="pitr/wal",
               objects_replica="blobs/{bucket}/{key}",
               databases="app,audit")
    cat = catalog(tmp_path, **cfg)
    rs = cat.choose_restore_set()
    assert rs.run == day(1).strftime(fmt) and sorted(rs.dumps) == ["app", "audit"]
    assert rs.dumps["audit"].relpath == f"pg/audit/audit-{day(1).strftime(fmt)}.sql.gz"
    assert rs.warehouse is not None and rs.warehouse.database == "sales"
    assert list(rs.warehouse.tables) == ["orders"]
    assert rs.master_key is not None and rs.master_key.relpath == "k8s/secret.yaml"
    # no PITR and no replica in this layout: flagged, not fatal
    assert rs.base_backup is None and rs.wal_archive is None and rs.objects_root is None
    assert any("no base backup" in f for f in rs.flags)
    assert any("no manifest" in f for f in rs.flags)


def test_regex_metacharacters_in_the_layout(tmp_path: Path) -> None:
    pattern = "prod (eu)+/dumps[1]/{ts}/{db}.dump"
    for db in DBS:
        put(tmp_path, f"prod (eu)+/dumps[1]/{day(0).strftime(FMT)}/{db}.dump", b"good", day(0))
        # a decoy a regex-metacharacter pattern would also have matched, one day newer
        put(tmp_path, f"prod eu/dumps1/{day(1).strftime(FMT)}/{db}.dump", b"decoy", day(1))
    rs = catalog(tmp_path, postgres_dump=pattern).choose_restore_set()
    assert rs.run == day(0).strftime(FMT)
    assert rs.dumps["auth"].location == str(tmp_path / "prod (eu)+/dumps[1]" /
                                            day(0).strftime(FMT) / "auth.dump")


def test_dumps_without_timestamp_use_mtime(tmp_path: Path) -> None:
    for i, db in enumerate(DBS):
        put(tmp_path, f"latest/{db}.dump", b"d", day(0) + dt.timedelta(minutes=i))
    rs = catalog(tmp_path, postgres_dump="latest/{db}.dump").choose_restore_set()
    assert rs.backup_time == day(0) and rs.run == day(0).strftime(FMT)
    assert rs.dumps["ontology"].taken_at == day(0) + dt.timedelta(minutes=4)


def test_nothing_matches_says_what_was_searched_and_what_is_there(tmp_path: Path) -> None:
    put(tmp_path, "postgres/dumps/2026-03-10/auth.dump")
    put(tmp_path, "postgres/dumps/2026-03-11/auth.dump")
    with pytest.raises(DrillError) as exc:
        catalog(tmp_path).choose_restore_set()
    text = exc.value.render()
    assert "'postgres/dumps/{ts}/{db}.dump'" in text and "%Y-%m-%dT%H%M%SZ" in text
    assert f"{tmp_path / 'postgres/dumps'} holds: 2026-03-10/, 2026-03-11/" in text
    put(tmp_path / "other", "backups/x.dump")
    with pytest.raises(DrillError) as exc2:
        catalog(tmp_path / "other").choose_restore_set()
    assert "postgres/dumps does not exist" in exc2.value.render()
    assert "holds: backups/" in exc2.value.render()


def test_lists_every_store(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)])
    inv = catalog(root).inventory(checksums=True)
    assert len(inv["postgres-dump"]) == 10 and len(inv["warehouse"]) == 4
    assert len(inv["warehouse-manifest"]) == 2 and len(inv["base-backup"]) == 1
    assert [a.name for a in inv["objects"]] == ["kb/org/1/doc.txt"]
    assert inv["objects"][0].taken_at == day(0)  # no {ts}: the mtime
    assert inv["wal-archive"][0].sha256 == hashlib.sha256(b"\0" * 16).hexdigest()
    assert inv["base-backup"][0].sha256 is None


def test_s3_prefixed_source_gives_the_same_set(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)], skip={1: {"cortex"}})
    objects = {f"team/drill/{p.relative_to(root).as_posix()}": p.read_bytes()
               for p in root.rglob("*") if p.is_file()}
    objects["team/drill-old/postgres/dumps/2027-01-01T000000Z/auth.dump"] = b"not ours"
    s3 = S3Source("bk", "team/drill", FakeS3("bk", objects))
    cfg = BackupsConfig(source="s3://bk/team/drill")
    rs3 = Catalog(s3, cfg).choose_restore_set()
    rsd = catalog(root).choose_restore_set()
    assert rs3.run == rsd.run == day(0).strftime(FMT)
    assert rs3.dumps["auth"].location == f"s3://bk/team/drill/postgres/dumps/{rs3.run}/auth.dump"

    def strip(a: object) -> tuple:
        d = dataclasses.asdict(a)  # type: ignore[call-overload]
        return (d["store"], d["relpath"], d["size"], d["sha256"], d["run"])

    assert [strip(a) for a in rs3.artifacts()] == [strip(a) for a in rsd.artifacts()]
    assert rs3.objects_root == "s3://bk/team/drill/objects"
