"""upgrade.migrations: a pre-upgrade restore validation applies the target version's
migrations to the restored copy; every other check then runs on the migrated databases."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.base import CheckFailed, Measure
from harness.errors import DrillError, could_not_verify
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="upgrade.migrations",
                         title="Pre-upgrade: the target version's migrations apply to the "
                               "restored copy")
def test_migrations(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """Each migration file applies in its own transaction, in order, on the restored data."""
    report = drill_restored.migrations
    if report is None:
        raise CheckFailed("the migrations were not applied: the stores did not restore",
                          remedy="see restore.*")
    pg = drill_restored.endpoints.postgres
    drill_measure(migrations=len(report.steps),
                  seconds=round(sum(s.seconds for s in report.steps), 3),
                  target_postgres=pg.version if pg else "",
                  source_postgres=", ".join(sorted(set(
                      drill_restored.result.source_versions.values()))))
    failed = report.failed
    if failed is not None:
        done = len(report.steps) - 1
        raise CheckFailed(
            f"migration {failed.database}/{failed.file} failed after {done} applied: "
            f"{failed.error}",
            remedy="fix the migration before the upgrade; the restored copy shows the data "
                   "it meets")
    drill_measure.message(f"{len(report.steps)} migrations applied in "
                          f"{sum(s.seconds for s in report.steps):.2f} s from {report.folder}")


@pytest.mark.drill_check(id="upgrade.pg_upgrade",
                         title="Pre-upgrade: pg_upgrade --check accepts the point-in-time copy")
def test_pg_upgrade(drill_pitr: Any, drill_config: Any, drill_measure: Measure) -> None:
    """``pg_upgrade --check`` from the recovered copy to the target major finds nothing in
    the way (extensions, encodings, data types the target refuses)."""
    if isinstance(drill_pitr, DrillError):
        raise CheckFailed(f"no point-in-time copy to check: {drill_pitr.message}",
                          remedy="see restore.pitr")
    target = drill_config.upgrade.target_postgres_version
    check = getattr(drill_pitr.provider, "upgrade_check", None)
    if check is None:
        could_not_verify(f"the {drill_config.scratch.provider} provider cannot run pg_upgrade "
                         "on its recovered copy", remedy="run the pre-upgrade drill on the "
                         "local provider for this check")
    source = drill_pitr.endpoint.major
    drill_measure(source_postgres=source, target_postgres=target)
    try:
        report = check(drill_pitr.endpoint, target)
    except DrillError as exc:
        raise CheckFailed(f"pg_upgrade --check {source} -> {target} found problems: "
                          f"{(exc.detail or exc.message).strip()[-1500:]}",
                          remedy="resolve what pg_upgrade lists before upgrading") from exc
    verdict = "Clusters are compatible" if "Clusters are compatible" in report else "passed"
    drill_measure.message(f"pg_upgrade --check {source} -> {target} on the copy recovered to "
                          f"{drill_config.drill.pitr_target}: {verdict}")
