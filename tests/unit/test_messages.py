"""Messages that must name the cause, not crash or mislead."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from harness.catalog.posture import PostureReport
from harness.checks.base import CheckFailed
from harness.checks.integrity import check_base_backup
from harness.errors import CouldNotVerify
from tests.unit.test_catalog_catalog import backups, catalog, day


class Measure:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def __call__(self, **values: object) -> None:
        self.values.update(values)

    def message(self, text: str) -> None:
        self.values["message"] = text


def test_objects_replica_without_a_restored_index_says_so_instead_of_a_key_error() -> None:
    from drills.test_posture import _settle_finding

    report = PostureReport(source="/backups", checked_at=dt.datetime.now(dt.timezone.utc))
    with pytest.raises(CheckFailed) as err:
        _settle_finding("objects-replica", report, Measure())
    assert "the posture check objects-replica produced no result" in err.value.message
    assert "see restore.postgres" in (err.value.remedy or "")


def test_base_backup_pattern_matching_nothing_names_pattern_and_folder(tmp_path: Path) -> None:
    root = backups(tmp_path / "b", [day(0), day(1)])
    cat = catalog(root, base_timestamp_format="%Y%m%d")  # the folders are named otherwise
    with pytest.raises(CouldNotVerify) as err:
        check_base_backup(cat, cat.source, tmp_path / "staging")
    text = str(err.value)
    assert "backups.base_backup = 'postgres/base/{ts}'" in text
    assert "'%Y%m%d'" in text
    assert f"holds: {day(0).strftime('%Y-%m-%dT%H%M%SZ')}/" in text
    assert "holds no base backup" not in text
