"""Posture checks on synthetic backup trees: each one passes when healthy and fails when broken."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import wal
from harness.catalog.catalog import Catalog
from harness.catalog.posture import ERROR, WARNING, PostureChecker, check_posture, daily_coverage
from harness.catalog.source import DirectorySource
from harness.config import BackupsConfig
from tests.unit.test_catalog_catalog import DBS, FMT, backups, day, master_key_yaml, put

MiB = 1 << 20


def checker(root: Path, now: dt.datetime, **kw: Any) -> PostureChecker:
    """Config keys go to ``[backups]``, the rest to the checker."""
    cfg = {k: kw.pop(k) for k in list(kw)
           if k in BackupsConfig.__dataclass_fields__ and k != "require_full_retention"}
    cat = Catalog(DirectorySource(root), BackupsConfig(source=str(root), **cfg))
    return PostureChecker(cat, now=now, use_pg_waldump=False, **kw)


def thirty_days(root: Path) -> Path:
    return backups(root, [day(n) for n in range(30)])


def test_daily_coverage_counts_gaps_and_short_history() -> None:
    today = dt.date(2026, 3, 20)
    have = {dt.date(2026, 3, d) for d in (15, 16, 18, 19)}
    cov = daily_coverage(have, days=7, today=today)
    # today's backup is not due yet: the window ends yesterday
    assert cov.window[-1] == dt.date(2026, 3, 19) and len(cov.window) == 7
    assert cov.missing_in_history == [dt.date(2026, 3, 17)]
    assert cov.missing_before_history == [dt.date(2026, 3, 13), dt.date(2026, 3, 14)]
    cov2 = daily_coverage(have | {today}, days=7, today=today)
    assert cov2.window[-1] == today
    known = daily_coverage(have, days=7, today=today, history_start=dt.date(2026, 3, 14))
    assert known.missing_in_history == [dt.date(2026, 3, 14), dt.date(2026, 3, 17)]


def test_healthy_thirty_days_pass_the_dump_checks(tmp_path: Path) -> None:
    chk = checker(thirty_days(tmp_path), day(29, hour=6))
    for f in (chk.dump_freshness(), chk.dump_retention(), chk.dump_completeness()):
        assert f.ok, f.message
    assert "all 30 days present" in chk.dump_retention().message


def test_a_missing_day_is_named(tmp_path: Path) -> None:
    root = thirty_days(tmp_path)
    shutil.rmtree(root / "postgres/dumps" / day(15).strftime(FMT))
    f = checker(root, day(29, hour=6)).dump_retention()
    assert not f.ok and f.severity == ERROR
    assert "2026-03-25" in f.message and "29 of 30 days present" in f.message
    assert f.details["missing"] == ["2026-03-25"]


def test_a_day_with_only_an_incomplete_run_counts_as_missing(tmp_path: Path) -> None:
    root = thirty_days(tmp_path)
    (root / "postgres/dumps" / day(20).strftime(FMT) / "cortex.dump").unlink()
    chk = checker(root, day(29, hour=6))
    ret = chk.dump_retention()
    assert not ret.ok and ret.details["missing"] == ["2026-03-30"]
    comp = chk.dump_completeness()
    assert not comp.ok and f"{day(20).strftime(FMT)}: missing cortex (no dump)" in comp.message


def test_short_history_is_a_warning_unless_full_retention_is_required(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1), day(2)])
    lax = checker(root, day(2, hour=6)).dump_retention()
    assert not lax.ok and lax.severity == WARNING
    assert "history starts on 2026-03-10, 3 of 30 days present" in lax.message
    strict = checker(root, day(2, hour=6), require_full_retention=True).dump_retention()
    assert not strict.ok and strict.severity == ERROR
    known = checker(root, day(2, hour=6), history_start=dt.date(2026, 3, 8)).dump_retention()
    assert known.severity == ERROR and known.details["missing"] == ["2026-03-08", "2026-03-09"]
    assert checker(root, day(2, hour=6), dump_retention_days=3).dump_retention().ok


def test_stale_dumps_fail_freshness(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)])
    assert checker(root, day(1, hour=20)).dump_freshness().ok
    f = checker(root, day(2, hour=5)).dump_freshness()
    assert not f.ok and "27.0 h old" in f.message and "dump_max_age_hours=26" in f.message
    assert "auth.dump" in f.message


def test_warehouse_retention_names_a_missing_day(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(n) for n in range(14)])
    assert checker(root, day(13, hour=6)).warehouse_retention().ok
    shutil.rmtree(root / "warehouse" / day(5).strftime(FMT))
    f = checker(root, day(13, hour=6)).warehouse_retention()
    assert not f.ok and f.details["missing"] == ["2026-03-15"]


def label(start: str) -> bytes:
    return (f"START WAL LOCATION: 0/{int(start[16:], 16):X}000028 (file {start})\n"
            "CHECKPOINT LOCATION: 0/0\nSTART TIME: 2026-03-10 02:00:00 UTC\n"
            "START TIMELINE: 1\n").encode()


def pitr_tree(root: Path, names: list[str], seg_size: int, start: str,
              base_at: dt.datetime) -> Path:
    """A base backup whose WAL starts at ``start`` and an archive of sparse segments."""
    backups(root, [day(0), day(1)], base=[])
    ts = base_at.strftime(FMT)
    put(root, f"postgres/base/{ts}/PG_VERSION", b"16\n", base_at)
    put(root, f"postgres/base/{ts}/backup_label", label(start), base_at)
    wal_dir = root / "postgres/wal"
    shutil.rmtree(wal_dir)
    wal_dir.mkdir()
    for n in names:
        with (wal_dir / n).open("wb") as fh:
            fh.truncate(seg_size)  # sparse: size is what the arithmetic reads
    for extra in (f"{start}.00000028.backup", "00000002.history",
                  "000000010000000000000099.partial"):
        (wal_dir / extra).write_bytes(b"ignored")
    return root


def seq(first: int, last: int, per: int) -> list[str]:
    return [f"00000001{n // per:08X}{n % per:08X}" for n in range(first, last + 1)]


def test_wal_arithmetic_with_1mib_segments(tmp_path: Path) -> None:
    names = seq(5, 9, 4096)
    root = pitr_tree(tmp_path / "ok", names, MiB, names[0], day(0))
    f = checker(root, day(1, hour=6)).wal_checks()[0]
    assert f.ok, f.message
    assert f.details["segments_expected"] == 5 and f.details["segments_per_xlogid"] == 4096
    assert f.details["segment_size_from"] == "file sizes"
    os.unlink(root / "postgres/wal" / names[2])
    bad = checker(root, day(1, hour=6)).wal_checks()[0]
    assert not bad.ok and names[2] in bad.message and bad.details["gaps"] == [names[2]]


def test_wal_arithmetic_with_16mib_segments_across_an_xlogid(tmp_path: Path) -> None:
    # FE, FF, then the next log: continuous at 16 MiB (256 segments per log)
    names = ["0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000"]
    root = pitr_tree(tmp_path / "16", names, 16 * MiB, names[0], day(0))
    f = checker(root, day(1, hour=6)).wal_checks()[0]
    assert f.ok, f.message
    assert f.details["segments_per_xlogid"] == 256 and f.details["wal_segment_size"] == 16 * MiB
    # the same names at 1 MiB (4096 per log) leave 0x100..0xFFF of log 0 missing
    assert wal.find_gaps([wal.segno(n, MiB) for n in names], wal.segno(names[0], MiB),
                         wal.segno(names[-1], MiB)) == [(0x100, 0xFFF)]
    assert wal.describe_gaps([(0x100, 0xFFF)], 1, MiB) == [
        "000000010000000000000100 to 000000010000000000000FFF (3840 segments)"]


def test_a_short_segment_is_reported(tmp_path: Path) -> None:
    names = seq(5, 8, 4096)
    root = pitr_tree(tmp_path, names, MiB, names[0], day(0))
    with (root / "postgres/wal" / names[1]).open("r+b") as fh:
        fh.truncate(8192)
    f = checker(root, day(1, hour=6)).wal_checks()[0]
    assert not f.ok and f.details["wrong_size"] == [names[1]]


def test_wal_retention_needs_a_base_backup_older_than_the_window(tmp_path: Path) -> None:
    names = seq(5, 9, 4096)
    root = pitr_tree(tmp_path, names, MiB, names[0], day(0))
    # young deployment: history starts after the window -> warning
    young = checker(root, day(1, hour=6)).wal_checks()[1]
    assert not young.ok and young.severity == WARNING and "history starts on" in young.message
    # eight days later the only base backup is older than the window -> ok
    assert checker(root, day(8, hour=6)).wal_checks()[1].ok
    # old dumps but only a young base backup: a real shortfall -> error
    older = backups(tmp_path / "o", [day(-20)], base=[])
    shutil.copytree(older / "postgres/dumps", root / "postgres/dumps", dirs_exist_ok=True)
    f = checker(root, day(1, hour=6)).wal_checks()[1]
    assert not f.ok and f.severity == ERROR and "Keep at least one base backup" in f.message


def test_no_pitr_at_all_is_a_warning_and_half_of_it_an_error(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0)], base=[])
    shutil.rmtree(root / "postgres/wal")
    f = checker(root, day(0, hour=6)).wal_checks()[0]
    assert not f.ok and f.severity == WARNING and "not set up" in f.message
    put(root, "postgres/wal/000000010000000000000001", b"x")
    g = checker(root, day(0, hour=6)).wal_checks()[0]
    assert not g.ok and g.severity == ERROR and "no base backup" in g.message


def test_master_key_checks(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0)])
    key = bytes(range(32))
    good = checker(root, day(0, hour=6)).master_key()
    assert good.ok and good.details["key_bytes"] == 32
    path = root / "master-key/master-key.backup.yaml"
    path.write_bytes(master_key_yaml(key, encode="hex"))
    hexed = checker(root, day(0, hour=6)).master_key()
    assert not hexed.ok and "48 bytes" in hexed.details["kek_problem"]
    path.write_bytes(b"kind: ConfigMap\nmetadata: {name: master-key}\n")
    assert not checker(root, day(0, hour=6)).master_key().ok
    path.unlink()
    gone = checker(root, day(0, hour=6)).master_key()
    assert not gone.ok and "not found" in gone.message and str(path) in gone.message


def test_objects_replica_reports_missing_and_mismatched(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0)])
    put(root, "objects/kb/org/2/b.bin", b"abc")
    sha = hashlib.sha256(b"hello").hexdigest()
    chk = checker(root, day(0, hour=6))
    assert chk.objects_replica([("kb", "org/1/doc.txt", 5, sha),
                                ("kb", "org/2/b.bin", 3, None)]).ok
    f = chk.objects_replica([("kb", "org/1/doc.txt", 5, "0" * 64), ("kb", "org/2/b.bin", 4, None),
                             ("kb", "org/3/gone.txt", 1, None)])
    assert not f.ok
    assert f.details["missing"] == ["kb/org/3/gone.txt"]
    assert [m["object"] for m in f.details["mismatched"]] == ["kb/org/1/doc.txt", "kb/org/2/b.bin"]


def test_objects_replica_reuses_hashes_the_restore_computed(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    root = backups(tmp_path, [day(0)])
    sha = hashlib.sha256(b"hello").hexdigest()
    chk = checker(root, day(0, hour=6))
    monkeypatch.setattr(chk.source, "sha256",
                        lambda rel: pytest.fail(f"{rel} was read again"))
    refs = [("kb", "org/1/doc.txt", 5, sha)]
    assert chk.objects_replica(refs, known={"kb/org/1/doc.txt": sha}).ok
    # The hash the restore computed is judged like one read here: a differing one fails.
    wrong = chk.objects_replica(refs, known={"kb/org/1/doc.txt": "1" * 64})
    assert not wrong.ok and wrong.details["mismatched"][0]["found_sha256"] == "1" * 64


def test_the_report_holds_every_check_and_no_key_material(tmp_path: Path) -> None:
    names = seq(5, 6, 4096)
    root = pitr_tree(tmp_path, names, MiB, names[0], day(0))
    cat = Catalog(DirectorySource(root), BackupsConfig(source=str(root)))
    report = check_posture(cat, now=day(1, hour=6), object_references=[],
                           use_pg_waldump=False)
    assert [f.id for f in report.findings] == [
        "dump-freshness", "dump-retention", "dump-completeness", "wal-continuity",
        "wal-retention", "warehouse-retention", "objects-replica", "master-key"]
    assert report.ok, report.render()
    assert len(report.warnings) == 3  # short history: dumps, WAL, warehouse
    text = json.dumps(report.to_dict()) + report.render()
    key = bytes(range(32))
    import base64

    assert base64.b64encode(key).decode() not in text and key.hex() not in text
    assert report.finding("master-key").ok
    with pytest.raises(KeyError):
        report.finding("nope")
    assert set(DBS) <= set(report.finding("dump-completeness").details["databases"])


@pytest.mark.parametrize(("stderr", "rc", "continuous"), [
    ("", 0, True),
    # the end of WAL that was not switched out: an unreadable record in the last segment
    ("pg_waldump: error: error in WAL record at 0/1D02918: invalid record length at "
     "0/1D02940: expected at least 24, got 0", 1, True),
    ('pg_waldump: error: could not find file "00000001000000000000001C": No such file or '
     "directory", 1, False),
    ("pg_waldump: error: could not read from file 00000001000000000000001C, offset 8192: "
     "read 0 of 8192", 1, False),
    ("pg_waldump: error: error in WAL record at 0/1B00100: incorrect resource manager data "
     "checksum in record at 0/1C00028", 1, False),
    # a garbage prev-link must not be mistaken for the position reached
    ("pg_waldump: error: error in WAL record at 0/1B00028: record with incorrect prev-link "
     "FFFFFFFF/FE4FFFD7 at 0/1B00060", 1, False),
    ("pg_waldump: error: something else entirely", 1, False),
])
def test_pg_waldump_verdicts(stderr: str, rc: int, continuous: bool,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def fake_run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, rc, "", stderr)

    monkeypatch.setattr(wal.subprocess, "run", fake_run)
    dump = wal.run_waldump("pg_waldump", Path("/archive"), "00000001000000000000001B",
                           "00000001000000000000001D")
    assert dump.continuous(wal.segno("00000001000000000000001D", MiB), MiB) is continuous
