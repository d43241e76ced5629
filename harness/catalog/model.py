"""What the catalogue finds: backup artefacts, and the restore set chosen from them.

These types are the contract between the catalogue (which finds and chooses backups) and the
restore engine (which restores them). Times are timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from harness.records import LineageItem


@dataclass(frozen=True)
class Artifact:
    """One backup file, folder or object.

    ``store`` is one of ``postgres-dump``, ``base-backup``, ``wal-archive``, ``objects``,
    ``warehouse`` (one table's snapshot file), ``warehouse-manifest``, ``master-key``.
    ``location`` is an absolute path or an ``s3://bucket/key`` URI; ``relpath`` is relative
    to the backup source's root. ``sha256`` is computed by the catalogue when asked to
    (``None`` for folders).
    """

    store: str
    name: str
    location: str
    relpath: str
    taken_at: dt.datetime | None
    size: int | None
    sha256: str | None = None
    run: str | None = None  # the backup run's timestamp string, when the layout has one

    def lineage(self) -> LineageItem:
        """The artefact as a run-record lineage entry."""
        return LineageItem(store=self.store, name=self.name, location=self.location,
                           taken_at=self.taken_at.isoformat() if self.taken_at else None,
                           size=self.size, sha256=self.sha256, backup_run=self.run)


@dataclass
class WarehouseSnapshot:
    """One warehouse snapshot run: its manifest and one artefact per table."""

    run: str
    taken_at: dt.datetime
    manifest: Artifact | None
    tables: dict[str, Artifact] = field(default_factory=dict)  # table -> snapshot file
    database: str = ""


@dataclass
class RestoreSet:
    """The latest backups of every store that belong together, and why they were chosen."""

    backup_time: dt.datetime  # the time of the database dumps' run
    run: str  # that run's timestamp string
    dumps: dict[str, Artifact]  # database -> dump
    warehouse: WarehouseSnapshot | None
    objects_root: str | None  # location of the bucket replica (path or s3:// prefix)
    master_key: Artifact | None
    base_backup: Artifact | None = None  # newest base backup at or before backup_time
    wal_archive: str | None = None  # location of the WAL archive
    flags: list[str] = field(default_factory=list)  # skew and other warnings
    reasons: list[str] = field(default_factory=list)  # how the set was chosen
    # Every object of the replica, named bucket/key (restored one by one, wherever the
    # layout puts them).
    objects: list[Artifact] = field(default_factory=list)

    def artifacts(self) -> list[Artifact]:
        """Every artefact of the set (objects are listed by the restore, not here)."""
        out: list[Artifact] = list(self.dumps.values())
        if self.warehouse:
            if self.warehouse.manifest:
                out.append(self.warehouse.manifest)
            out.extend(self.warehouse.tables.values())
        if self.master_key:
            out.append(self.master_key)
        if self.base_backup:
            out.append(self.base_backup)
        return out

    def lineage(self) -> list[LineageItem]:
        """Lineage entries for the run record."""
        return [a.lineage() for a in self.artifacts()]
