"""A realistic, made-up run record: for previews of the reports, the docs and the tests.

It has the shape of a real drill (five databases, WAL, object replica, warehouse snapshot,
master key; phases per store; checks with measured values) but proves nothing, and says so in
its ``kind`` ("sample") and notes.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from harness.evidence.controls import apply_controls, load_catalog
from harness.records import CheckResult, LineageItem, Phase, RunRecord, Targets

_DATABASES = ("auth", "agentic", "analytics", "cortex", "ontology")


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sample_record(*, failing: bool = False, unverified: bool = False,
                  now: dt.datetime | None = None, run_id: str | None = None,
                  rto_seconds: float = 412.0) -> RunRecord:
    """A complete sample record; ``failing``/``unverified`` make one check fail / not verify."""
    now = now or dt.datetime(2026, 11, 24, 5, 17, tzinfo=dt.timezone.utc)
    start = now
    backup = now.replace(hour=2, minute=0, second=0, microsecond=0)
    rid = run_id or f"{start:%Y%m%dT%H%M%SZ}-5a3c1e"

    def at(seconds: float) -> str:
        return (start + dt.timedelta(seconds=seconds)).isoformat()

    lineage = [LineageItem(store="postgres", name=db,
                           location=f"s3://scrydon-backups/postgres/dumps/2026-11-24T020000Z/{db}.dump",
                           taken_at=backup.isoformat(), size=40_000_000 + i * 7_300_000,
                           sha256=_sha(f"dump-{db}"), backup_run="2026-11-24T020000Z")
               for i, db in enumerate(_DATABASES)]
    lineage += [
        LineageItem(store="wal", name="wal-archive",
                    location="s3://scrydon-backups/postgres/wal/000000010000000A000000F3",
                    taken_at=(backup + dt.timedelta(hours=3)).isoformat(), size=16_777_216,
                    sha256=_sha("wal"), backup_run="2026-11-24T020000Z"),
        LineageItem(store="objects", name="scrydon-documents",
                    location="s3://scrydon-replica/scrydon-documents/", taken_at=backup.isoformat(),
                    size=1_284_000_000, sha256=_sha("objects"), backup_run="replica"),
        LineageItem(store="warehouse", name="managed_tables",
                    location="s3://scrydon-backups/warehouse/2026-11-24T020000Z/snapshot.json",
                    taken_at=backup.isoformat(), size=812_000_000, sha256=_sha("warehouse"),
                    backup_run="2026-11-24T020000Z"),
        LineageItem(store="master-key", name="master-key",
                    location="s3://scrydon-backups/master-key/master-key.backup.yaml",
                    taken_at=backup.isoformat(), size=412, sha256=_sha("key"),
                    backup_run="2026-11-24T020000Z"),
    ]
    phases = [
        Phase("scratch", "provision", at(0), 21.4),
        Phase("master-key", "restore", at(21.4), 0.6),
        Phase("postgres", "restore", at(22.0), 188.2, detail="pg_restore -j 4, 5 databases"),
        Phase("wal", "replay", at(210.2), 64.5),
        Phase("objects", "restore", at(22.0), 241.7),
        Phase("warehouse", "restore", at(22.0), 302.9),
        Phase("postgres", "verify", at(324.9), 12.0),
        Phase("checks", "signin.admin", at(336.9), 4.1),
        Phase("checks", "audit.recent", at(341.0), 2.2),
        Phase("checks", "secrets.decrypt", at(343.2), 1.3),
        Phase("checks", "tables.query", at(344.5), 6.8),
        Phase("scratch", "teardown", at(rto_seconds), 9.7),
    ]
    checks = [
        CheckResult("signin.admin", "The known admin signs in", "pass",
                    "signed in as admin@example.com against the restored auth database; "
                    "better-auth verified the scrypt hash", {"user_rows": 42}, seconds=4.1),
        CheckResult("audit.recent", "The audit log holds yesterday's events", "pass",
                    "newest audit event 2026-11-24T01:58:12Z, 108 s before the backup",
                    {"rpo_seconds": 108.0, "events_24h": 5230}, seconds=2.2),
        CheckResult("secrets.decrypt", "Secrets decrypt with the restored master key", "pass",
                    "decrypted 17 of 17 secrets (dapr.io/enc/v1)", {"secrets": 17}, seconds=1.3),
        CheckResult("tables.query", "Managed tables answer queries", "pass",
                    "12 managed tables queried, p95 0.41 s", {"tables": 12, "p95_seconds": 0.41},
                    seconds=6.8),
    ]
    if failing:
        checks[1] = CheckResult(
            "audit.recent", "The audit log holds yesterday's events", "fail",
            "newest audit event is 2026-11-21T23:10:04Z, 50 h before the backup (limit 26 h): "
            "the auth dump is probably from an older run — check the backup job of 2026-11-24",
            {"rpo_seconds": 182_996.0, "events_24h": 0}, seconds=2.2)
    if unverified:
        checks[2] = CheckResult(
            "secrets.decrypt", "Secrets decrypt with the restored master key", "could-not-verify",
            "no master-key backup found under master-key/ — back up the master-key Secret as the "
            "runbook says, then re-run", {}, seconds=1.3)
    record = RunRecord(
        run_id=rid, started_at=start.isoformat(), finished_at=at(rto_seconds + 9.7),
        kind="sample",
        host={"hostname": "drill-runner-1", "os": "Linux-6.1-x86_64", "python": "3.11.7",
              "user": "drill"},
        versions={"harness": "0.1.0", "postgres": "16.4", "seaweedfs": "4.48",
                  "warehouse": "mariadb 10.11.6"},
        environment={"provider": "local", "postgres": "PostgreSQL 16.4 with pgvector",
                     "objects": "SeaweedFS (weed server -s3)",
                     "warehouse": "MariaDB 10.11.6 (stand-in for StarRocks)"},
        config={"scratch": {"provider": "local", "s3_secret_key": "***"},
                "admin": {"email": "admin@example.com", "password": "***"}},
        backup_time=backup.isoformat(), lineage=lineage, phases=phases, checks=checks,
        targets=Targets(rto_seconds=3600.0, rpo_seconds=86400.0),
        rto_seconds=rto_seconds, rpo_seconds=checks[1].measured.get("rpo_seconds"),
        notes=["sample data: this record illustrates the reports and proves nothing"],
    )
    apply_controls(record, load_catalog())
    record.verdict = record.overall_verdict()
    return record
