"""integrity.*: pg_amcheck over the restored databases; pg_verifybackup over the base backup."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.base import Measure, require_restored, settle
from harness.checks.integrity import check_amcheck, check_base_backup, run_amcheck
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="integrity.amcheck", stores=("postgres",),
                         title="pg_amcheck: no corruption in tables and indexes")
def test_amcheck(drill_restored: RestoredPlatform, drill_profile: Profile,
                 drill_measure: Measure) -> None:
    """pg_amcheck --install-missing over the profile's databases exits 0."""
    require_restored(drill_restored, "postgres")
    pg = drill_restored.endpoints.postgres
    assert pg is not None
    section = drill_profile.integrity
    run = run_amcheck(pg, section)
    settle(check_amcheck(run, section.databases, f"{pg.version} ({pg.bindir})"), drill_measure)


@pytest.mark.drill_check(id="integrity.basebackup", stores=(),
                         title="pg_verifybackup: the newest base backup matches its manifest")
def test_basebackup(drill_catalog: Any, drill_measure: Measure,
                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """The newest base backup passes pg_verifybackup (files, checksums, WAL)."""
    source, catalog = drill_catalog
    settle(check_base_backup(catalog, source, tmp_path_factory.mktemp("basebackup")),
           drill_measure)
