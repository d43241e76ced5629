"""Restore managed tables into StarRocks from its snapshot repository.

StarRocks cannot run on the machines this project is developed on (no image registry), so
this path is exercised against a scripted connection in the tests and against real StarRocks
on users' machines. What it does, following StarRocks' BACKUP/RESTORE:

1. create a READ ONLY repository with the same name and location as the backing cluster's;
2. ``SHOW SNAPSHOT ON <repo>`` to find the snapshot and its timestamp (copied verbatim);
3. ``RESTORE SNAPSHOT db.snap FROM repo ON (...) PROPERTIES("backup_timestamp"=...,
   "replication_num"="1")`` (single-backend scratch clusters need one replica);
4. poll ``SHOW RESTORE FROM db`` until FINISHED or CANCELLED;
5. query every restored table, because a FINISHED job is not proof the tables answer.

Snapshot files in the repository carry the MD5 of their content in their name, so a copy of
the repository can also be checked offline (:func:`verify_repository_files`).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DrillError
from harness.tools.wait import WaitTimeout, wait_until

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str, what: str) -> str:
    if not _IDENT.match(name):
        raise DrillError(f"invalid StarRocks {what} name {name!r}", store="warehouse",
                         remedy="use letters, digits and underscores")
    return f"`{name}`"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_repository_sql(repo: str, location: str, *, access_key: str, secret_key: str,
                          endpoint: str = "", read_only: bool = True) -> str:
    """``CREATE [READ ONLY] REPOSITORY`` for an S3 location (contains the secret key)."""
    props = {"aws.s3.access_key": access_key, "aws.s3.secret_key": secret_key}
    if endpoint:
        props["aws.s3.endpoint"] = endpoint
    plist = ", ".join(f"{_quote(k)}={_quote(v)}" for k, v in props.items())
    ro = "READ ONLY " if read_only else ""
    return (f"CREATE {ro}REPOSITORY {_ident(repo, 'repository')} WITH BROKER ON LOCATION "
            f"{_quote(location)} PROPERTIES ({plist})")


@dataclass(frozen=True)
class SnapshotEntry:
    """One (snapshot, timestamp) pair of a repository."""

    snapshot: str
    timestamp: str  # verbatim, e.g. 2024-12-09-10-25-58-842
    status: str


def parse_show_snapshot(rows: Sequence[Sequence[Any]]) -> list[SnapshotEntry]:
    """Flatten ``SHOW SNAPSHOT ON repo`` rows; several timestamps share one cell."""
    out = []
    for row in rows:
        snapshot, stamps, status = str(row[0]), str(row[1]), str(row[2]) if len(row) > 2 else ""
        for stamp in filter(None, (s.strip() for s in stamps.splitlines())):
            out.append(SnapshotEntry(snapshot=snapshot, timestamp=stamp, status=status.strip()))
    return out


def latest_snapshot(entries: list[SnapshotEntry], name: str | None = None) -> SnapshotEntry:
    """The newest OK snapshot (of ``name`` when given); timestamps sort as text."""
    ok = [e for e in entries if (name is None or e.snapshot == name)
          and e.status.upper() in {"OK", ""}]
    if not ok:
        names = sorted({e.snapshot for e in entries})
        raise DrillError("no usable snapshot in the StarRocks repository" +
                         (f" named {name}" if name else ""), store="warehouse",
                         remedy="snapshots present: " + (", ".join(names) or "none"))
    return max(ok, key=lambda e: e.timestamp)


def restore_snapshot_sql(database: str, snapshot: str, repo: str, timestamp: str, *,
                         tables: Sequence[str] = (), replication_num: int = 1) -> str:
    """``RESTORE SNAPSHOT`` with the required backup timestamp and the replica count."""
    on = ""
    if tables:
        on = " ON (" + ", ".join(_ident(t, "table") for t in tables) + ")"
    return (f"RESTORE SNAPSHOT {_ident(database, 'database')}.{_ident(snapshot, 'snapshot')} "
            f"FROM {_ident(repo, 'repository')}{on} PROPERTIES "
            f"(\"backup_timestamp\"={_quote(timestamp)}, "
            f"\"replication_num\"={_quote(str(replication_num))})")


@dataclass
class StarRocksRestore:
    """What a StarRocks restore did."""

    database: str
    snapshot: SnapshotEntry
    state: str
    tables: dict[str, int] = field(default_factory=dict)
    polls: int = 0


def _rows_as_dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def wait_for_restore(cursor: Any, database: str, *, timeout: float = 3600,
                     interval: float = 5.0, sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic) -> tuple[str, int]:
    """Poll ``SHOW RESTORE FROM db`` until the job ends; return (state, polls)."""
    polls = 0
    last = ""

    def finished() -> str | None:
        nonlocal polls, last
        cursor.execute(f"SHOW RESTORE FROM {_ident(database, 'database')}")
        polls += 1
        rows = _rows_as_dicts(cursor)
        job = rows[-1] if rows else {}
        last = str(job.get("State", "")).upper()
        if last == "CANCELLED":
            raise DrillError(f"StarRocks cancelled the restore of {database}: "
                             f"{job.get('Status', '')} {job.get('TaskErrMsg', '')}".strip(),
                             store="warehouse",
                             remedy="check the repository location, the snapshot timestamp "
                             "and replication_num against the scratch cluster's backends")
        return last if last == "FINISHED" else None

    try:
        state = wait_until(finished, timeout=timeout, transient=(), interval=interval,
                           max_interval=interval, sleep=sleep, clock=clock)
    except WaitTimeout as exc:
        raise DrillError(f"the StarRocks restore of {database} did not finish within "
                         f"{timeout:.0f} s (last state {last or 'unknown'})",
                         store="warehouse") from exc
    return state, polls


def restore_database(conn: Any, *, database: str, repo: str, location: str,
                     access_key: str, secret_key: str, endpoint: str = "",
                     snapshot: str | None = None, tables: Sequence[str] = (),
                     timeout: float = 3600, interval: float = 5.0,
                     sleep: Callable[[float], None] = time.sleep) -> StarRocksRestore:
    """Run steps 1-5 of the module docstring on a DB-API connection to the scratch FE."""
    with conn.cursor() as cur:
        cur.execute("SHOW REPOSITORIES")
        names = {str(r.get("RepoName", "")) for r in _rows_as_dicts(cur)}
        if repo not in names:
            cur.execute(create_repository_sql(repo, location, access_key=access_key,
                                              secret_key=secret_key, endpoint=endpoint))
        cur.execute(f"SHOW SNAPSHOT ON {_ident(repo, 'repository')}")
        entry = latest_snapshot(parse_show_snapshot(cur.fetchall()), snapshot)
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(database, 'database')}")
        cur.execute(restore_snapshot_sql(database, entry.snapshot, repo, entry.timestamp,
                                         tables=tables))
        state, polls = wait_for_restore(cur, database, timeout=timeout, interval=interval,
                                        sleep=sleep)
        result = StarRocksRestore(database=database, snapshot=entry, state=state, polls=polls)
        cur.execute(f"SHOW TABLES FROM {_ident(database, 'database')}")
        restored = [str(r[0]) for r in cur.fetchall()]
        for t in tables or restored:
            try:
                cur.execute(f"SELECT COUNT(*) FROM {_ident(database, 'database')}."
                            f"{_ident(t, 'table')}")
                result.tables[t] = int(cur.fetchone()[0])
            except Exception as exc:  # noqa: BLE001 - any failure here is the finding
                raise DrillError(f"StarRocks reported the restore FINISHED but table "
                                 f"{database}.{t} does not answer a query: {exc}",
                                 store="warehouse",
                                 remedy="inspect the table's tablets (SHOW TABLET) and the "
                                 "BE logs; treat the snapshot as unusable") from exc
    return result


def verify_repository_files(snapshot_dir: Path) -> list[str]:
    """Check every ``<name>.<md5>`` file below a snapshot folder; return the mismatches."""
    problems = []
    for path in sorted(p for p in snapshot_dir.rglob("*") if p.is_file()):
        m = re.search(r"\.([0-9a-f]{32})$", path.name)
        if not m:
            continue
        digest = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - StarRocks' own choice
        if digest != m.group(1):
            problems.append(f"{path}: content MD5 {digest} differs from the name's {m.group(1)}")
    return problems
