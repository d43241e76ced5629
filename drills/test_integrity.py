"""integrity.amcheck: pg_amcheck finds no corruption in the restored databases."""

from __future__ import annotations

import pytest

from harness.checks.base import Measure, require_restored, settle
from harness.checks.integrity import check_amcheck, run_amcheck
from harness.drill import RestoredPlatform
from harness.profile import Profile


@pytest.mark.drill_check(id="integrity.amcheck",
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
