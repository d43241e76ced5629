"""posture.*: the backups meet the runbook's baseline, judged without restoring them.

Cadence and retention (daily dumps kept 30 days, WAL archived continuously for 7 days,
warehouse snapshots daily for 14 days), completeness of each run, continuity of the WAL
archive (what pg_waldump says), the replica holding every indexed object, the master-key
backup present and usable.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog.posture import PostureChecker, PostureReport, check_posture
from harness.checks.base import CheckFailed, Measure, postgres
from harness.errors import EXIT_FAILED
from harness.profile import Profile
from harness.records import utcnow
from harness.restore.result import RestoredPlatform

FINDINGS = ("dump-freshness", "dump-retention", "dump-completeness", "wal-continuity",
            "wal-retention", "warehouse-retention", "objects-replica", "master-key")


def _object_references(platform: RestoredPlatform, profile: Profile) -> list[tuple[Any, ...]]:
    """Every (bucket, key, size, sha256) the restored indexes point at."""
    refs: list[tuple[Any, ...]] = []
    with postgres(platform, profile.kb.database) as conn:
        for _id, bucket, key, size, sha in conn.execute(profile.kb.index_sql):
            refs.append((bucket, key, size, sha))
    nb = profile.consistency.notebooks
    with postgres(platform, nb.database) as conn:
        for _id, bucket, key, size in conn.execute(nb.index_sql):
            refs.append((bucket, key, size, None))
    return refs


@pytest.fixture(scope="session")
def drill_posture(drill_config: Any, drill_catalog: Any) -> PostureReport:
    """The posture report of the configured backups, from the catalogue alone: no check of it
    waits for (or depends on) a restore."""
    _source, catalog = drill_catalog
    return check_posture(catalog,
                         require_full_retention=drill_config.backups.require_full_retention)


@pytest.fixture(scope="session")
def drill_replica(drill_config: Any, drill_catalog: Any, drill_restored: RestoredPlatform,
                  drill_profile: Profile) -> PostureReport:
    """The replica-coverage finding, which needs the restored document index."""
    _source, catalog = drill_catalog
    report = PostureReport(source=catalog.source.root, checked_at=utcnow())
    try:
        refs = _object_references(drill_restored, drill_profile)
    except CheckFailed:
        return report  # the index did not restore: the check says so itself
    # The restore hashed every object it uploaded from the replica: those hashes are reused
    # rather than reading (or downloading) the whole replica a second time.
    drill_restored.result.wait("objects")
    uploaded = drill_restored.result.objects
    report.findings.append(PostureChecker(catalog).objects_replica(
        refs, known=uploaded.hashes if uploaded is not None else None))
    return report


def _settle_finding(finding: str, report: PostureReport, measure: Measure) -> None:
    """An error fails the check; a warning passes and says why (e.g. a young history)."""
    found = report.get(finding)
    if found is None:
        raise CheckFailed(f"the posture check {finding} produced no result",
                          remedy="the document index did not restore; see restore.postgres"
                          if finding == "objects-replica" else None)
    measure(**{k: v for k, v in found.details.items()
               if isinstance(v, (int, float, str, bool))})
    if found.ok or found.severity == "warning":
        measure.message(found.message)
        return
    if found.cause is not None and found.cause.exit_code != EXIT_FAILED:
        raise found.cause  # the source could not be read: not a verdict on the backups
    raise CheckFailed(found.message)


def _make_check(finding: str) -> Any:
    report = "drill_replica" if finding == "objects-replica" else "drill_posture"

    # Posture is judged from the backup source; only the replica's coverage reads the
    # restored document index (and reuses the object restore's hashes).
    @pytest.mark.drill_check(id=f"posture.{finding}",
                             stores=("postgres", "objects") if finding == "objects-replica"
                             else (),
                             title=f"Backup posture: {finding.replace('-', ' ')}")
    def check(request: pytest.FixtureRequest, drill_measure: Measure) -> None:
        _settle_finding(finding, request.getfixturevalue(report), drill_measure)

    check.__name__ = check.__qualname__ = "test_" + finding.replace("-", "_")
    check.__doc__ = f"Posture finding '{finding}' of the backup source."
    return check


# One drill check per finding, each with its own stable id.
for _finding in FINDINGS:
    globals()["test_" + _finding.replace("-", "_")] = _make_check(_finding)
