"""Posture of the WAL archive: continuity from the newest base backup, and retention.

Gaps are computed by segment arithmetic once the segment size is known (pg_controldata of
the base backup, else the archived files' sizes), then confirmed by PostgreSQL's own reader:
``pg_waldump`` over the segments (decompressed copies when the archive is compressed).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.catalog import wal
from harness.catalog.catalog import Catalog, hours
from harness.catalog.findings import ERROR, WARNING, Finding, listing
from harness.catalog.model import Artifact
from harness.errors import DrillError
from harness.tools import compression


class WalPosture:
    """The WAL half of :class:`~harness.catalog.posture.PostureChecker`."""

    catalog: Catalog
    source: Any
    config: Any
    now: dt.datetime
    use_pg_waldump: bool
    require_full_retention: bool

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
                return [Finding("wal-continuity", False, ERROR, f, {"error": exc.render()},
                                cause=exc),
                        Finding("wal-retention", False, ERROR, f, {"error": exc.render()},
                                cause=exc)]
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
            problems.append(f"missing {listing(details['gaps'])}")
        if wrong:
            problems.append(f"wrong size (not {seg_size} bytes): {listing(wrong)}")
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
                               f"missing {listing(details['gaps'])}" if gaps else "",
                               f"wrong size {listing(wrong)}" if wrong else ""]))
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

    def _guard(self, check_id: str, check: Callable[[], Finding]) -> Finding:
        try:
            return check()
        except DrillError as exc:
            return Finding(check_id, False, ERROR, f"{check_id}: could not be checked: "
                           f"{exc.message}", {"error": exc.render()}, cause=exc)
