"""secrets.decrypt: the restored secrets decrypt with the restored master key (the runbook's
hard prerequisite to a working PostgreSQL restore)."""

from __future__ import annotations

import pytest

from harness.checks.base import Measure, postgres, settle
from harness.checks.kubernetes import on_the_cluster
from harness.checks.secrets import check_secrets, fetch_secrets
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="secrets.decrypt", stores=("postgres", "master-key"),
                         title="Encrypted secrets decrypt with the restored master key")
def test_decrypt(drill_restored: RestoredPlatform, drill_profile: Profile,
                 drill_measure: Measure) -> None:
    """Every encrypted secret row decrypts (Dapr dapr.io/enc/v1) with the master key."""
    section = drill_profile.secrets
    with postgres(drill_restored, section.database) as conn:
        rows = fetch_secrets(conn, section)
    result = drill_restored.result
    dep = drill_restored.deployment
    if dep is not None and dep.installed:
        # On a deployed platform the key that matters is the one it runs with: the
        # namespace's master-key Secret after the chart.
        outcome = check_secrets(rows, dep.cluster_key, dep.cluster_key_error,
                                min_secrets=section.min_secrets)
        settle(on_the_cluster(outcome, dep), drill_measure)
        return
    settle(check_secrets(rows, result.master_key, result.master_key_error,
                         min_secrets=section.min_secrets), drill_measure)
