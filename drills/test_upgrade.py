"""upgrade.migrations: a pre-upgrade restore validation applies the target version's
migrations to the restored copy; every other check then runs on the migrated databases."""

from __future__ import annotations

import pytest

from harness.checks.base import CheckFailed, Measure
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
