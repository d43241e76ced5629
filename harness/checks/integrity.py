"""integrity.amcheck: pg_amcheck finds no corruption in the restored databases.

pg_amcheck exits 2 when it finds corruption (a fail, with what it reported) and 1 on other
failures (could-not-verify, with its stderr). It needs contrib's amcheck extension, which
``--install-missing`` creates in each database when the server's build ships it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, listing, plural
from harness.errors import could_not_verify

if TYPE_CHECKING:
    from harness.profile import Integrity
    from harness.scratch.endpoints import PostgresEndpoint

_SHOW_LINES = 20
_NO_EXTENSION = ('extension "amcheck" is not available', "could not open extension control file",
                 'extension "amcheck" does not exist')


@dataclass(frozen=True)
class AmcheckRun:
    """One pg_amcheck invocation and what it printed."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def amcheck_argv(tool: str, section: Integrity) -> list[str]:
    """The pg_amcheck command line (connection settings travel in the environment)."""
    argv = [tool, "--install-missing", "--no-password", *section.extra_args]
    for db in section.databases:
        argv += ["--database", db]
    return argv


def run_amcheck(pg: PostgresEndpoint, section: Integrity) -> AmcheckRun:
    """Run pg_amcheck (of the server's major version) over ``section.databases``."""
    argv = amcheck_argv(pg.tool("pg_amcheck"), section)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=section.timeout_seconds, env={**os.environ, **pg.env()})
    except FileNotFoundError:
        could_not_verify(f"pg_amcheck is not installed ({argv[0]})",
                         remedy=f"install the PostgreSQL {pg.major} client tools (pg_amcheck "
                         "ships with PostgreSQL 14 and later)")
    except subprocess.TimeoutExpired:
        could_not_verify(f"pg_amcheck did not finish within {section.timeout_seconds:g} s",
                         remedy="raise [integrity] timeout_seconds or drop --heapallindexed "
                         "from extra_args")
    return AmcheckRun(argv=tuple(argv), returncode=proc.returncode, stdout=proc.stdout,
                      stderr=proc.stderr, seconds=time.monotonic() - t0)


def _lines(text: str) -> list[str]:
    return [ln for ln in text.strip().splitlines() if ln.strip()]


def check_amcheck(run: AmcheckRun, databases: Sequence[str], server: str = "") -> Outcome:
    """Interpret a pg_amcheck run: 0 pass, 2 corruption (fail), anything else could-not-verify."""
    dbs = listing(list(databases))
    measured = {"databases": len(databases), "exit_code": run.returncode,
                "seconds": round(run.seconds, 3)}
    if run.returncode == 0:
        extra = " with --heapallindexed" if "--heapallindexed" in run.argv else ""
        return Outcome.passed(
            f"pg_amcheck checked every table and B-tree index{extra} of "
            f"{plural(len(databases), 'restored database')} ({dbs}) and found no corruption",
            **measured)
    if run.returncode == 2:
        reports = _lines(run.stdout) or _lines(run.stderr)
        shown = "\n".join(reports[:_SHOW_LINES])
        more = (f"\n… and {len(reports) - _SHOW_LINES} more lines" if len(reports) > _SHOW_LINES
                else "")
        return Outcome.failed(
            f"pg_amcheck found corruption in the restored databases ({dbs}):\n{shown}{more}",
            remedy="do not rely on this backup: restore an earlier one and check the storage "
            "the backup was taken from and written to", corruption_lines=len(reports),
            **measured)
    err = "\n".join(_lines(run.stderr)[-_SHOW_LINES:]) or "\n".join(_lines(run.stdout)[-5:])
    if any(marker in run.stderr for marker in _NO_EXTENSION):
        could_not_verify(
            f"the scratch PostgreSQL{(' ' + server) if server else ''} lacks contrib's amcheck "
            f"extension, so pg_amcheck cannot check the restored databases:\n{err}",
            remedy="use a scratch PostgreSQL build that ships amcheck together with pgvector "
            "(e.g. the distribution's postgresql-<N> with postgresql-<N>-pgvector), or "
            "disable integrity.amcheck in the platform profile")
    could_not_verify(f"pg_amcheck failed with exit code {run.returncode} without reporting "
                     f"corruption:\n{err}",
                     remedy="read pg_amcheck's message; check the profile's [integrity] "
                     "databases and extra_args")


def check_base_backup(catalog: Any, source: Any, staging: Path) -> Outcome:
    """``pg_verifybackup`` of the newest base backup: manifest, files, checksums and WAL.

    The tool must be of the base backup's major version; plain-format backups only before
    PostgreSQL 18. No base backup in the layout is could-not-verify (PITR is then impossible).
    """
    from harness.tools import pgbin
    from harness.tools.pitr import base_backup_major

    bases = catalog.base_backups()
    if not bases:
        looked = catalog.nothing_found(
            "base-backup", "no base backup found",
            remedy="take pg_basebackup backups (see the runbook); if they exist, set "
                   "backups.base_backup (and its timestamp format) to how they are named; or "
                   "disable integrity.basebackup in the platform profile")
        could_not_verify(f"{looked.message}: PITR is impossible and there is nothing for "
                         "pg_verifybackup to check", remedy=looked.remedy)
    base = bases[-1]
    path = Path(source.fetch(base.relpath, staging))
    major = base_backup_major(path)
    try:
        tool = pgbin.find(major, require_pgvector=False).tool("pg_verifybackup")
    except Exception as exc:  # noqa: BLE001 - reported as could-not-verify
        could_not_verify(f"no pg_verifybackup of PostgreSQL {major} is installed: {exc}")
    proc = subprocess.run([tool, "-n", str(path)], capture_output=True, text=True,
                          check=False, timeout=3600)
    measured = {"base_backup": base.relpath, "major": major, "exit_code": proc.returncode}
    if proc.returncode == 0:
        return Outcome.passed(f"pg_verifybackup accepts base backup {base.relpath}: every file "
                              "matches its manifest checksum", **measured)
    return Outcome.failed(
        f"pg_verifybackup rejects base backup {base.relpath}: "
        + "; ".join(proc.stderr.strip().splitlines()[:5]),
        remedy="the base backup was altered or is incomplete; take a new base backup and "
        "do not rely on PITR from this one", **measured)
