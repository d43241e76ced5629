"""Point-in-time recovery, the parts every provider shares: WAL names, staging, settings, proof.

A provider recovers PostgreSQL wherever it runs its servers (a local process, a container,
a pod); what it needs to do so is the same everywhere: the archive staged as PostgreSQL names
its files (decompressed, pgBackRest's ``<segment>-<sha1>`` names shortened), the recovery
settings, and the proof read from the server's log that recovery stopped at the target and
the server was promoted. When the archive ends before the target, PostgreSQL (13+) refuses to
promote ("recovery ended before configured recovery target was reached").
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RestoreError
from harness.tools import compression

SEGMENT_NAME = re.compile(r"^[0-9A-F]{24}$")
# A segment as archived: plain, or as pgBackRest names it (a SHA-1 after a dash); any of
# them possibly compressed (see harness.tools.compression).
_ARCHIVED = re.compile(r"^([0-9A-F]{24})(?:-[0-9a-f]{40})?$")
_ENDED_EARLY = "recovery ended before configured recovery target was reached"

#: Client authentication of a recovered server: trust on its private socket (the base
#: backup carries the source's passwords, which the drill does not know), passwords on TCP.
RECOVERY_HBA = """# written by scrydon-drill for a scratch restore
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all 0.0.0.0/0 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
"""


def is_segment(name: str) -> bool:
    """True for a WAL segment file name (not ``.backup``, ``.history`` or ``.partial``)."""
    return bool(SEGMENT_NAME.match(name))


def archived_segment(name: str) -> tuple[str, str | None] | None:
    """``(segment name, codec)`` of an archived WAL segment file, None for other files."""
    base, codec = compression.split_codec(name)
    m = _ARCHIVED.match(base)
    return (m.group(1), codec) if m else None


@dataclass
class PitrResult:
    """Proof of a point-in-time recovery."""

    target: dt.datetime
    stopped: str  # PostgreSQL's "recovery stopping ..." line
    last_transaction: str  # "last completed transaction was at log time ..."
    promoted: bool


def base_backup_major(base: Path) -> int:
    """Major version of the server that wrote a base backup (its PG_VERSION file)."""
    try:
        return int((base / "PG_VERSION").read_text().strip())
    except (OSError, ValueError) as exc:
        raise RestoreError("the base backup has no readable PG_VERSION", store="postgres",
                           path=str(base), remedy="is this a pg_basebackup folder?") from exc


def chown_tree(root: Path, user: str | None) -> None:
    """Give ``root`` and everything below it to ``user`` (no-op without one)."""
    if not user:
        return
    pw = pwd.getpwnam(user)
    chown_ids(root, pw.pw_uid, pw.pw_gid)


def chown_ids(root: Path, uid: int, gid: int) -> None:
    """Give ``root`` and everything below it to ``uid:gid`` (a container's user)."""
    for base, _dirs, files in os.walk(root):
        os.chown(base, uid, gid)
        for f in files:
            os.chown(os.path.join(base, f), uid, gid)


def stage_wal(archive: Path, staged: Path, user: str | None = None) -> int:
    """Copy a WAL archive where recovery reads it, as PostgreSQL names its files.

    Compressed segments (``.gz``, ``.lz4``, ``.zst``...) are decompressed and pgBackRest's
    ``<segment>-<sha1>`` names shortened on the way, so ``restore_command`` is a plain copy.
    Returns the number of files staged.
    """
    staged.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(p for p in archive.rglob("*") if p.is_file()):
        found = archived_segment(path.name)
        name = found[0] if found else compression.split_codec(path.name)[0]
        target = staged / name
        if compression.split_codec(path.name)[1]:
            compression.decompress_to(path, target)
        else:
            shutil.copyfile(path, target)
        count += 1
    chown_tree(staged, user)
    return count


def prepare_datadir(base: Path, datadir: Path, user: str | None) -> None:
    """Copy a base backup into a new data directory set up for recovery (the backup itself
    is only read)."""
    shutil.copytree(base, datadir)
    for name in ("postmaster.pid", "standby.signal", "backup_manifest"):
        (datadir / name).unlink(missing_ok=True)
    (datadir / "pg_hba.conf").write_text(RECOVERY_HBA)
    (datadir / "recovery.signal").write_text("")
    chown_tree(datadir, user)
    os.chmod(datadir, 0o700)


def recovery_settings(staged_wal: str, target: dt.datetime, hba_file: str) -> dict[str, str]:
    """Server settings replaying the staged archive up to ``target``, then promoting."""
    return {
        "restore_command": f"cp '{staged_wal}/%f' '%p'",
        "recovery_target_time": target.astimezone(dt.timezone.utc).isoformat(),
        "recovery_target_action": "promote",
        "recovery_target_inclusive": "on",
        "archive_mode": "off",
        "hba_file": hba_file,
    }


def recovery_failed(log: str, target: dt.datetime, archive: str, base: str) -> RestoreError:
    """The error for a recovery that did not come up, told apart by its log."""
    if _ENDED_EARLY in log:
        return RestoreError(
            f"the WAL archive ends before the recovery target {target.isoformat()}",
            store="postgres", path=archive, detail=log,
            remedy="choose an earlier --pitr-target, or find the missing WAL segments "
                   "(the archive has a gap or stops early)")
    return RestoreError("point-in-time recovery failed", store="postgres", path=base,
                        detail=log)


def recovery_proof(log: str, target: dt.datetime, archive: str) -> PitrResult:
    """Where recovery stopped, as the server logged it; RestoreError if it never said."""
    stopped = re.findall(r"recovery stopping (?:before|after) .*", log)
    last = re.findall(r"last completed transaction was at log time .*", log)
    if not stopped:
        raise RestoreError(
            f"recovery finished without reaching the target {target.isoformat()}: PostgreSQL "
            "did not log where it stopped", store="postgres", path=archive,
            detail="\n".join(log.splitlines()[-40:]),
            remedy="the target may lie after the last archived transaction")
    return PitrResult(target=target, stopped=stopped[-1],
                      last_transaction=last[-1] if last else "",
                      promoted="database system is ready to accept connections" in log)
