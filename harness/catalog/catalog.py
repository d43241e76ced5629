"""The restore set: the latest backups of every store that belong together, and why.

:class:`Catalog` is the :class:`~harness.catalog.inventory.Inventory` of a backup source
plus the choice: :meth:`Catalog.choose_restore_set` picks the newest complete dump run, the
warehouse snapshot, base backup and master key that go with it, records why (``reasons``)
and what is doubtful (``flags``), and refuses a set whose members do not date from their run
(:mod:`harness.catalog.timeline`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from harness.catalog.inventory import (
    ARTIFACT_KINDS,
    DumpRun,
    Inventory,
    database_list,
    hours,
    iso_or_unknown,
    layout_of,
)
from harness.catalog.model import Artifact, RestoreSet, WarehouseSnapshot
from harness.errors import DrillError

__all__ = ["ARTIFACT_KINDS", "Catalog", "DumpRun", "database_list", "hours", "layout_of"]


class Catalog(Inventory):
    """The backups of one source and the restore set chosen from them."""

    # -- the restore set -------------------------------------------------------------------
    def choose_restore_set(self, *, at_or_before: dt.datetime | None = None,
                           exclude_runs: Iterable[str] = frozenset(),
                           strict: bool = False, verify_times: bool = True,
                           checksums: bool | None = None) -> RestoreSet:
        """The latest backups of every store that belong together.

        The dump run is the newest one at or before ``at_or_before`` (naive times are UTC)
        holding every database of ``backups.databases``; runs named in ``exclude_runs`` are
        skipped in every store. The warehouse snapshot is the one closest at or before that
        run, the base backup the newest at or before it. Doubts become ``flags``; with
        ``strict`` a set whose dumps and warehouse snapshot are more than
        ``max_skew_hours`` apart raises :class:`DrillError` instead.

        With ``verify_times`` (the default) every member that records when it was made (dump
        headers, the base backup's label, the warehouse manifest) must date from its run:
        otherwise :class:`~harness.catalog.timeline.SetRefused` is raised, naming the file,
        its real time and the run it most likely comes from.

        ``checksums`` (default: ``backups.checksums``) hashes the set's files here; a caller
        that has better things to do meanwhile passes False and calls :meth:`checksum_set`.
        """
        if at_or_before is not None and at_or_before.tzinfo is None:
            at_or_before = at_or_before.replace(tzinfo=dt.timezone.utc)
        excluded = set(exclude_runs)
        flags: list[str] = []
        reasons: list[str] = []
        max_skew = dt.timedelta(hours=self.config.max_skew_hours)

        runs = self.dump_runs()
        if not runs:
            raise self.nothing_found(
                "postgres-dump", "no database dump found",
                remedy="point backups.source at the backup root, or set backups.postgres_dump "
                       "(and backups.timestamp_format) to how your dumps are named")
        chosen, newest_considered = self._choose_dump_run(runs, at_or_before, excluded,
                                                          reasons)
        if newest_considered is not None and newest_considered is not chosen:
            flags.append(f"newest dump run {newest_considered.run} is incomplete: "
                         f"{newest_considered.describe_missing(self.databases)}; restoring "
                         f"the older complete run {chosen.run} instead")
        backup_time = chosen.taken_at
        for db in self.databases:
            d = chosen.dumps[db]
            why = ("newest complete run" if newest_considered is chosen else
                   "newest complete run (newer runs are incomplete)")
            if at_or_before:
                why += f" at or before {at_or_before.isoformat()}"
            reasons.append(f"{d.relpath.rsplit('/', 1)[-1]} of run {chosen.run} chosen: {why}")
        dump_times = [d.taken_at for d in chosen.dumps.values() if d.taken_at]
        if dump_times and max(dump_times) - min(dump_times) > max_skew:
            flags.append(f"the dumps of run {chosen.run} were taken "
                         f"{hours(max(dump_times) - min(dump_times)):.1f} h apart "
                         f"(more than max_skew_hours={self.config.max_skew_hours:g})")

        # A run stamped with the day only (or the hour) took place somewhere in that day:
        # its companions are chosen up to the end of the time its name covers.
        resolution = self.patterns["postgres-dump"].resolution
        run_end = backup_time + resolution - dt.timedelta(seconds=1) \
            if resolution > dt.timedelta(seconds=1) else backup_time
        warehouse = self._choose_warehouse(run_end, at_or_before, excluded, flags, reasons)
        master_key = self._choose_master_key(run_end, flags, reasons)
        base = self._choose_base_backup(run_end, excluded, flags, reasons)
        wal_archive = self._wal_location(flags, reasons)
        objects = self.objects()
        objects_root = self._objects_location(flags, reasons, objects)

        members = [(f"{db} dump ({chosen.dumps[db].relpath})", chosen.dumps[db].taken_at)
                   for db in self.databases]
        if warehouse:
            members.append((f"warehouse snapshot {warehouse.run}", warehouse.taken_at))
        times = [t for _, t in members if t]
        if times and max(times) - min(times) > max_skew:
            listing = "; ".join(f"{name} at {iso_or_unknown(t)}" for name, t in members)
            text = (f"the restore set spans {hours(max(times) - min(times)):.1f} h, more than "
                    f"max_skew_hours={self.config.max_skew_hours:g}: {listing}")
            if strict:
                raise DrillError(
                    text, store="catalog", path=self.source.root,
                    remedy="check why the stores' backups were not taken together (a failed "
                           "or late backup job); restore anyway with strict=False, or raise "
                           "backups.max_skew_hours if such a gap is acceptable")
            flags.append(text)

        rs = RestoreSet(backup_time=backup_time, run=chosen.run,
                        dumps={db: chosen.dumps[db] for db in self.databases},
                        warehouse=warehouse, objects_root=objects_root,
                        master_key=master_key, base_backup=base, wal_archive=wal_archive,
                        flags=flags, reasons=reasons, objects=objects)
        if verify_times:
            self.timeline.verify(rs)
            if resolution > dt.timedelta(minutes=1):
                made = [t for t in (self.timeline.dump_time(a)[0] for a in rs.dumps.values())
                        if t is not None]
                if made:
                    # The name gives only the day (or hour); the dumps say when it was.
                    rs.backup_time = max(made)
                    reasons.append(f"backup time {rs.backup_time.isoformat()}: the newest "
                                   "pg_dump header of the run (its name gives only "
                                   f"{self.patterns['postgres-dump'].timestamp_format!r})")
        if self.config.checksums if checksums is None else checksums:
            self.checksum_set(rs)
        return rs

    def _choose_dump_run(self, runs: list[DumpRun], at_or_before: dt.datetime | None,
                         excluded: set[str], reasons: list[str]
                         ) -> tuple[DumpRun, DumpRun | None]:
        considered: list[DumpRun] = []
        for run in reversed(runs):
            if run.run in excluded:
                reasons.append(f"dump run {run.run} skipped: excluded by the caller")
                continue
            if at_or_before and run.taken_at > at_or_before:
                reasons.append(f"dump run {run.run} skipped: after "
                               f"{at_or_before.isoformat()}")
                continue
            considered.append(run)
            if not run.missing(self.databases):
                return run, considered[0]
            reasons.append(f"dump run {run.run} skipped: missing "
                           f"{run.describe_missing(self.databases)}")
        detail = "\n".join(
            f"{r.run}: " + (f"missing {r.describe_missing(self.databases)}"
                            if r.missing(self.databases) else "complete")
            + (" (excluded)" if r.run in excluded else "")
            + (" (after the requested time)" if at_or_before and r.taken_at > at_or_before
               else "")
            for r in reversed(runs))
        limit = f" at or before {at_or_before.isoformat()}" if at_or_before else ""
        raise DrillError(
            f"no dump run{limit} holds all of {', '.join(self.databases)} "
            f"({len(runs)} run(s) found under "
            f"{self.source.location(self.patterns['postgres-dump'].list_prefix)})",
            store="postgres", path=self.source.location(self.patterns["postgres-dump"].list_prefix),
            remedy="the databases must restore together: find the failed dump job, or set "
                   "backups.databases if a database is not deployed",
            detail=detail)

    def _choose_warehouse(self, backup_time: dt.datetime, at_or_before: dt.datetime | None,
                          excluded: set[str], flags: list[str], reasons: list[str]
                          ) -> WarehouseSnapshot | None:
        max_skew = dt.timedelta(hours=self.config.max_skew_hours)
        snaps = [s for s in self.warehouse_snapshots() if s.run not in excluded]
        if not snaps:
            flags.append(f"no warehouse snapshot found (backups.warehouse_table = "
                         f"{self.patterns['warehouse'].pattern!r} under "
                         f"{self.source.root}): managed tables cannot be restored")
            return None
        before = [s for s in snaps if s.taken_at <= backup_time]
        if before:
            snap = before[-1]
            gap = backup_time - snap.taken_at
            reasons.append(f"warehouse snapshot {snap.run} chosen: closest at or before the "
                           f"dump run ({hours(gap):.1f} h earlier)")
            if gap > max_skew:
                flags.append(f"warehouse snapshot {snap.run} is {hours(gap):.1f} h older than "
                             f"the dump run {self.layout.stamp(backup_time)} (more than "
                             f"max_skew_hours={self.config.max_skew_hours:g})")
        else:
            after = [s for s in snaps if at_or_before is None or s.taken_at <= at_or_before]
            if not after:
                flags.append(f"no warehouse snapshot at or before "
                             f"{(at_or_before or backup_time).isoformat()}")
                return None
            snap = after[0]
            gap = snap.taken_at - backup_time
            reasons.append(f"warehouse snapshot {snap.run} chosen: no snapshot at or before "
                           f"the dump run; the closest is {hours(gap):.1f} h after it")
            flags.append(f"warehouse snapshot {snap.run} was taken {hours(gap):.1f} h after "
                         "the dump run: managed tables may hold rows the databases do not "
                         "know")
        if snap.manifest is None:
            flags.append(f"warehouse snapshot {snap.run} has no manifest "
                         f"({self.patterns['warehouse-manifest'].pattern!r}): row counts "
                         "cannot be verified")
        else:
            self._compare_manifest(snap, flags)
        return snap

    def _compare_manifest(self, snap: WarehouseSnapshot, flags: list[str]) -> None:
        assert snap.manifest is not None
        try:
            doc = json.loads(self.source.read_bytes(snap.manifest.relpath))
        except (ValueError, DrillError) as exc:
            flags.append(f"warehouse manifest {snap.manifest.location} is unreadable: {exc}")
            return
        listed = doc.get("tables") if isinstance(doc, dict) else None
        if not isinstance(listed, dict):
            return  # a manifest of another format: nothing to compare
        have = {k.rsplit(".", 1)[-1] for k in snap.tables}
        missing = sorted(set(listed) - have)
        if missing:
            flags.append(f"warehouse snapshot {snap.run} lacks files of tables its manifest "
                         f"lists: {', '.join(missing)}")

    def _choose_master_key(self, backup_time: dt.datetime, flags: list[str],
                           reasons: list[str]) -> Artifact | None:
        keys = self.master_keys()
        if not keys:
            where = self.source.location(self.patterns["master-key"].pattern)
            flags.append(f"master-key backup not found at {where}: encrypted secrets in the "
                         "restored databases cannot be decrypted without it")
            return None
        dated = [k for k in keys if k.run is not None]
        if dated:
            before = [k for k in dated if k.taken_at and k.taken_at <= backup_time]
            key = before[-1] if before else dated[0]
            reasons.append(f"master key {key.relpath} chosen: "
                           + ("newest at or before the dump run" if before else
                              "no master-key backup at or before the dump run; the oldest"))
        else:
            key = keys[-1]
            reasons.append(f"master key {key.relpath} chosen: the master-key Secret backup "
                           "(it does not change between runs)")
        return key

    def _choose_base_backup(self, backup_time: dt.datetime, excluded: set[str],
                            flags: list[str], reasons: list[str]) -> Artifact | None:
        bases = [b for b in self.base_backups() if b.run not in excluded]
        before = [b for b in bases if b.taken_at and b.taken_at <= backup_time]
        if not before:
            flags.append("no base backup at or before the dump run"
                         + (f" (found {len(bases)} later one(s))" if bases else "")
                         + ": point-in-time recovery to that time is not possible")
            return None
        base = before[-1]
        assert base.taken_at is not None
        reasons.append(f"base backup {base.relpath} chosen: newest at or before the dump run "
                       f"({hours(backup_time - base.taken_at):.1f} h earlier)")
        return base

    def _wal_location(self, flags: list[str], reasons: list[str]) -> str | None:
        files = self._entries(self.wal_prefix)
        where = self.source.location(self.wal_prefix)
        if not files:
            flags.append(f"WAL archive {where} is empty or missing: point-in-time recovery "
                         "is not possible")
            return None
        reasons.append(f"WAL archive at {where} ({len(files)} files)")
        return where

    def _objects_location(self, flags: list[str], reasons: list[str],
                          objs: list[Artifact]) -> str | None:
        where = self.source.location(self.objects_prefix)
        if not objs:
            flags.append(f"objects replica {where} holds no object matching "
                         f"{self.patterns['objects'].pattern!r}: knowledge-base documents "
                         "cannot be restored")
            return None
        buckets = sorted({o.name.split("/", 1)[0] for o in objs})
        reasons.append(f"objects replica at {where} ({len(objs)} objects in "
                       f"{', '.join(buckets)})")
        return where

    def checksum_set(self, rs: RestoreSet) -> None:
        """Record the SHA-256 of every file of the set (streamed; folders keep none)."""
        rs.dumps = {db: self.with_checksum(a) for db, a in rs.dumps.items()}
        if rs.warehouse:
            if rs.warehouse.manifest:
                rs.warehouse.manifest = self.with_checksum(rs.warehouse.manifest)
            rs.warehouse.tables = {t: self.with_checksum(a)
                                   for t, a in rs.warehouse.tables.items()}
        if rs.master_key:
            rs.master_key = self.with_checksum(rs.master_key)
        if rs.base_backup:
            rs.base_backup = self.with_checksum(rs.base_backup)
