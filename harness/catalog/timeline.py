"""Does every member of a restore set really come from its run? Their own clocks say.

A backup's name tells which run it belongs to; several members also record, inside the file,
when they were made:

* a ``pg_dump`` archive's header holds its creation time (local time of the dumping host,
  without a zone: read in ``backups.source_timezone``);
* a base backup's ``backup_label`` holds ``START TIME``;
* the warehouse snapshot manifest holds ``taken_at`` (or ``created_at``/``timestamp``).

The master-key backup carries no time of its own (``kubectl get -o yaml`` minus the server
fields keeps none, and the Secret's ``creationTimestamp`` would only date the Secret), so it
is not dated.

A file copied from an older run under a newer run's name keeps its old inside time, however
its name and modification time read. :class:`Timeline` therefore refuses a set when a
member's own time lies more than ``backups.max_skew_hours`` from its run's time or from the
set's other members, or when it is not later than what the earlier run made: the set could
restore and pass every check, with one database a day (or a month) older than the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.catalog import wal
from harness.catalog.model import Artifact, RestoreSet, WarehouseSnapshot
from harness.errors import DrillError
from harness.tools.dumpinfo import HEADER_BYTES, parse_dump_header

# Two members of one run made within this many seconds of each other count as "the same
# time" when looking for the run a stray file was copied from.
_SAME_SECONDS = 1.0
_NEAREST_RUNS = 3


class SetRefused(DrillError):
    """A restore set whose members do not all come from their run; it must not be restored.

    ``run`` names the refused dump run (so a fallback can skip it), ``problems`` one line per
    member that does not fit.
    """

    def __init__(self, message: str, *, run: str, problems: list[str],
                 restore_set: RestoreSet | None = None, **kwargs: str | None) -> None:
        kwargs.setdefault("store", "catalog")
        super().__init__(message, **kwargs)
        self.run = run
        self.problems = problems
        self.restore_set = restore_set


#: A member's own time, or None with the reason it could not be read.
Dated = tuple[dt.datetime | None, str]


class CatalogView(Protocol):
    """What the timeline reads from a catalogue (:class:`~harness.catalog.catalog.Catalog`)."""

    source: Any
    config: Any
    patterns: dict[str, Any]

    def is_folder(self, artifact: Artifact) -> bool: ...  # noqa: D102

    def dump_runs(self) -> list[Any]: ...  # noqa: D102

    def warehouse_snapshots(self) -> list[WarehouseSnapshot]: ...  # noqa: D102

    def base_backups(self) -> list[Artifact]: ...  # noqa: D102


@dataclass(frozen=True)
class MemberTime:
    """One member of a set, the time its name gives and the time it records itself."""

    member: str  # "analytics dump", "warehouse snapshot manifest", "base backup"
    series: str  # what it is compared with in other runs: "dump:analytics", ...
    artifact: Artifact
    run_time: dt.datetime | None  # from {ts} in its name
    own_time: dt.datetime | None  # recorded inside it
    evidence: str  # where own_time comes from
    note: str = ""  # why it could not be dated
    run_span: dt.timedelta = dt.timedelta(seconds=1)  # how much time run_time covers

    def gap(self) -> dt.timedelta | None:
        """How far own_time lies outside the time its name gives (zero when inside)."""
        if self.own_time is None or self.run_time is None:
            return None
        if self.own_time < self.run_time:
            return self.own_time - self.run_time
        end = self.run_time + self.run_span
        return self.own_time - end if self.own_time > end else dt.timedelta(0)

    @property
    def label(self) -> str:
        """``the analytics dump postgres/dumps/<ts>/analytics.dump``."""
        return f"the {self.member} {self.artifact.relpath}"


def _hours(delta: dt.timedelta) -> float:
    return abs(delta.total_seconds()) / 3600


def _iso(t: dt.datetime | None) -> str:
    return t.isoformat() if t else "an unknown time"


@dataclass
class Timeline:
    """Reads the times backups record about themselves, through a catalogue (cached)."""

    catalog: CatalogView
    _cache: dict[tuple[str, str], tuple[dt.datetime | None, str]] = field(default_factory=dict)

    @property
    def zone(self) -> dt.tzinfo:
        """Time zone of the hosts that took the backups (``backups.source_timezone``)."""
        name = self.catalog.config.source_timezone
        return dt.timezone.utc if name in ("", "UTC") else zoneinfo.ZoneInfo(name)

    @property
    def max_skew(self) -> dt.timedelta:
        """``backups.max_skew_hours`` as a time difference."""
        return dt.timedelta(hours=self.catalog.config.max_skew_hours)

    # -- reading one member --------------------------------------------------------------------
    def _cached(self, kind: str, art: Artifact, read: Callable[[], Dated]) -> Dated:
        key = (kind, art.relpath)
        if key not in self._cache:
            try:
                self._cache[key] = read()
            except DrillError as exc:
                self._cache[key] = (None, exc.message)
            except (OSError, ValueError) as exc:
                self._cache[key] = (None, f"{type(exc).__name__}: {exc}")
        return self._cache[key]

    def dump_time(self, art: Artifact) -> tuple[dt.datetime | None, str]:
        """When a dump was made, from its pg_dump header (``(None, why)`` if unreadable)."""
        source = self.catalog.source

        def read() -> tuple[dt.datetime | None, str]:
            rel = art.relpath
            if self.catalog.is_folder(art):
                rel = f"{rel}/toc.dat"  # a directory-format dump
            header = parse_dump_header(source.read_head(rel, HEADER_BYTES), art.location)
            when = header.created_at(self.zone)
            return when, "" if when else f"unreadable creation time {header.created!r}"

        return self._cached("dump", art, read)

    def base_time(self, art: Artifact) -> tuple[dt.datetime | None, str]:
        """When a base backup started, from its ``backup_label``."""
        source = self.catalog.source

        def read() -> tuple[dt.datetime | None, str]:
            raw = wal.base_member(source, art.relpath, "backup_label")
            if raw is None:
                return None, "no backup_label"
            label = wal.parse_backup_label(raw.decode("utf-8", errors="replace"))
            when = wal.label_start_time(label.start_time, self.zone)
            return when, "" if when else f"unreadable START TIME {label.start_time!r}"

        return self._cached("base", art, read)

    def manifest_time(self, art: Artifact) -> tuple[dt.datetime | None, str]:
        """When a warehouse snapshot was taken, from its manifest."""
        source = self.catalog.source

        def read() -> tuple[dt.datetime | None, str]:
            doc = json.loads(source.read_bytes(art.relpath))
            if not isinstance(doc, dict):
                return None, "the manifest is not a JSON object"
            for key in ("taken_at", "created_at", "timestamp", "backup_time"):
                if isinstance(doc.get(key), str):
                    when = dt.datetime.fromisoformat(doc[key].replace("Z", "+00:00"))
                    if when.tzinfo is None:
                        when = when.replace(tzinfo=self.zone)
                    return when.astimezone(dt.timezone.utc), ""
            return None, "the manifest records no time"

        return self._cached("manifest", art, read)

    # -- a whole set ---------------------------------------------------------------------------
    def members(self, rs: RestoreSet) -> list[MemberTime]:
        """The dated (and undated) members of a restore set."""
        out: list[MemberTime] = []
        for db, art in sorted(rs.dumps.items()):
            when, note = self.dump_time(art)
            out.append(self._member(f"{db} dump", f"dump:{db}", art, when, "pg_dump header",
                                    note))
        if rs.warehouse and rs.warehouse.manifest:
            art = rs.warehouse.manifest
            when, note = self.manifest_time(art)
            out.append(self._member("warehouse snapshot manifest", "warehouse", art, when,
                                    "manifest", note))
        if rs.base_backup:
            when, note = self.base_time(rs.base_backup)
            out.append(self._member("base backup", "base", rs.base_backup, when,
                                    "backup_label START TIME", note))
        return out

    def _member(self, member: str, series: str, art: Artifact, when: dt.datetime | None,
                evidence: str, note: str) -> MemberTime:
        return MemberTime(member, series, art, self._run_time(art), when, evidence, note,
                          self.catalog.patterns[art.store].resolution)

    def _run_time(self, art: Artifact) -> dt.datetime | None:
        # taken_at comes from {ts} when the name has one; otherwise it is a modification
        # time, which a copy can carry over and so proves nothing.
        named = self.catalog.patterns[art.store].has_ts
        return art.taken_at if named and art.run is not None else None

    def _previous(self, rs: RestoreSet) -> list[MemberTime]:
        """What the run before the set's run made (the same series, one run earlier)."""
        cat = self.catalog
        out: list[MemberTime] = []
        runs = [r for r in cat.dump_runs() if r.taken_at < rs.backup_time]
        if runs:
            prev = runs[-1]
            for db, art in sorted(prev.dumps.items()):
                if db in rs.dumps:
                    when, note = self.dump_time(art)
                    out.append(self._member(f"{db} dump", f"dump:{db}", art, when,
                                            "pg_dump header", note))
        if rs.warehouse and rs.warehouse.manifest:
            snaps = [s for s in cat.warehouse_snapshots()
                     if s.taken_at < rs.warehouse.taken_at and s.manifest]
            if snaps:
                art = snaps[-1].manifest
                assert art is not None
                when, note = self.manifest_time(art)
                out.append(self._member("warehouse snapshot manifest", "warehouse", art,
                                        when, "manifest", note))
        if rs.base_backup and rs.base_backup.taken_at:
            bases = [b for b in cat.base_backups()
                     if b.taken_at and b.taken_at < rs.base_backup.taken_at]
            if bases:
                when, note = self.base_time(bases[-1])
                out.append(self._member("base backup", "base", bases[-1], when,
                                        "backup_label START TIME", note))
        return out

    def _series_runs(self, series: str) -> list[Artifact]:
        cat = self.catalog
        if series.startswith("dump:"):
            db = series.split(":", 1)[1]
            return [r.dumps[db] for r in cat.dump_runs() if db in r.dumps]
        if series == "warehouse":
            return [s.manifest for s in cat.warehouse_snapshots() if s.manifest]
        return list(cat.base_backups())

    def _own(self, series: str, art: Artifact) -> dt.datetime | None:
        if series.startswith("dump:"):
            return self.dump_time(art)[0]
        if series == "warehouse":
            return self.manifest_time(art)[0]
        return self.base_time(art)[0]

    def likely_origin(self, m: MemberTime) -> str:
        """The run a stray member most likely comes from, as a phrase."""
        assert m.own_time is not None
        others = [a for a in self._series_runs(m.series)
                  if a.relpath != m.artifact.relpath and self._run_time(a)]
        if not others:
            return "no other run of the backup source matches it"
        own_time = m.own_time
        others.sort(key=lambda a: abs(((a.taken_at or own_time) - own_time).total_seconds()))
        for art in others[:_NEAREST_RUNS]:
            own = self._own(m.series, art)
            if own and abs((own - m.own_time).total_seconds()) <= _SAME_SECONDS:
                return (f"it is most likely a copy of run {art.run}'s file {art.relpath} "
                        f"(made at the same time)")
        best = others[0]
        return f"it most likely comes from run {best.run} (named {_iso(best.taken_at)})"

    def problems(self, rs: RestoreSet) -> list[str]:
        """One line per member that does not date from its run (empty: the set agrees)."""
        members = self.members(rs)
        skew = self.max_skew
        limit = f"max_skew_hours={self.catalog.config.max_skew_hours:g}"
        out: list[str] = []
        flagged: set[str] = set()
        for m in members:
            gap = m.gap()
            if gap is None or m.own_time is None or m.run_time is None:
                continue
            if abs(gap) > skew:
                side = "before" if gap.total_seconds() < 0 else "after"
                out.append(f"{m.label} was made at {m.own_time.isoformat()} ({m.evidence}), "
                           f"{_hours(gap):.1f} h {side} the time its name gives "
                           f"({m.run_time.isoformat()}; more than {limit}); "
                           + self.likely_origin(m))
                flagged.add(m.artifact.relpath)
        # The members of one run (not the weekly base backup) were made together.
        run_members = [m for m in members if m.own_time and m.series != "base"]
        if not out and len(run_members) > 1:
            times = [m.own_time for m in run_members if m.own_time is not None]
            if max(times) - min(times) > skew:
                middle = dt.datetime.fromtimestamp(
                    statistics.median(t.timestamp() for t in times), dt.timezone.utc)
                odd = max(run_members,
                          key=lambda m: abs(((m.own_time or middle) - middle).total_seconds()))
                assert odd.own_time is not None
                out.append(f"{odd.label} was made at {odd.own_time.isoformat()} "
                           f"({odd.evidence}), {_hours(odd.own_time - middle):.1f} h from the "
                           f"other members of run {rs.run} (more than {limit}); "
                           + self.likely_origin(odd))
                flagged.add(odd.artifact.relpath)
        # Nothing of a run can be older than what the run before it made.
        previous = self._previous(rs)
        for m in members:
            if m.own_time is None or m.artifact.relpath in flagged:
                continue
            earlier = [p for p in previous if p.own_time and
                       (p.series == m.series or (m.series != "base" and p.series != "base"))]
            if not earlier:
                continue
            newest = max(earlier, key=lambda p: p.own_time or dt.datetime.min.replace(
                tzinfo=dt.timezone.utc))
            assert newest.own_time is not None
            if m.own_time <= newest.own_time:
                out.append(f"{m.label} was made at {m.own_time.isoformat()} ({m.evidence}), "
                           f"no later than {newest.label} of the earlier run "
                           f"({newest.own_time.isoformat()}): it cannot belong to the newer "
                           "run; " + self.likely_origin(m))
                flagged.add(m.artifact.relpath)
        return out

    def summary(self, rs: RestoreSet) -> str:
        """One line for the set's reasons: how the members' own times agree."""
        parts = []
        for m in self.members(rs):
            if m.own_time is None:
                parts.append(f"{m.member}: not dated ({m.note or 'no time recorded'})")
            elif m.run_time is not None:
                delta = (m.own_time - m.run_time).total_seconds()
                parts.append(f"{m.member} made {delta:+.0f} s from its run's time "
                             f"({m.evidence})")
            else:
                parts.append(f"{m.member} made at {m.own_time.isoformat()} ({m.evidence})")
        return "member times: " + "; ".join(parts)

    def verify(self, rs: RestoreSet) -> None:
        """Raise :class:`SetRefused` when a member does not date from its run."""
        problems = self.problems(rs)
        if not problems:
            rs.reasons.append(self.summary(rs))
            return
        root = self.catalog.source.root
        raise SetRefused(
            f"restore set {rs.run} refused: {len(problems)} member(s) were not made by that "
            "run:\n" + "\n".join(f"- {p}" for p in problems),
            run=rs.run, problems=problems, restore_set=rs, path=root,
            remedy="a backup job wrote (or re-uploaded) a file of another run under this "
                   "run's name: find which job and why; restore the previous complete set "
                   "meanwhile (drill.fallback = true). If the backup hosts do not run on UTC, "
                   "set backups.source_timezone; if such gaps are normal here, raise "
                   "backups.max_skew_hours")
