"""Point-in-time recovery: base backup + WAL archive, replayed to a target time, promoted.

The restored server proves it reached the target: PostgreSQL logs where recovery stopped and
the time of the last transaction it replayed, and the server must have left recovery. When
the archive ends before the target, PostgreSQL (13+) refuses to promote ("recovery ended
before configured recovery target was reached"); that becomes a clear error.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg

from harness.catalog import wal
from harness.errors import RestoreError, ServerStartError
from harness.scratch.run import Run
from harness.scratch.servers import LocalPostgres
from harness.tools import compression, pgbin
from harness.tools.wait import tail

_HBA = """# written by scrydon-drill for a scratch restore
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
"""


@dataclass
class PitrResult:
    """Proof of a point-in-time recovery."""

    target: dt.datetime
    stopped: str  # PostgreSQL's "recovery stopping ..." line
    last_transaction: str  # "last completed transaction was at log time ..."
    promoted: bool


class PitrPostgres(LocalPostgres):
    """A PostgreSQL server started on a copied base backup in recovery mode."""

    def _ready(self) -> bool:
        # Trust over the private socket: the base backup carries the source's passwords,
        # which the drill does not know; a fresh one is set once the server is promoted.
        with psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                             dbname="postgres", connect_timeout=2, autocommit=True) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                return False
            conn.execute(psycopg.sql.SQL("ALTER USER postgres PASSWORD {}").format(
                psycopg.sql.Literal(self.password)))
        return True


def base_backup_major(base: Path) -> int:
    """Major version of the server that wrote a base backup (its PG_VERSION file)."""
    try:
        return int((base / "PG_VERSION").read_text().strip())
    except (OSError, ValueError) as exc:
        raise RestoreError("the base backup has no readable PG_VERSION", store="postgres",
                           path=str(base), remedy="is this a pg_basebackup folder?") from exc


def _copy_for(src: Path, dst: Path, user: str | None) -> None:
    shutil.copytree(src, dst)
    if user:
        _chown_tree(dst, user)


def stage_wal(archive: Path, staged: Path, user: str | None) -> int:
    """Copy a WAL archive where recovery reads it, as PostgreSQL names its files.

    Compressed segments (``.gz``, ``.lz4``, ``.zst``...) are decompressed and pgBackRest's
    ``<segment>-<sha1>`` names shortened on the way, so ``restore_command`` is a plain copy.
    Returns the number of files staged.
    """
    staged.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(p for p in archive.rglob("*") if p.is_file()):
        found = wal.archived_segment(path.name)
        name = found[0] if found else compression.split_codec(path.name)[0]
        target = staged / name
        if compression.split_codec(path.name)[1]:
            compression.decompress_to(path, target)
        else:
            shutil.copyfile(path, target)
        count += 1
    if user:
        _chown_tree(staged, user)
    return count


def _chown_tree(root: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for base, _dirs, files in os.walk(root):
        os.chown(base, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(base, f), pw.pw_uid, pw.pw_gid)


def start_pitr(run: Run, base: Path, wal_archive: Path, target: dt.datetime, *,
               os_user: str = "", ready_timeout: float = 300,
               stop_timeout: float = 10) -> tuple[PitrPostgres, PitrResult]:
    """Restore ``base`` into a new server, replay ``wal_archive`` up to ``target``, promote.

    The backup itself is never touched: the base backup and the archive are copied into the
    run directory first. The caller stops the returned server.
    """
    major = base_backup_major(base)
    inst = pgbin.find(major, require_pgvector=False)  # recovery needs the very same major
    server = PitrPostgres(run, inst, name="pitr-postgres", os_user=os_user,
                          stop_timeout=stop_timeout)
    staged_wal = server.base / "wal-archive"
    stage_wal(wal_archive, staged_wal, server.user)
    _copy_for(base, server.datadir, server.user)
    os.chmod(server.datadir, 0o700)
    for name in ("postmaster.pid", "standby.signal", "backup_manifest"):
        (server.datadir / name).unlink(missing_ok=True)
    (server.datadir / "pg_hba.conf").write_text(_HBA)
    (server.datadir / "recovery.signal").write_text("")
    server.sockdir.mkdir(exist_ok=True)
    if server.user:
        pw = pwd.getpwnam(server.user)
        for p in (server.datadir / "pg_hba.conf", server.datadir / "recovery.signal",
                  server.sockdir):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    server.settings = {
        "restore_command": f"cp '{staged_wal}/%f' '%p'",
        "recovery_target_time": target.astimezone(dt.timezone.utc).isoformat(),
        "recovery_target_action": "promote",
        "recovery_target_inclusive": "on",
        "archive_mode": "off",
        "hba_file": str(server.datadir / "pg_hba.conf"),
    }
    server.start()
    try:
        server.wait_ready(ready_timeout)
    except ServerStartError as exc:
        log = tail(server.base / "server.log", 80)
        server.stop()
        if "recovery ended before configured recovery target was reached" in log:
            raise RestoreError(
                f"the WAL archive ends before the recovery target {target.isoformat()}",
                store="postgres", path=str(wal_archive), detail=log,
                remedy="choose an earlier --pitr-target, or find the missing WAL segments "
                "(the archive has a gap or stops early)") from exc
        raise RestoreError("point-in-time recovery failed", store="postgres",
                           path=str(base), detail=log) from exc
    log = (server.base / "server.log").read_text(errors="replace")
    stopped = re.findall(r"recovery stopping (?:before|after) .*", log)
    last = re.findall(r"last completed transaction was at log time .*", log)
    result = PitrResult(target=target, stopped=stopped[-1] if stopped else "",
                        last_transaction=last[-1] if last else "",
                        promoted="database system is ready to accept connections" in log)
    if not stopped:
        server.stop()
        raise RestoreError(
            f"recovery finished without reaching the target {target.isoformat()}: PostgreSQL "
            "did not log where it stopped", store="postgres", path=str(wal_archive),
            detail=tail(server.base / "server.log", 40),
            remedy="the target may lie after the last archived transaction")
    return server, result
