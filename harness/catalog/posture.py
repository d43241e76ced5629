"""Backup posture: is what the runbook asks for really there, checked without restoring.

Every check compares the backups in one source with the baseline of the ``[backups]``
configuration (the runbook's by default: daily dumps kept 30 days, a continuous WAL archive
covering 7 days, daily warehouse snapshots kept 14 days, the objects replica, the master-key
Secret) and returns a :class:`Finding` that says what was checked, what was found and what
to do. A check that cannot run fails; it never passes.

A young deployment cannot have 30 days of history yet. Days before the first backup ever
taken are therefore reported as a warning ("history starts on <date>, 3 of 30 days
present") unless ``require_full_retention`` makes them an error; a day missing *after* the
first backup is always an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.catalog.catalog import Catalog, DumpRun, hours
from harness.catalog.findings import ERROR, SHOWN, WARNING, Finding, PostureReport, listing
from harness.catalog.walposture import WalPosture
from harness.crypto import masterkey


@dataclass
class DailyCoverage:
    """Which days of a retention window have a backup."""

    window: list[dt.date]
    present: list[dt.date]
    missing_in_history: list[dt.date]  # after the first backup ever: a real gap
    missing_before_history: list[dt.date]  # before it: history is too short
    first: dt.date | None


def daily_coverage(days_with_backup: Iterable[dt.date], *, days: int, today: dt.date,
                   history_start: dt.date | None = None) -> DailyCoverage:
    """Coverage of the ``days`` days ending today (yesterday while today's backup is due).

    Days before the first backup count as real gaps only from ``history_start`` on (when the
    deployment is known to have existed, e.g. its installation date).
    """
    have = set(days_with_backup)
    end = today if today in have else today - dt.timedelta(days=1)
    window = [end - dt.timedelta(days=i) for i in reversed(range(days))]
    first = min(have) if have else None
    boundary = first
    if history_start is not None and (first is None or history_start < first):
        boundary = history_start
    missing = [d for d in window if d not in have]
    return DailyCoverage(
        window=window, present=[d for d in window if d in have],
        missing_in_history=[d for d in missing if boundary is not None and d >= boundary],
        missing_before_history=[d for d in missing if boundary is None or d < boundary],
        first=first)


class PostureChecker(WalPosture):
    """Posture checks of the backups a :class:`Catalog` sees, at time ``now``."""

    def __init__(self, catalog: Catalog, *, now: dt.datetime | None = None,
                 require_full_retention: bool = False, history_start: dt.date | None = None,
                 use_pg_waldump: bool = True) -> None:
        """``require_full_retention`` makes a history shorter than the retention windows an
        error rather than a warning; ``history_start`` (the deployment's first day, when
        known) makes days from then on without a backup real gaps."""
        self.catalog = catalog
        self.config = catalog.config
        self.source = catalog.source
        now = now or dt.datetime.now(dt.timezone.utc)
        self.now = now if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
        self.require_full_retention = require_full_retention
        self.history_start = history_start
        self.use_pg_waldump = use_pg_waldump

    # -- helpers ---------------------------------------------------------------------------
    def _complete_runs(self) -> list[DumpRun]:
        return [r for r in self.catalog.dump_runs() if not r.missing(self.catalog.databases)]

    def _retention_finding(self, check_id: str, what: str, cov: DailyCoverage, days: int,
                           todo: str, extra: dict[str, Any]) -> Finding:
        details: dict[str, Any] = {
            "window": [cov.window[0].isoformat(), cov.window[-1].isoformat()],
            "present": len(cov.present), "required": days,
            "missing": [d.isoformat() for d in cov.missing_in_history],
            "missing_before_history": len(cov.missing_before_history),
            "history_starts": cov.first.isoformat() if cov.first else None, **extra}
        span = f"{cov.window[0].isoformat()} to {cov.window[-1].isoformat()}"
        if cov.first is None:
            return Finding(check_id, False, ERROR,
                           f"{what}: none found for {span}. {todo}", details)
        if cov.missing_in_history:
            dates = [d.isoformat() for d in cov.missing_in_history]
            return Finding(check_id, False, ERROR,
                           f"{what}: {len(dates)} day(s) missing between {span}: "
                           f"{listing(dates)} ({len(cov.present)} of {days} days present). "
                           f"{todo}", details)
        if cov.missing_before_history:
            text = (f"{what}: history starts on {cov.first.isoformat()}, "
                    f"{len(cov.present)} of {days} days present (no gap since then); "
                    f"{days} days of retention cannot be shown before "
                    f"{(cov.first + dt.timedelta(days=days - 1)).isoformat()}")
            if self.require_full_retention:
                return Finding(check_id, False, ERROR,
                               text + ". Full retention is required: restore older backups "
                                      "into the backup store or wait until the history is "
                                      "long enough.", details)
            return Finding(check_id, False, WARNING, text + ".", details)
        return Finding(check_id, True, ERROR,
                       f"{what}: all {days} days present ({span}).", details)

    # -- the checks ------------------------------------------------------------------------
    def dump_freshness(self) -> Finding:
        """The newest complete dump run is no older than ``dump_max_age_hours``."""
        limit = self.config.dump_max_age_hours
        runs = self.catalog.dump_runs()
        complete = self._complete_runs()
        details: dict[str, Any] = {"max_age_hours": limit, "now": self.now.isoformat()}
        if runs:
            details["newest_run"] = runs[-1].run
        if not complete:
            where = self.source.location(self.catalog.patterns["postgres-dump"].list_prefix)
            return Finding("dump-freshness", False, ERROR,
                           f"database dumps: no complete dump run (all of "
                           f"{', '.join(self.catalog.databases)}) found under {where}"
                           f" ({len(runs)} incomplete run(s)). Check the daily dump job.",
                           details)
        newest = complete[-1]
        age = hours(self.now - newest.taken_at)
        details.update(newest_complete_run=newest.run, age_hours=round(age, 2),
                       per_database={db: newest.dumps[db].relpath
                                     for db in self.catalog.databases})
        if age > limit:
            return Finding("dump-freshness", False, ERROR,
                           f"database dumps: the newest complete run {newest.run} "
                           f"({newest.dumps[self.catalog.databases[0]].location} and the "
                           f"other databases) is {age:.1f} h old, more than "
                           f"dump_max_age_hours={limit:g}. Check why the daily dump job has "
                           "not produced a complete run since.", details)
        return Finding("dump-freshness", True, ERROR,
                       f"database dumps: the newest complete run {newest.run} is {age:.1f} h "
                       f"old (limit {limit:g} h).", details)

    def dump_retention(self) -> Finding:
        """A complete dump run on each of the last ``dump_retention_days`` days."""
        days = self.config.dump_retention_days
        complete = {r.taken_at.date() for r in self._complete_runs()}
        incomplete_only = sorted({r.taken_at.date() for r in self.catalog.dump_runs()}
                                 - complete)
        cov = daily_coverage(complete, days=days, today=self.now.date(),
                             history_start=self.history_start)
        return self._retention_finding(
            "dump-retention", "daily database dumps", cov, days,
            "Find out why the dump job did not run or failed on those days; a day with only "
            "an incomplete run counts as missing.",
            {"days_with_incomplete_runs_only": [d.isoformat() for d in incomplete_only]})

    def dump_completeness(self) -> Finding:
        """Every dump run within the retention window holds every database."""
        since = self.now - dt.timedelta(days=self.config.dump_retention_days)
        runs = [r for r in self.catalog.dump_runs() if r.taken_at >= since]
        bad = {r.run: r.describe_missing(self.catalog.databases)
               for r in runs if r.missing(self.catalog.databases)}
        details: dict[str, Any] = {"runs_checked": len(runs), "incomplete": bad,
                                   "databases": list(self.catalog.databases)}
        if not runs:
            return Finding("dump-completeness", False, ERROR,
                           f"database dumps: no dump run within the last "
                           f"{self.config.dump_retention_days} days to check. Check the "
                           "daily dump job.", details)
        if bad:
            missing = [f"{run}: missing {what}" for run, what in bad.items()]
            return Finding("dump-completeness", False, ERROR,
                           f"database dumps: {len(bad)} of {len(runs)} run(s) do not hold all "
                           f"{len(self.catalog.databases)} databases ({'; '.join(missing[:SHOWN])}"
                           f"). The databases only restore together: find why those dumps "
                           "failed.", details)
        return Finding("dump-completeness", True, ERROR,
                       f"database dumps: all {len(runs)} run(s) of the last "
                       f"{self.config.dump_retention_days} days hold all "
                       f"{len(self.catalog.databases)} databases.", details)

    def warehouse_retention(self) -> Finding:
        """A warehouse snapshot on each of the last ``warehouse_retention_days`` days."""
        days = self.config.warehouse_retention_days
        snaps = self.catalog.warehouse_snapshots()
        empty = [s.run for s in snaps if not s.tables]
        cov = daily_coverage({s.taken_at.date() for s in snaps if s.tables}, days=days,
                             today=self.now.date(), history_start=self.history_start)
        return self._retention_finding(
            "warehouse-retention", "daily warehouse snapshots", cov, days,
            "Check the StarRocks backup job (operator snapshots) for those days.",
            {"snapshots_without_tables": empty})

    def master_key(self) -> Finding:
        """The master-key Secret backup exists, parses, and yields a 32-byte AES key."""
        from harness.crypto import dapr

        keys = self.catalog.master_keys()
        where = self.source.location(self.catalog.patterns["master-key"].pattern)
        if not keys:
            return Finding("master-key", False, ERROR,
                           f"master-key backup: not found at {where}. Without it every "
                           "encrypted secret in the restored databases is lost: back up the "
                           "master-key Secret as the runbook shows (kubectl get secret "
                           "master-key -o yaml).", {"location": where})
        key = keys[-1]
        details: dict[str, Any] = {"location": key.location, "size": key.size}
        try:
            backup = masterkey.load_master_key_backup(
                self.source.read_bytes(key.relpath).decode("utf-8", errors="replace"))
        except (dapr.DaprCryptoError, ValueError) as exc:
            return Finding("master-key", False, ERROR,
                           f"master-key backup {key.location} cannot be used: {exc}. Export "
                           "it again with `kubectl get secret master-key -o yaml`.", details)
        # Never the key itself: secrets do not enter reports.
        details.update(secret=backup.name, namespace=backup.namespace,
                       data_key=backup.data_key, key_bytes=len(backup.key))
        problem = backup.kek_problem()
        if problem:
            details["kek_problem"] = problem
            return Finding("master-key", False, ERROR,
                           f"master-key backup {key.location} parses, but {problem}.", details)
        return Finding("master-key", True, ERROR,
                       f"master-key backup {key.location}: Secret {backup.name} "
                       f"(data key {backup.data_key}) yields a {len(backup.key)}-byte AES key.",
                       details)

    def objects_replica(self, references: Iterable[tuple[str, str, int | None, str | None]],
                        *, verify_sha256: bool = True,
                        known: Mapping[str, str] | None = None) -> Finding:
        """The replica holds every referenced object, with the same size and SHA-256.

        ``references`` are ``(bucket, key, size, sha256)`` tuples, e.g. read from the
        knowledge-base index of a restored database; ``size``/``sha256`` may be None.
        ``known`` holds SHA-256s already computed from the replica's bytes (``bucket/key`` ->
        hex; the restore hashes every object it uploads): those are not read again.
        """
        pattern = self.catalog.patterns["objects"]
        present = {a.relpath: a for a in self.catalog.objects()}
        missing: list[str] = []
        mismatched: list[dict[str, Any]] = []
        checked = 0
        for bucket, key, size, sha in references:
            checked += 1
            rel = pattern.format(bucket=bucket, key=key)
            art = present.get(rel)
            if art is None:
                missing.append(f"{bucket}/{key}")
                continue
            found_sha = None
            if size is not None and art.size != size:
                mismatched.append({"object": f"{bucket}/{key}", "location": art.location,
                                   "expected_size": size, "found_size": art.size})
                continue
            if sha and verify_sha256:
                found_sha = (known or {}).get(f"{bucket}/{key}") or self.source.sha256(rel)
                if found_sha != sha.lower():
                    mismatched.append({"object": f"{bucket}/{key}", "location": art.location,
                                       "expected_sha256": sha, "found_sha256": found_sha})
        where = self.source.location(self.catalog.objects_prefix)
        details: dict[str, Any] = {"checked": checked, "replica": where,
                                   "missing": missing, "mismatched": mismatched}
        if missing or mismatched:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing ({listing(missing)})")
            if mismatched:
                parts.append(f"{len(mismatched)} differ "
                             f"({listing([m['object'] for m in mismatched])})")
            return Finding("objects-replica", False, ERROR,
                           f"objects replica {where}: of {checked} referenced objects "
                           + ", ".join(parts) + ". Check the bucket replication; those "
                           "documents would be lost in a restore.", details)
        return Finding("objects-replica", True, ERROR,
                       f"objects replica {where}: all {checked} referenced objects present "
                       "with matching size" + (" and SHA-256" if verify_sha256 else "") + ".",
                       details)

    # -- everything --------------------------------------------------------------------------
    def run(self, *, object_references: Iterable[tuple[str, str, int | None, str | None]]
            | None = None) -> PostureReport:
        """Run every check (the objects check only when references are given)."""
        report = PostureReport(source=self.source.root, checked_at=self.now)
        for check_id, check in (("dump-freshness", self.dump_freshness),
                                ("dump-retention", self.dump_retention),
                                ("dump-completeness", self.dump_completeness)):
            report.findings.append(self._guard(check_id, check))
        report.findings.extend(self.wal_checks())
        report.findings.append(self._guard("warehouse-retention", self.warehouse_retention))
        if object_references is not None:
            refs = list(object_references)
            report.findings.append(self._guard("objects-replica",
                                               lambda: self.objects_replica(refs)))
        report.findings.append(self._guard("master-key", self.master_key))
        return report


def check_posture(catalog: Catalog, *, now: dt.datetime | None = None,
                  require_full_retention: bool = False, history_start: dt.date | None = None,
                  object_references: Iterable[tuple[str, str, int | None, str | None]]
                  | None = None, use_pg_waldump: bool = True) -> PostureReport:
    """Every posture check of ``catalog``'s backups at ``now`` (default: the current time)."""
    return PostureChecker(catalog, now=now, require_full_retention=require_full_retention,
                          history_start=history_start, use_pg_waldump=use_pg_waldump
                          ).run(object_references=object_references)


__all__ = ["ERROR", "WARNING", "DailyCoverage", "Finding", "PostureChecker", "PostureReport",
           "check_posture",
           "daily_coverage"]
