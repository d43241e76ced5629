"""Faults of the environment, told apart from faults of the backups.

A restore that fails because the scratch disk filled up, a scratch server died or the backup
source went away says nothing about the backups: blaming them (exit 1) would send an
operator to the wrong place, and a retry elsewhere would pass. So when a store fails to
restore, the environment is examined first, and a fault found there becomes an error of the
scratch environment or of the source (exit 3) naming the cause. The scratch servers' clocks
are compared with this machine's the same way before anything is restored: recency checks
and point-in-time targets are read against them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import DrillError, ScratchError, SourceUnavailable
from harness.scratch.endpoints import Endpoints

# What a full filesystem looks like in the messages of pg_restore, PostgreSQL, MariaDB,
# SeaweedFS and Python.
_DISK_FULL = ("no space left on device", "could not extend file", "errno 28", "disk full",
              "storage full", "insufficient storage", "errcode: 28", "error 28")
#: Below this many free bytes the scratch filesystem counts as full whatever the messages say.
FULL_BELOW = 4 * 1024 * 1024


def diagnose(errors: dict[str, str], endpoints: Endpoints, source: Any,
             staging: Path) -> DrillError | None:
    """The environment fault behind these restore ``errors``, or None if there is none.

    Checked in this order: the source went away (every other symptom follows from it),
    the scratch filesystem is full, a scratch server stopped answering.
    """
    text = "\n".join(f"{store}: {message}" for store, message in sorted(errors.items()))
    gone = source_unreachable(source)
    if gone:
        return SourceUnavailable(
            f"the backup source {source.root} became unreachable during the restore: {gone}",
            store="backups", path=str(source.root),
            remedy="make the backup source reachable again and rerun the drill; the backups "
                   "themselves were not judged", detail=text)
    full = _full_filesystem(text, staging)
    if full:
        return ScratchError(
            f"the scratch filesystem is full: {full}", store="scratch", path=str(staging.parent),
            remedy="give scratch.root a filesystem with room for every restored store "
                   "(several times the size of the backups), or remove what fills it; the "
                   "backups themselves were not judged", detail=text)
    for store in sorted(errors):
        why = server_unreachable(store, endpoints)
        if why:
            return ScratchError(
                f"the scratch {store} server stopped answering during the restore ({why})",
                store="scratch", path=str(staging.parent),
                remedy="rerun with scratch.keep = \"failed\" and read the server's log in the "
                       "run folder (a crash, an OOM kill, or something that stopped it); the "
                       "backups themselves were not judged", detail=text)
    return None


def source_unreachable(source: Any) -> str | None:
    """Why the backup source can no longer be read, or None while it can."""
    kind = getattr(source, "kind", "")
    if kind == "directory":
        root = Path(source.root)
        return None if root.is_dir() else f"the folder {root} no longer exists"
    client = getattr(source, "client", None)
    bucket = getattr(source, "bucket", None)
    if client is None or bucket is None:
        return None
    try:
        client.head_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the answer
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


def _full_filesystem(text: str, staging: Path) -> str | None:
    folder = staging if staging.exists() else staging.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        usage = None
    said = next((p for p in _DISK_FULL if p in text.lower()), None)
    if usage is not None and (said or usage.free < FULL_BELOW):
        return (f"{_mib(usage.free)} free of {_mib(usage.total)} on the filesystem of "
                f"{_mount_point(folder)}" + (f" (the restore said \"{said}\")" if said else ""))
    return f"the restore said \"{said}\"" if said else None


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return path


def server_unreachable(store: str, endpoints: Endpoints, timeout: float = 3.0) -> str | None:
    """Why the scratch server of ``store`` does not answer, or None when it does."""
    if store == "postgres" and endpoints.postgres is not None:
        import psycopg

        try:
            with psycopg.connect(**endpoints.postgres.conninfo(), connect_timeout=int(timeout)):
                return None
        except psycopg.Error as exc:
            return str(exc).strip().splitlines()[0][:200]
    if store == "objects" and endpoints.s3 is not None:
        url = urlsplit(endpoints.s3.url)
        return _tcp(url.hostname or "127.0.0.1", url.port or 80, timeout)
    if store == "warehouse" and endpoints.warehouse is not None:
        return _tcp(endpoints.warehouse.host, endpoints.warehouse.port, timeout)
    return None


def _tcp(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def clock_skew(endpoints: Endpoints) -> dict[str, float]:
    """Seconds each scratch server's clock is ahead of this machine's (negative: behind)."""
    skews: dict[str, float] = {}
    if endpoints.postgres is not None:
        import psycopg

        with psycopg.connect(**endpoints.postgres.conninfo(), connect_timeout=5) as pg:
            skews["postgres"] = _skew(pg.execute("SELECT clock_timestamp()").fetchone())
    if endpoints.warehouse is not None:
        conn: Any = endpoints.warehouse.connect()
        try:
            with conn.cursor() as cur:
                # UTC_TIMESTAMP() exists in MariaDB, MySQL and StarRocks alike.
                cur.execute("SELECT UTC_TIMESTAMP()")
                row = cur.fetchone()
        finally:
            conn.close()
        if row and isinstance(row[0], dt.datetime):
            skews["warehouse"] = _skew((row[0].replace(tzinfo=dt.timezone.utc),))
    return skews


def _skew(row: Any) -> float:
    # Halfway through the round trip would be more exact; a skew worth refusing is minutes.
    server: dt.datetime = row[0]
    return float((server - dt.datetime.now(dt.timezone.utc)).total_seconds())


def check_clocks(endpoints: Endpoints, limit: float) -> dict[str, float]:
    """Refuse scratch servers whose clocks differ from this machine's by more than
    ``limit`` seconds (0 disables); return the measured skews."""
    skews = clock_skew(endpoints)
    off = {store: s for store, s in skews.items() if limit and abs(s) > limit}
    if off:
        said = ", ".join(f"{store} {s:+.0f} s" for store, s in sorted(off.items()))
        raise ScratchError(
            f"the scratch servers' clocks are skewed from this machine's: {said} (more than "
            f"{limit:g} s)", store="scratch",
            remedy="synchronise the clocks (NTP) of the machine or nodes the scratch servers "
                   "run on; recency checks and point-in-time targets read them. "
                   "scratch.max_clock_skew_seconds sets the tolerance (0 turns the check off)")
    return skews


#: Room each store takes once restored, per byte of its backup: a custom-format dump is
#: compressed and restores with its indexes; a table's snapshot file restores with its
#: indexes; objects are stored as they are, with the object store's own bookkeeping.
EXPANSION = {"postgres": 4.0, "objects": 1.1, "warehouse": 2.0}
#: The servers' own files (catalogues, logs, preallocated WAL and volume files).
SERVER_ALLOWANCE = 512 * 1024 * 1024


def disk_needed(restore_set: Any, *, servers_here: bool, staged: bool) -> dict[str, int]:
    """Estimated bytes the restore of ``restore_set`` writes to the scratch filesystem.

    ``servers_here``: the scratch servers keep their data on it (the local provider);
    ``staged``: a remote source's files are downloaded to it before they are restored.
    """
    backup = {"postgres": sum(a.size or 0 for a in restore_set.dumps.values()),
              "objects": sum(a.size or 0 for a in restore_set.objects),
              "warehouse": sum(a.size or 0 for a in (restore_set.warehouse.tables.values()
                                                    if restore_set.warehouse else []))}
    need: dict[str, int] = {}
    if servers_here:
        need.update({store: int(size * EXPANSION[store]) for store, size in backup.items()})
        need["servers"] = SERVER_ALLOWANCE
    if staged:
        need["staged downloads"] = sum(backup.values())
    return need


def check_free_disk(restore_set: Any, folder: Path, *, servers_here: bool,
                    staged: bool) -> dict[str, int]:
    """Refuse to start a restore the scratch filesystem has no room for (exit 3, before any
    server starts) and say with numbers what is needed; return the estimate."""
    need = disk_needed(restore_set, servers_here=servers_here, staged=staged)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    total = sum(need.values())
    if need and free < total:
        parts = ", ".join(f"{store} {_mib(n)}" for store, n in need.items() if n)
        raise ScratchError(
            f"the scratch filesystem of {_mount_point(probe)} has {_mib(free)} free; this "
            f"restore needs about {_mib(total)} ({parts})", store="scratch", path=str(folder),
            remedy="point scratch.root at a filesystem with more room or free some; the "
                   "estimate counts dumps 4x, warehouse files 2x, objects 1.1x and 512 MiB for "
                   "the servers; scratch.check_free_disk = false skips this check")
    return need
