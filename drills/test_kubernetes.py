"""k8s.*: the runbook's full DR on a cluster (``scratch.provider = "kubernetes"`` only).

The Kubernetes provider restores the stores, then creates the backed-up master-key Secret,
installs the platform chart on the restored stores and waits for its rollout
(harness/scratch/kubernetes.py). These checks prove each of those steps; on other providers
they are deselected (drills/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.base import Measure, postgres, settle
from harness.checks.kubernetes import (
    MIGRATIONS_SQL,
    check_master_key,
    check_rollout,
    check_versions,
)
from harness.records import DATABASES
from harness.restore.result import RestoredPlatform


def _migrated(platform: RestoredPlatform) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for db in DATABASES:
        if db not in platform.result.databases:
            continue
        with postgres(platform, db) as conn:
            row: Any = conn.execute(MIGRATIONS_SQL).fetchone()
            out[db] = str(row[0]) if row and row[0] is not None else None
    return out


@pytest.mark.drill_check(id="k8s.versions",
                         title="Scratch cluster and chart run the source's versions")
def test_versions(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """Kubernetes version as the source cluster; chart appVersion as the backups' Scrydon."""
    kc = drill_restored.config.kubernetes
    settle(check_versions(drill_restored.deployment, drill_restored.deployment_note,
                          expected_kubernetes=kc.kubernetes_version,
                          expected_platform=kc.platform_version,
                          restored=_migrated(drill_restored)), drill_measure)


@pytest.mark.drill_check(id="k8s.master-key",
                         title="master-key Secret restored before the chart and kept by it")
def test_master_key(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The backed-up Secret existed before helm install and still holds the backup's key."""
    result = drill_restored.result
    settle(check_master_key(drill_restored.deployment, drill_restored.deployment_note,
                            result.master_key, result.master_key_error), drill_measure)


@pytest.mark.drill_check(id="k8s.rollout", title="Every platform workload becomes ready")
def test_rollout(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The chart's Deployments/StatefulSets roll out within kubernetes.rollout_timeout."""
    settle(check_rollout(drill_restored.deployment, drill_restored.deployment_note),
           drill_measure)
