"""The backup catalogue: every backup of every store, and the restore set chosen from them.

:class:`Catalog` reads one backup source through the layout patterns of the ``[backups]``
configuration and lists per store every backup with its time (from ``{ts}``; for artefacts
without one, such as the master key, the objects replica and WAL segments, the file's
modification time), size and, on request, SHA-256. :meth:`Catalog.choose_restore_set` then
picks the latest backups that belong together and records why (``reasons``) and what is
doubtful about them (``flags``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.catalog.model import Artifact, RestoreSet, WarehouseSnapshot
from harness.catalog.source import BackupSource, Entry
from harness.catalog.timeline import Timeline
from harness.config import BackupsConfig
from harness.errors import ConfigError, DrillError
from harness.layout import Layout, Match, PathPattern

STORES = ("postgres-dump", "base-backup", "wal-archive", "objects", "warehouse",
          "warehouse-manifest", "master-key")
# The DrillError store each artefact store belongs to.
_ERROR_STORE = {"postgres-dump": "postgres", "base-backup": "postgres",
                "wal-archive": "postgres", "objects": "objects", "warehouse": "warehouse",
                "warehouse-manifest": "warehouse", "master-key": "master-key"}
_HINT_NAMES = 8


def layout_of(config: BackupsConfig) -> Layout:
    """The :class:`Layout` the ``[backups]`` section describes."""
    return Layout.of(config)


def database_list(config: BackupsConfig) -> tuple[str, ...]:
    """The databases that must restore together, from ``backups.databases``."""
    dbs = tuple(d.strip() for d in config.databases.split(",") if d.strip())
    if not dbs:
        raise ConfigError("backups.databases is empty",
                          remedy="list the databases that must restore together, e.g. "
                                 "auth,agentic,analytics,cortex,ontology")
    return dbs


def hours(delta: dt.timedelta) -> float:
    """A time difference in hours."""
    return delta.total_seconds() / 3600


def _iso(t: dt.datetime | None) -> str:
    return t.isoformat() if t else "unknown time"


@dataclass
class DumpRun:
    """The database dumps of one backup run."""

    run: str
    taken_at: dt.datetime
    dumps: dict[str, Artifact] = field(default_factory=dict)  # database -> dump

    def missing(self, databases: Iterable[str]) -> list[str]:
        """Databases without a usable dump in this run (absent, or an empty file)."""
        return [db for db in databases if db not in self.dumps or self.dumps[db].size == 0]

    def describe_missing(self, databases: Iterable[str]) -> str:
        """``analytics (no dump), cortex (empty file)``."""
        out = []
        for db in self.missing(databases):
            out.append(f"{db} (empty file)" if db in self.dumps else f"{db} (no dump)")
        return ", ".join(out)


@dataclass
class _Group:
    """Files below one folder match (a folder artefact) or one file match."""

    match: Match
    entries: list[Entry]


class Catalog:
    """The backups in one source, read through the layout of a ``[backups]`` configuration."""

    def __init__(self, source: BackupSource, config: BackupsConfig) -> None:
        self.source = source
        self.config = config
        self.layout = layout_of(config)
        self.databases = database_list(config)
        self.patterns: dict[str, PathPattern] = self.layout.compile()
        self._listings: dict[str, list[Entry]] = {}
        self._folders: set[str] = set()  # relpaths of folder artefacts seen so far
        self.timeline = Timeline(self)

    # -- listing -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget cached listings (the next question lists the source again)."""
        self._listings.clear()
        self._folders.clear()

    def _entries(self, prefix: str) -> list[Entry]:
        if prefix not in self._listings:
            # A listing of a parent folder already holds everything below this one.
            parent = next((k for k in self._listings
                           if k == "" or prefix.startswith(k + "/")), None)
            if parent is not None:
                self._listings[prefix] = [e for e in self._listings[parent]
                                          if not prefix or e.relpath.startswith(prefix + "/")]
            else:
                self._listings[prefix] = self.source.list_entries(prefix)
        return self._listings[prefix]

    def _groups(self, store: str) -> list[_Group]:
        pattern = self.patterns[store]
        groups: dict[str, _Group] = {}
        for entry in self._entries(pattern.list_prefix):
            m = pattern.match(entry.relpath)
            if m is None:
                continue
            g = groups.setdefault(m.matched, _Group(m, []))
            g.entries.append(entry)
        return [groups[k] for k in sorted(groups)]

    def _artifact(self, store: str, name: str, group: _Group) -> Artifact:
        m = group.match
        is_folder = m.rest is not None
        if is_folder:
            self._folders.add(m.matched)
        mtimes = [e.mtime for e in group.entries]
        taken_at = m.taken_at or (max(mtimes) if mtimes else None)
        return Artifact(store=store, name=name, location=self.source.location(m.matched),
                        relpath=m.matched, taken_at=taken_at,
                        size=sum(e.size for e in group.entries) if is_folder
                        else group.entries[0].size,
                        run=m.values.get("ts"))

    def is_folder(self, artifact: Artifact) -> bool:
        """True when the artefact is a folder (its files are below ``relpath``)."""
        if artifact.relpath in self._folders:
            return True
        entries = self._entries(self.patterns[artifact.store].list_prefix)
        return any(e.relpath.startswith(artifact.relpath + "/") for e in entries)

    def files_of(self, artifact: Artifact) -> list[Entry]:
        """The files an artefact consists of (one for a file, all below it for a folder)."""
        prefix = artifact.relpath
        entries = (self._entries(self.patterns[artifact.store].list_prefix)
                   if artifact.store in self.patterns else self._entries(prefix))
        return [e for e in entries if e.relpath == prefix or e.relpath.startswith(prefix + "/")]

    def dump_runs(self) -> list[DumpRun]:
        """Database dumps grouped by backup run, oldest first.

        Without ``{ts}`` in the pattern all dumps form one run named after its oldest dump.
        """
        runs: dict[str, DumpRun] = {}
        loose: list[Artifact] = []
        for g in self._groups("postgres-dump"):
            db = g.match.values["db"]
            art = self._artifact("postgres-dump", db, g)
            if art.run is None:
                loose.append(art)
                continue
            assert art.taken_at is not None  # a parsed {ts}
            run = runs.setdefault(art.run, DumpRun(art.run, art.taken_at))
            run.dumps[db] = art
        if loose:
            oldest = min(a.taken_at for a in loose if a.taken_at)
            stamp = self.layout.stamp(oldest)
            runs[stamp] = DumpRun(stamp, oldest, {a.name: dataclasses.replace(a, run=stamp)
                                                  for a in loose})
        return sorted(runs.values(), key=lambda r: (r.taken_at, r.run))

    def base_backups(self) -> list[Artifact]:
        """Base backups (``pg_basebackup`` folders or archives), oldest first."""
        arts = [self._artifact("base-backup", g.match.matched.rsplit("/", 1)[-1], g)
                for g in self._groups("base-backup")]
        return sorted(arts, key=lambda a: (a.taken_at, a.relpath))

    def warehouse_snapshots(self) -> list[WarehouseSnapshot]:
        """Warehouse snapshot runs (manifest and table files), oldest first.

        Without ``{ts}`` in the patterns all files form one snapshot named after the oldest.
        """
        tables: dict[str, list[tuple[str, str, Artifact]]] = {}
        manifests: dict[str, Artifact] = {}
        for g in self._groups("warehouse"):
            v = g.match.values
            art = self._artifact("warehouse", v["table"], g)
            tables.setdefault(art.run or "", []).append((v.get("database", ""), v["table"], art))
        for g in self._groups("warehouse-manifest"):
            art = self._artifact("warehouse-manifest", g.match.matched.rsplit("/", 1)[-1], g)
            manifests[art.run or ""] = art
        snaps: list[WarehouseSnapshot] = []
        for run in sorted(set(tables) | set(manifests)):
            arts = [a for _, _, a in tables.get(run, [])]
            if run in manifests:
                arts.append(manifests[run])
            times = [a.taken_at for a in arts if a.taken_at]
            taken_at = min(times)
            name = run or self.layout.stamp(taken_at, "warehouse")
            items = tables.get(run, [])
            dbs = sorted({db for db, _, _ in items})
            snap = WarehouseSnapshot(run=name, taken_at=taken_at,
                                     manifest=manifests.get(run),
                                     database=dbs[0] if len(dbs) == 1 else ",".join(dbs))
            for db, table, art in sorted(items, key=lambda t: (t[0], t[1])):
                # Keyed by table alone unless several databases would collide.
                snap.tables[table if len(dbs) <= 1 else f"{db}.{table}"] = (
                    art if run else dataclasses.replace(art, run=name))
            snaps.append(snap)
        return sorted(snaps, key=lambda s: (s.taken_at, s.run))

    def master_keys(self) -> list[Artifact]:
        """Master-key Secret backups, oldest first (usually exactly one)."""
        arts = [self._artifact("master-key", "master-key", g)
                for g in self._groups("master-key") if g.match.rest is None]
        return sorted(arts, key=lambda a: (a.taken_at, a.relpath))

    @property
    def wal_prefix(self) -> str:
        """The WAL archive folder, relative to the source's root."""
        return self.patterns["wal-archive"].pattern

    def wal_files(self) -> list[Artifact]:
        """Every file of the WAL archive (segments, ``.backup``, ``.history``, ``.partial``)."""
        out = []
        for e in self._entries(self.wal_prefix):
            out.append(Artifact(store="wal-archive", name=e.relpath.rsplit("/", 1)[-1],
                                location=self.source.location(e.relpath), relpath=e.relpath,
                                taken_at=e.mtime, size=e.size))
        return out

    @property
    def objects_prefix(self) -> str:
        """The folder holding the bucket replica, relative to the source's root."""
        return self.patterns["objects"].list_prefix

    def objects(self) -> list[Artifact]:
        """Every object of the bucket replica, named ``bucket/key``."""
        out = []
        for g in self._groups("objects"):
            v = g.match.values
            out.append(self._artifact("objects", f"{v['bucket']}/{v['key']}", g))
        return out

    def backups(self, store: str, *, checksums: bool = False) -> list[Artifact]:
        """Every backup artefact of one store (see :data:`STORES`), oldest first."""
        if store == "postgres-dump":
            arts = [a for r in self.dump_runs() for a in r.dumps.values()]
        elif store == "base-backup":
            arts = self.base_backups()
        elif store == "wal-archive":
            arts = self.wal_files()
        elif store == "objects":
            arts = self.objects()
        elif store == "warehouse":
            arts = [a for s in self.warehouse_snapshots() for a in s.tables.values()]
        elif store == "warehouse-manifest":
            arts = [s.manifest for s in self.warehouse_snapshots() if s.manifest]
        elif store == "master-key":
            arts = self.master_keys()
        else:
            raise ValueError(f"unknown store {store!r}; one of {', '.join(STORES)}")
        return [self.with_checksum(a) for a in arts] if checksums else arts

    def inventory(self, *, checksums: bool = False) -> dict[str, list[Artifact]]:
        """Every backup of every store."""
        return {store: self.backups(store, checksums=checksums) for store in STORES}

    def with_checksum(self, artifact: Artifact) -> Artifact:
        """The artefact with its SHA-256 (folders keep ``None`` and their total size)."""
        if artifact.sha256:
            return artifact
        # WAL files and objects are listed file by file: never a folder.
        if artifact.store not in ("wal-archive", "objects") and self.is_folder(artifact):
            return artifact
        return dataclasses.replace(artifact, sha256=self.source.sha256(artifact.relpath))

    # -- explaining absence --------------------------------------------------------------
    def nothing_found(self, store: str, what: str, *, remedy: str) -> DrillError:
        """An error saying which pattern was searched where and what is there instead."""
        pattern = self.patterns[store]
        folder = pattern.list_prefix
        found = self.source.children(folder, limit=_HINT_NAMES)
        probe = folder
        while found is None and probe:
            probe = probe.rsplit("/", 1)[0] if "/" in probe else ""
            found = self.source.children(probe, limit=_HINT_NAMES)
        where = self.source.location(folder)
        if probe == folder:
            seen = (f"{where} holds: {', '.join(found)}" if found
                    else f"{where} is empty")
        else:
            seen = (f"{where} does not exist; {self.source.location(probe)} holds: "
                    + (", ".join(found) if found else "nothing"))
        return DrillError(
            f"{what}: nothing matches backups.{pattern.name} = {pattern.pattern!r} "
            f"(timestamp format {pattern.timestamp_format!r}) under {self.source.root}; {seen}",
            store=_ERROR_STORE[store], path=where, remedy=remedy)

    # -- the restore set -------------------------------------------------------------------
    def choose_restore_set(self, *, at_or_before: dt.datetime | None = None,
                           exclude_runs: Iterable[str] = frozenset(),
                           strict: bool = False, verify_times: bool = True) -> RestoreSet:
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
            listing = "; ".join(f"{name} at {_iso(t)}" for name, t in members)
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
        if self.config.checksums:
            self._checksum_set(rs)
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

    def _checksum_set(self, rs: RestoreSet) -> None:
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


def open_catalog(config: BackupsConfig) -> Catalog:
    """A catalogue of the backup source ``config.source``."""
    from harness.catalog.source import open_source

    return Catalog(open_source(config), config)
