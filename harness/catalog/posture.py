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
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.catalog import wal
from harness.catalog.catalog import Catalog, DumpRun, hours
from harness.catalog.model import Artifact
from harness.errors import DrillError
from harness.tools import compression

ERROR = "error"
WARNING = "warning"
_SHOWN = 5  # how many names a message lists before "and N more"


@dataclass
class Finding:
    """The outcome of one posture check.

    ``severity`` is what a failure of this check means: ``error`` (the backups do not meet
    the baseline) or ``warning`` (they cannot be shown to meet it yet, or it matters less).
    """

    id: str
    ok: bool
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PostureReport:
    """Every posture finding for one backup source at one point in time."""

    source: str
    checked_at: dt.datetime
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed with severity ``error``."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        """Failed checks of severity ``error``."""
        return [f for f in self.findings if not f.ok and f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Failed checks of severity ``warning``."""
        return [f for f in self.findings if not f.ok and f.severity == WARNING]

    def finding(self, check_id: str) -> Finding:
        """The finding of one check; KeyError if it was not run."""
        found = self.get(check_id)
        if found is None:
            raise KeyError(check_id)
        return found

    def get(self, check_id: str) -> Finding | None:
        """The finding of one check, or None if it was not run."""
        return next((f for f in self.findings if f.id == check_id), None)

    def render(self) -> str:
        """A plain-text summary, one line per check."""
        head = (f"backup posture of {self.source} at {self.checked_at.isoformat()}: "
                + ("OK" if self.ok else f"{len(self.errors)} error(s)")
                + (f", {len(self.warnings)} warning(s)" if self.warnings else ""))
        lines = [head]
        for f in self.findings:
            mark = "ok  " if f.ok else ("FAIL" if f.severity == ERROR else "WARN")
            lines.append(f"  [{mark}] {f.id}: {f.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for reports."""
        return {"source": self.source, "checked_at": self.checked_at.isoformat(),
                "ok": self.ok, "findings": [asdict(f) for f in self.findings]}


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


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


class PostureChecker:
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
                           f"{_listing(dates)} ({len(cov.present)} of {days} days present). "
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
            listing = [f"{run}: missing {what}" for run, what in bad.items()]
            return Finding("dump-completeness", False, ERROR,
                           f"database dumps: {len(bad)} of {len(runs)} run(s) do not hold all "
                           f"{len(self.catalog.databases)} databases ({'; '.join(listing[:_SHOWN])}"
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
            backup = dapr.load_master_key_backup(
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
                        *, verify_sha256: bool = True) -> Finding:
        """The replica holds every referenced object, with the same size and SHA-256.

        ``references`` are ``(bucket, key, size, sha256)`` tuples, e.g. read from the
        knowledge-base index of a restored database; ``size``/``sha256`` may be None.
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
                found_sha = self.source.sha256(rel)
                if found_sha != sha.lower():
                    mismatched.append({"object": f"{bucket}/{key}", "location": art.location,
                                       "expected_sha256": sha, "found_sha256": found_sha})
        where = self.source.location(self.catalog.objects_prefix)
        details: dict[str, Any] = {"checked": checked, "replica": where,
                                   "missing": missing, "mismatched": mismatched}
        if missing or mismatched:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing ({_listing(missing)})")
            if mismatched:
                parts.append(f"{len(mismatched)} differ "
                             f"({_listing([m['object'] for m in mismatched])})")
            return Finding("objects-replica", False, ERROR,
                           f"objects replica {where}: of {checked} referenced objects "
                           + ", ".join(parts) + ". Check the bucket replication; those "
                           "documents would be lost in a restore.", details)
        return Finding("objects-replica", True, ERROR,
                       f"objects replica {where}: all {checked} referenced objects present "
                       "with matching size" + (" and SHA-256" if verify_sha256 else "") + ".",
                       details)

    # -- WAL ---------------------------------------------------------------------------------
    def _base_member(self, base: Artifact, member: str) -> bytes | None:
        """A file of a base backup: plain format, or inside its ``base.tar[.gz]``."""
        return wal.base_member(self.source, base.relpath, member)

    def _label(self, base: Artifact) -> wal.BackupLabel:
        raw = self._base_member(base, "backup_label")
        if raw is None:
            raise DrillError(f"base backup {base.location} has no backup_label (plain format "
                             "or base.tar[.gz] expected)", store="postgres",
                             path=base.location,
                             remedy="take base backups with pg_basebackup -Fp (or -Ft)")
        try:
            return wal.parse_backup_label(raw.decode("utf-8", errors="replace"))
        except ValueError as exc:
            raise DrillError(f"backup_label of {base.location} is malformed: {exc}",
                             store="postgres", path=base.location) from exc

    def _controldata_size(self, base: Artifact, major: int | None,
                          tmp: Path) -> tuple[int | None, str]:
        from harness.tools import pgbin

        if major is None:
            return None, "PG_VERSION not found in the base backup"
        try:
            inst = pgbin.find(major, require_pgvector=False, minimum=True)
        except DrillError as exc:
            return None, f"pg_controldata {major}+ not available: {exc.message}"
        rel = f"{base.relpath}/global/pg_control"
        if self.source.exists(rel):
            # Directory source: the base backup itself, only read.
            datadir = self.source.fetch(rel, tmp / "control").parent.parent
        else:
            raw = self._base_member(base, "global/pg_control")
            if raw is None:
                return None, "global/pg_control not found in the base backup"
            datadir = tmp / "control-tar"
            (datadir / "global").mkdir(parents=True)
            (datadir / "global" / "pg_control").write_bytes(raw)
        size, out = wal.controldata_segment_size(inst.tool("pg_controldata"), datadir)
        return size, f"pg_controldata {inst.version}: " + (
            f"Bytes per WAL segment {size}" if size else out[-300:])

    def _wal_state(self, tmp: Path) -> dict[str, Any]:
        """Everything both WAL checks need: segments, segment size, newest base's label."""
        files = self.catalog.wal_files()
        segments: dict[str, Artifact] = {}
        compressed: set[str] = set()
        for f in files:
            found = wal.archived_segment(f.name)
            if found is None:
                continue
            segments[found[0]] = f
            if found[1]:
                compressed.add(found[0])
        bases = self.catalog.base_backups()
        state: dict[str, Any] = {"segments": segments, "compressed": compressed, "bases": bases,
                                 "archive": self.source.location(self.catalog.wal_prefix)}
        if not bases or not segments:
            return state
        newest = bases[-1]
        version = self._base_member(newest, "PG_VERSION")
        major = int(version.decode().strip().split(".")[0]) if version else None
        # A compressed file's size says nothing about the segment size it holds.
        inferred = wal.infer_segment_size(f.size or 0 for n, f in segments.items()
                                          if n not in compressed)
        if inferred is None and compressed:
            inferred = self._decompressed_size(segments[min(compressed)], tmp)
        control, control_note = self._controldata_size(newest, major, tmp)
        state.update(major=major, inferred_size=inferred, control_size=control,
                     control_note=control_note, seg_size=control or inferred)
        return state

    def _gaps_from(self, state: dict[str, Any], label: wal.BackupLabel
                   ) -> tuple[int, int, list[tuple[int, int]], list[str], list[str]]:
        """Gaps and wrongly sized segments from a base backup's start to the newest segment."""
        seg_size: int = state["seg_size"]
        by_number: dict[int, list[Artifact]] = {}
        invalid: list[str] = []
        for name, art in state["segments"].items():
            if wal.timeline_of(name) < label.timeline:
                continue
            try:
                by_number.setdefault(wal.segno(name, seg_size), []).append(art)
            except ValueError:
                invalid.append(name)
        start = wal.segno(label.start_file, seg_size)
        end = max([start, *by_number])
        gaps = wal.find_gaps(by_number, start, end)
        compressed = {state["segments"][n].name for n in state.get("compressed", ())}
        wrong = [a.name for n, arts in by_number.items() if start <= n <= end
                 for a in arts if a.size != seg_size and a.name not in compressed]
        return start, end, gaps, sorted(wrong), invalid

    def wal_continuity(self) -> Finding:
        """WAL is continuous from the newest base backup to the newest segment."""
        return self.wal_checks()[0]

    def wal_retention(self) -> Finding:
        """A base backup older than ``wal_retention_days`` and unbroken WAL from it."""
        return self.wal_checks()[1]

    def wal_checks(self) -> list[Finding]:
        """``wal-continuity`` and ``wal-retention`` (they share the archive's listing)."""
        with tempfile.TemporaryDirectory(prefix="scrydon-drill-posture-") as tmp:
            try:
                state = self._wal_state(Path(tmp))
            except DrillError as exc:
                f = f"WAL archive: could not be checked: {exc.message}"
                return [Finding("wal-continuity", False, ERROR, f, {"error": exc.render()}),
                        Finding("wal-retention", False, ERROR, f, {"error": exc.render()})]
            return [self._guard("wal-continuity", lambda: self._wal_continuity(state,
                                                                              Path(tmp))),
                    self._guard("wal-retention", lambda: self._wal_retention(state))]

    def _wal_preconditions(self, check_id: str, state: dict[str, Any]) -> Finding | None:
        archive = state["archive"]
        if not state["bases"] and not state["segments"]:
            return Finding(check_id, False, WARNING,
                           f"WAL archive: no base backup "
                           f"({self.catalog.patterns['base-backup'].pattern!r}) and no WAL "
                           f"segment in {archive}: point-in-time recovery is not set up. The "
                           "runbook recommends pg_basebackup plus a continuous WAL archive.",
                           {"archive": archive})
        if not state["bases"]:
            return Finding(check_id, False, ERROR,
                           f"WAL archive: {len(state['segments'])} segments in {archive} but no "
                           f"base backup matches {self.catalog.patterns['base-backup'].pattern!r}"
                           ": WAL cannot be replayed without one. Take a pg_basebackup.",
                           {"archive": archive})
        if not state["segments"]:
            return Finding(check_id, False, ERROR,
                           f"WAL archive: {archive} holds no WAL segment: the base backups "
                           "cannot be rolled forward. Check archive_mode/archive_command.",
                           {"archive": archive})
        if not state.get("seg_size"):
            return Finding(check_id, False, ERROR,
                           "WAL archive: the WAL segment size could not be determined (no "
                           f"segment has a plausible size; {state.get('control_note')}), so "
                           "gaps cannot be computed. Check the archive's files.",
                           {"archive": archive})
        if (state.get("control_size") and state.get("inferred_size")
                and state["control_size"] != state["inferred_size"]):
            return Finding(check_id, False, ERROR,
                           f"WAL archive: pg_controldata says segments are "
                           f"{state['control_size']} bytes but the archived files are "
                           f"{state['inferred_size']} bytes: the archive does not belong to "
                           "this cluster, or its files are damaged.",
                           {"archive": archive, "control": state["control_note"]})
        return None

    def _wal_continuity(self, state: dict[str, Any], tmp: Path) -> Finding:
        pre = self._wal_preconditions("wal-continuity", state)
        if pre:
            return pre
        base: Artifact = state["bases"][-1]
        seg_size: int = state["seg_size"]
        label = self._label(base)
        start, end, gaps, wrong, invalid = self._gaps_from(state, label)
        tl = label.timeline
        details: dict[str, Any] = {
            "archive": state["archive"], "base_backup": base.location,
            "start_segment": label.start_file, "end_segment": wal.segment_name(tl, end, seg_size),
            "segments_expected": end - start + 1, "wal_segment_size": seg_size,
            "segments_per_xlogid": wal.segments_per_xlogid(seg_size),
            "segment_size_from": "pg_controldata" if state.get("control_size") else "file sizes",
            "controldata": state.get("control_note"),
            "gaps": wal.describe_gaps(gaps, tl, seg_size), "wrong_size": wrong,
            "impossible_names": invalid}
        span = (f"from base backup {base.relpath} (start {label.start_file}) to "
                f"{wal.segment_name(tl, end, seg_size)}")
        problems: list[str] = []
        if gaps:
            problems.append(f"missing {_listing(details['gaps'])}")
        if wrong:
            problems.append(f"wrong size (not {seg_size} bytes): {_listing(wrong)}")
        confirmed = ""
        if self.use_pg_waldump:
            # Run even when arithmetic already found a gap: PostgreSQL's own reader must agree.
            dump, note = self._waldump(state, label, end, tmp)
            details["pg_waldump"] = note
            if dump is not None:
                details["pg_waldump_returncode"] = dump.returncode
                details["pg_waldump_continuous"] = dump.continuous(end, seg_size)
                if not dump.continuous(end, seg_size):
                    problems.append("pg_waldump stops before the end: "
                                    + (dump.stderr.splitlines()[-1] if dump.stderr else
                                       f"exit code {dump.returncode}"))
                else:
                    confirmed = "; pg_waldump reads every record through to the end"
            else:
                confirmed = f"; not confirmed by pg_waldump ({note})"
        if problems:
            return Finding("wal-continuity", False, ERROR,
                           f"WAL archive {state['archive']} {span}: " + "; ".join(problems)
                           + ". Point-in-time recovery stops at the first break: check the "
                             "archive_command's failures in the server log and take a new "
                             "base backup after the gap.", details)
        return Finding("wal-continuity", True, ERROR,
                       f"WAL archive {state['archive']} is continuous {span}: "
                       f"{end - start + 1} segment(s) of {seg_size} bytes{confirmed}.",
                       details)

    def _waldump(self, state: dict[str, Any], label: wal.BackupLabel, end: int,
                 tmp: Path) -> tuple[wal.WalDump | None, str]:
        from harness.tools import pgbin

        major = state.get("major")
        if major is None:
            return None, "PG_VERSION not found in the base backup"
        try:
            inst = pgbin.find(major, require_pgvector=False, minimum=True)
        except DrillError as exc:
            return None, f"pg_waldump {major}+ not available: {exc.message}"
        seg_size: int = state["seg_size"]
        start = wal.segno(label.start_file, seg_size)
        # pg_waldump follows one timeline: the base backup's.
        names = [wal.segment_name(label.timeline, n, seg_size) for n in range(start, end + 1)]
        names = [n for n in names if n in state["segments"]]
        if not names:
            return None, "no segment of the base backup's timeline to read"
        archive = tmp / "wal-plain"
        archive.mkdir(exist_ok=True)
        for n in names:
            self._plain_segment(state["segments"][n], n, tmp, archive)
        dump = wal.run_waldump(inst.tool("pg_waldump"), archive, names[0], names[-1])
        return dump, (f"pg_waldump {inst.version} -p {archive} {names[0]} {names[-1]}: exit "
                      f"{dump.returncode}" + (f", {dump.stderr.splitlines()[-1]}"
                                               if dump.stderr else ""))

    def _plain_segment(self, art: Artifact, segment: str, tmp: Path, archive: Path) -> Path:
        """The segment as PostgreSQL names and reads it, in ``archive`` (decompressed)."""
        fetched = Path(self.source.fetch(art.relpath, tmp / "wal"))
        target = archive / segment
        if compression.split_codec(fetched.name)[1] is None:
            if not target.exists():
                target.symlink_to(fetched)
        else:
            compression.decompress_to(fetched, target)
        return target

    def _decompressed_size(self, art: Artifact, tmp: Path) -> int | None:
        found = wal.archived_segment(art.name)
        if found is None:
            return None
        scratch = tmp / "size-probe"
        scratch.mkdir(exist_ok=True)
        size = self._plain_segment(art, found[0], tmp, scratch).stat().st_size
        return size if wal.valid_segment_size(size) else None

    def _wal_retention(self, state: dict[str, Any]) -> Finding:
        pre = self._wal_preconditions("wal-retention", state)
        if pre:
            return pre
        days = self.config.wal_retention_days
        window_start = self.now - dt.timedelta(days=days)
        bases: list[Artifact] = state["bases"]
        needed = [b for b in bases if b.taken_at and b.taken_at <= window_start]
        base = needed[-1] if needed else bases[0]
        label = self._label(base)
        seg_size: int = state["seg_size"]
        start, end, gaps, wrong, _ = self._gaps_from(state, label)
        oldest_segment = min(state["segments"])
        details: dict[str, Any] = {
            "window_start": window_start.isoformat(), "retention_days": days,
            "base_backup": base.location,
            "base_backup_taken_at": base.taken_at.isoformat() if base.taken_at else None,
            "oldest_segment": oldest_segment, "start_segment": label.start_file,
            "gaps": wal.describe_gaps(gaps, label.timeline, seg_size), "wrong_size": wrong}
        if gaps or wrong:
            return Finding("wal-retention", False, ERROR,
                           f"WAL archive: replay from base backup {base.relpath} (needed for "
                           f"{days} days of point-in-time recovery) is broken: "
                           + "; ".join(filter(None, [
                               f"missing {_listing(details['gaps'])}" if gaps else "",
                               f"wrong size {_listing(wrong)}" if wrong else ""]))
                           + ". Do not prune WAL the oldest needed base backup still depends "
                             "on; take a new base backup.", details)
        if needed:
            return Finding("wal-retention", True, ERROR,
                           f"WAL archive: base backup {base.relpath} is older than the "
                           f"{days}-day window (from {window_start.isoformat()}) and the WAL "
                           f"from it is complete ({end - start + 1} segments).", details)
        reach = base.taken_at
        reach_days = hours(self.now - reach) / 24 if reach else 0.0
        runs = self.catalog.dump_runs()
        starts = [t for t in [reach, runs[0].taken_at if runs else None] if t]
        history = min(starts) if starts else self.now
        text = (f"WAL archive: the oldest base backup {base.relpath} is {reach_days:.1f} days "
                f"old, so point-in-time recovery reaches back to "
                f"{reach.isoformat() if reach else 'unknown'}, not the {days} days the baseline "
                f"asks (to {window_start.isoformat()})")
        if history > window_start and not self.require_full_retention:
            return Finding("wal-retention", False, WARNING,
                           text + f"; history starts on {history.date().isoformat()}, so the "
                                  "window cannot be covered yet.", details)
        return Finding("wal-retention", False, ERROR,
                       text + ". Keep at least one base backup older than the window (prune "
                              "base backups and WAL only beyond it).", details)

    # -- everything --------------------------------------------------------------------------
    def _guard(self, check_id: str, check: Callable[[], Finding]) -> Finding:
        try:
            return check()
        except DrillError as exc:
            return Finding(check_id, False, ERROR, f"{check_id}: could not be checked: "
                           f"{exc.message}", {"error": exc.render()})

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
