"""license.valid: the license restored with the auth database is valid and has time left."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.checks.base import Measure, postgres, settle
from harness.checks.license import check_license, fetch_license_bundle
from harness.profile import Profile
from harness.restore.result import RestoredPlatform

CONTROLS = ["ISO27001:A.8.13", "ISO27001:A.5.30", "SOC2:A1.3", "NIST:CP-10", "DORA:Art.12"]


@pytest.mark.drill_check(id="license.valid", stores=("postgres",), controls=CONTROLS,
                         title="License verifies, is not expired and has enough days left")
def test_valid(drill_restored: RestoredPlatform, drill_profile: Profile,
               drill_measure: Measure) -> None:
    """The platform_config license bundle's JWT verifies with the documented claims."""
    section = drill_profile.license
    with postgres(drill_restored, section.database) as conn:
        bundle = fetch_license_bundle(conn, section)
    min_days = section.min_days_left
    upgrade = drill_restored.config.upgrade
    if upgrade.enabled:
        # Before an upgrade the license must outlast the upgrade window too.
        min_days = max(min_days, upgrade.license_min_days)
    settle(check_license(bundle, now=dt.datetime.now(dt.timezone.utc),
                         min_days_left=min_days,
                         trusted_public_key_file=section.trusted_public_key_file), drill_measure)
