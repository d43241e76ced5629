"""Pre-upgrade restore validation: the reference backups (PostgreSQL 16) restored into
PostgreSQL 18, a sample migration folder applied, every check run on the migrated copy,
``pg_upgrade --check`` 16 -> 18 on a point-in-time copy; and
the three upgrade faults: a migration that fails, one that silently breaks sign-in, and a
license that expires inside the upgrade window.

PostgreSQL 18 here (the pip build) has no contrib amcheck, so ``integrity.amcheck`` is
could-not-verify on it and the runs allow unverified checks; everything else must pass.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_drills import DrillRun, private_dir, run_drills

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIGRATIONS = {
    "auth/001_user_upgraded_at.sql":
        'ALTER TABLE "user" ADD COLUMN "upgradedAt" timestamptz;\n'
        'UPDATE "user" SET "upgradedAt" = now();\n',
    "agentic/001_schema_version.sql":
        "CREATE TABLE schema_version (version text NOT NULL);\n"
        "INSERT INTO schema_version VALUES ('2.0.0');\n",
}
FAILING = {"auth/002_broken.sql": 'ALTER TABLE "no_such_table" ADD COLUMN x int;\n'}
# Rewrites every credential hash into one no password matches: sign-in breaks, SQL succeeds.
BREAKS_SIGNIN = {"auth/002_rehash.sql":
                 "UPDATE \"account\" SET \"password\" = 'deadbeef:' || md5(\"id\") "
                 "WHERE \"providerId\" = 'credential';\n"}


def migration_folder(root: Path, files: dict[str, str]) -> Path:
    for rel, sql in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(sql)
    return root


@pytest.fixture(scope="module")
def runs(reference: Any) -> Any:
    work = private_dir("scrydon-drill-upgrade-")
    base = {"upgrade.target_postgres_version": "18", "upgrade.target_platform_version": "2.0.0"}
    plan = {
        "upgrade-ok": {**base, "upgrade.migrations": str(
            migration_folder(work / "m-ok", MIGRATIONS)),
            # A point-in-time copy too: pg_upgrade --check runs on it.
            "drill.pitr_target": reference.meta["backup_runs"][1]["server_time"]},
        "upgrade-fails": {**base, "upgrade.migrations": str(
            migration_folder(work / "m-fail", {**MIGRATIONS, **FAILING}))},
        "upgrade-signin": {**base, "upgrade.migrations": str(
            migration_folder(work / "m-signin", {**MIGRATIONS, **BREAKS_SIGNIN}))},
        "upgrade-license": {**base, "upgrade.migrations": str(
            migration_folder(work / "m-license", MIGRATIONS)),
            "upgrade.license_min_days": "36500"},
    }

    def run(name: str) -> DrillRun:
        return run_drills(name, reference.drill_config, work,
                          sets={**plan[name]}, facts={}, extra=["--drill-allow-unverified"])

    try:
        with ThreadPoolExecutor(2) as pool:
            yield dict(zip(plan, pool.map(run, plan), strict=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verdicts(run: DrillRun) -> dict[str, str]:
    return {c["id"]: c["verdict"] for c in run.evidence.get("checks", [])}


def test_a_pre_upgrade_drill_to_postgres_18_with_migrations_passes(runs: dict[str, DrillRun],
                                                                   measure) -> None:
    run = runs["upgrade-ok"]
    assert run.returncode == 0, run.output[-4000:]
    v = verdicts(run)
    assert v["upgrade.migrations"] == "pass"
    assert v["upgrade.pg_upgrade"] == "pass"
    pg_upgrade = next(c for c in run.evidence["checks"] if c["id"] == "upgrade.pg_upgrade")
    assert "pg_upgrade --check 16 -> 18" in pg_upgrade["message"]
    assert "Clusters are compatible" in pg_upgrade["message"]
    assert all(verdict == "pass" for cid, verdict in v.items() if cid != "integrity.amcheck")
    assert v.get("integrity.amcheck") == "could-not-verify"
    notes = " ".join(run.evidence["notes"])
    assert "restored into PostgreSQL 18." in notes and "from PostgreSQL 16." in notes
    assert "target platform version 2.0.0" in notes
    phases = [p for p in run.evidence["phases"] if p["store"] == "upgrade"]
    assert [p["name"] for p in phases] == ["migrate auth/001_user_upgraded_at.sql",
                                           "migrate agentic/001_schema_version.sql"]
    measure(f"pre-upgrade drill 16 -> 18 with {len(phases)} migrations: "
            f"{run.seconds:.1f} s, migrations {sum(p['seconds'] for p in phases):.3f} s")


def test_a_failing_migration_is_named(runs: dict[str, DrillRun]) -> None:
    run = runs["upgrade-fails"]
    assert run.returncode == 1, run.output[-4000:]
    check = next(c for c in run.evidence["checks"] if c["id"] == "upgrade.migrations")
    assert check["verdict"] == "fail"
    assert "migration auth/002_broken.sql failed after 1 applied" in check["message"]
    assert "no_such_table" in check["message"]


def test_a_migration_that_breaks_signin_is_caught_by_the_checks_after_it(
        runs: dict[str, DrillRun]) -> None:
    run = runs["upgrade-signin"]
    assert run.returncode == 1, run.output[-4000:]
    v = verdicts(run)
    assert v["upgrade.migrations"] == "pass"  # the SQL itself succeeded
    assert v["signin.offline"] == "fail"


def test_a_license_expiring_inside_the_upgrade_window_fails(runs: dict[str, DrillRun]) -> None:
    run = runs["upgrade-license"]
    assert run.returncode == 1, run.output[-4000:]
    check = next(c for c in run.evidence["checks"] if c["id"] == "license.valid")
    assert check["verdict"] == "fail"
    assert "36500" in check["message"]
