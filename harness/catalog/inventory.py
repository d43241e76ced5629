"""The backups in one source, store by store: every artefact with its time, size and checksum.

:class:`Inventory` reads one backup source through the layout patterns of the ``[backups]``
configuration and lists per store every backup with its time (from ``{ts}``; for artefacts
without one, such as the master key, the objects replica and WAL segments, the file's
modification time), size and, on request, SHA-256. Listings are cached: the source is read
once per question, however many questions a drill asks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.catalog.model import Artifact, WarehouseSnapshot
from harness.catalog.source import BackupSource, Entry
from harness.catalog.timeline import Timeline
from harness.config import BackupsConfig
from harness.errors import ConfigError, DrillError
from harness.layout import Layout, Match, PathPattern

ARTIFACT_KINDS = ("postgres-dump", "base-backup", "wal-archive", "objects", "warehouse",
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


def iso_or_unknown(t: dt.datetime | None) -> str:
    """ISO 8601 text of a time, or "unknown time"."""
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


class Inventory:
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
        """Every backup artefact of one store (see :data:`ARTIFACT_KINDS`), oldest first."""
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
            raise ValueError(f"unknown store {store!r}; one of {', '.join(ARTIFACT_KINDS)}")
        return [self.with_checksum(a) for a in arts] if checksums else arts

    def inventory(self, *, checksums: bool = False) -> dict[str, list[Artifact]]:
        """Every backup of every store."""
        return {store: self.backups(store, checksums=checksums) for store in ARTIFACT_KINDS}

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
