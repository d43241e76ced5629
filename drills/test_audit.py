"""audit.yesterday: the audit log shows yesterday's events (runbook step 4), and the newest
restored event measures the recovery point (rpo_seconds)."""

from __future__ import annotations

import pytest

from harness.checks.audit import check_audit, fetch_audit
from harness.checks.base import Measure, postgres, settle
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="audit.yesterday", stores=("postgres",),
                         title="Audit log shows yesterday's events; RPO within target")
def test_yesterday(drill_restored: RestoredPlatform, drill_profile: Profile,
                   drill_measure: Measure) -> None:
    """Events exist in the day before the backup and the newest is within the RPO."""
    section = drill_profile.audit
    with postgres(drill_restored, section.database) as conn:
        facts = fetch_audit(conn, section, drill_restored.backup_time)
    settle(check_audit(facts, section, fallback_loss_seconds=drill_restored.rpo_loss_seconds),
           drill_measure)
