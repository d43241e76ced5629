"""A restore set proves its own time: members that record when they were made must agree."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from harness.catalog.timeline import SetRefused
from harness.tools.dumpinfo import parse_dump_header
from tests.unit.test_catalog_catalog import DBS, FMT, backups, catalog, day, put

UTC = dt.timezone.utc


def _int(value: int) -> bytes:
    return bytes([1 if value < 0 else 0]) + abs(value).to_bytes(4, "little")


def _str(text: str) -> bytes:
    raw = text.encode()
    return _int(len(raw)) + raw


def pgdmp(db: str, created: dt.datetime, *, zone: dt.tzinfo = UTC) -> bytes:
    """The header of a ``pg_dump -Fc`` archive (format 1.14) made at ``created``."""
    local = created.astimezone(zone)
    isdst = 1 if local.dst() else 0
    fields = (local.second, local.minute, local.hour, local.day, local.month - 1,
              local.year - 1900, isdst)
    return (b"PGDMP" + bytes([1, 14, 0, 4, 8, 1]) + _int(6)
            + b"".join(_int(v) for v in fields)
            + _str(db) + _str("16.14") + _str("16.14") + b"\0" * 64)


def dated_backups(root: Path, days: list[dt.datetime], *, lag: dt.timedelta = dt.timedelta(
        seconds=5), zone: dt.tzinfo = UTC) -> Path:
    """``backups`` with real dump headers, manifests with taken_at and a backup_label."""
    backups(root, days)
    for t in days:
        ts = t.strftime(FMT)
        for db in DBS:
            put(root, f"postgres/dumps/{ts}/{db}.dump", pgdmp(db, t + lag, zone=zone), t)
        put(root, f"warehouse/{ts}/snapshot.json",
            json.dumps({"taken_at": t.isoformat(), "tables": {"t1": {}, "t2": {}}}).encode(), t)
    base = days[0].strftime(FMT)
    put(root, f"postgres/base/{base}/backup_label", label(days[0] + lag), days[0])
    return root


def label(start: dt.datetime, zone: str = "UTC") -> bytes:
    return (f"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
            f"CHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\n"
            f"START TIME: {start.strftime('%Y-%m-%d %H:%M:%S')} {zone}\n"
            f"START TIMELINE: 1\n").encode()


def dump_of(root: Path, when: dt.datetime, db: str) -> Path:
    return root / f"postgres/dumps/{when.strftime(FMT)}/{db}.dump"


def test_header_parser_reads_the_creation_time_in_the_given_zone() -> None:
    made = dt.datetime(2026, 7, 1, 1, 30, 5, tzinfo=UTC)
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    header = parse_dump_header(pgdmp("auth", made, zone=paris), "x.dump")
    assert header.created == "2026-07-01 03:30:05" and header.isdst == 1
    assert header.created_at(paris) == made
    assert header.created_at(UTC) == made + dt.timedelta(hours=2)


def test_members_made_by_their_run_pass_and_say_so(tmp_path: Path) -> None:
    root = dated_backups(tmp_path, [day(0), day(1), day(2)])
    rs = catalog(root).choose_restore_set()
    summary = rs.reasons[-1]
    assert summary.startswith("member times:")
    for db in DBS:
        assert f"{db} dump made +5 s from its run's time (pg_dump header)" in summary
    assert "warehouse snapshot manifest made +0 s" in summary


@pytest.mark.parametrize("db", DBS)
def test_a_dump_copied_from_the_oldest_run_is_refused_naming_file_time_and_origin(
        tmp_path: Path, db: str) -> None:
    root = dated_backups(tmp_path, [day(0), day(1), day(2)])
    shutil.copyfile(dump_of(root, day(0), db), dump_of(root, day(2), db))
    with pytest.raises(SetRefused) as err:
        catalog(root).choose_restore_set()
    text = err.value.render()
    assert err.value.run == day(2).strftime(FMT) and len(err.value.problems) == 1
    assert f"postgres/dumps/{day(2).strftime(FMT)}/{db}.dump" in text
    assert (day(0) + dt.timedelta(seconds=5)).isoformat() in text
    assert "48.0 h before the time its name gives" in text
    assert f"copy of run {day(0).strftime(FMT)}'s file" in text
    assert "drill.fallback" in text


def test_order_catches_a_stale_file_inside_a_generous_skew(tmp_path: Path) -> None:
    root = dated_backups(tmp_path, [day(0), day(1), day(2)])
    shutil.copyfile(dump_of(root, day(1), "cortex"), dump_of(root, day(2), "cortex"))
    with pytest.raises(SetRefused) as err:
        catalog(root, max_skew_hours=72).choose_restore_set()
    text = err.value.render()
    assert "no later than" in text and "of the earlier run" in text
    assert f"copy of run {day(1).strftime(FMT)}'s file" in text


def test_spread_is_checked_when_names_carry_no_time(tmp_path: Path) -> None:
    # Dumps named without {ts}: only their own times can show one is from another day.
    for db in DBS:
        made = day(2) - (dt.timedelta(days=1) if db == "ontology" else dt.timedelta(0))
        put(tmp_path, f"latest/{db}.dump", pgdmp(db, made), day(2))
    cat = catalog(tmp_path, postgres_dump="latest/{db}.dump")
    with pytest.raises(SetRefused) as err:
        cat.choose_restore_set()
    assert "latest/ontology.dump" in err.value.render()
    assert "24.0 h from the other members" in err.value.render()


def test_base_backup_and_manifest_are_dated_too(tmp_path: Path) -> None:
    root = dated_backups(tmp_path, [day(0), day(1)])
    put(root, f"postgres/base/{day(0).strftime(FMT)}/backup_label", label(day(0) - dt.timedelta(
        days=3)), day(0))
    with pytest.raises(SetRefused) as err:
        catalog(root).choose_restore_set()
    assert "the base backup postgres/base/" in err.value.render()
    assert "backup_label START TIME" in err.value.render()
    root2 = dated_backups(tmp_path / "two", [day(0), day(1)])
    put(root2, f"warehouse/{day(1).strftime(FMT)}/snapshot.json",
        json.dumps({"taken_at": day(0).isoformat(), "tables": {"t1": {}, "t2": {}}}).encode(),
        day(1))
    with pytest.raises(SetRefused) as err2:
        catalog(root2).choose_restore_set()
    assert "the warehouse snapshot manifest" in err2.value.render()


def test_source_timezone_reads_local_headers(tmp_path: Path) -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    root = dated_backups(tmp_path, [day(0), day(1)], zone=paris)
    with pytest.raises(SetRefused):  # read as UTC, every dump is an hour off
        catalog(root, max_skew_hours=0.5).choose_restore_set()
    rs = catalog(root, max_skew_hours=0.5, source_timezone="Europe/Paris").choose_restore_set()
    assert "+5 s from its run's time" in rs.reasons[-1]


def test_undated_members_are_noted_not_refused(tmp_path: Path) -> None:
    root = backups(tmp_path, [day(0), day(1)])  # dumps without a pg_dump header
    rs = catalog(root).choose_restore_set()
    assert "auth dump: not dated (" in rs.reasons[-1]
    assert catalog(root).choose_restore_set(verify_times=False).reasons[-1] != rs.reasons[-1]


def test_a_refused_set_falls_back_when_asked(tmp_path: Path) -> None:
    from harness.config import resolve
    from harness.drill import restore_latest

    root = dated_backups(tmp_path, [day(0), day(1), day(2)])
    shutil.copyfile(dump_of(root, day(0), "agentic"), dump_of(root, day(2), "agentic"))
    cat = catalog(root)
    restored: list[Any] = []

    def fake_restore(config: Any, endpoints: Any, source: Any, rs: Any, staging: Any,
                     **_: Any) -> Any:
        from harness.restore.result import RestoreResult

        restored.append(rs.run)
        return RestoreResult(restore_set=rs)

    import harness.drill as drill

    original = drill.restore_set_into
    drill.restore_set_into = fake_restore  # type: ignore[assignment]
    try:
        strict = resolve(environ={}, arguments={"backups": {"source": str(root)}})
        with pytest.raises(SetRefused):
            restore_latest(strict, cat.source, cat, lambda: (None, tmp_path))  # type: ignore[arg-type,return-value]
        lenient = resolve(environ={}, arguments={"backups": {"source": str(root)},
                                                 "drill": {"fallback": True}})
        platform = restore_latest(lenient, cat.source, cat, lambda: (None, tmp_path))  # type: ignore[arg-type,return-value]
    finally:
        drill.restore_set_into = original  # type: ignore[assignment]
    assert restored == [day(1).strftime(FMT)]
    assert platform.fallback_from is not None and platform.rpo_loss_seconds == 86400
    assert "refused" in platform.notes[0] and "agentic.dump" in platform.notes[0]
