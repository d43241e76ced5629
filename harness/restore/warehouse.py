"""Restore the warehouse from its per-table snapshot (the MariaDB stand-in's dumps).

The snapshot manifest records each table file's MD5 and row count, as StarRocks names every
snapshot file by its MD5: a file whose MD5 differs is refused before loading, and after
loading each table must hold the manifest's row count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DrillError
from harness.scratch.endpoints import WarehouseEndpoint


@dataclass
class WarehouseRestore:
    """What the warehouse restore did."""

    database: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows after restore


def restore_warehouse(manifest_path: Path, target: WarehouseEndpoint,
                      tables: set[str] | None = None) -> WarehouseRestore:
    """Load every table of a snapshot (or only ``tables``) and check the row counts."""
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DrillError(f"cannot read the warehouse snapshot manifest: {exc}",
                         store="warehouse", path=str(manifest_path),
                         remedy="the snapshot is incomplete; use the previous one") from exc
    db = manifest["database"]
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        raise DrillError("the mariadb client is not installed", store="warehouse",
                         remedy="apt-get install mariadb-client")
    conn: Any = target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    result = WarehouseRestore(database=db)
    for table, entry in sorted(manifest["tables"].items()):
        if tables is not None and table not in tables:
            continue
        path = manifest_path.parent / entry["file"]
        if not path.is_file():
            raise DrillError(f"snapshot file of table {db}.{table} is missing",
                             store="warehouse", path=str(path),
                             remedy="the snapshot is incomplete; use the previous one")
        md5 = hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - integrity, not security
        if md5 != entry["md5"]:
            raise DrillError(f"snapshot file of table {db}.{table} does not match its manifest "
                             f"(MD5 {md5}, manifest {entry['md5']})", store="warehouse",
                             path=str(path), remedy="the file was altered or cut short after "
                             "the snapshot; use the previous snapshot")
        with path.open("rb") as fh:
            proc = subprocess.run(
                [client, "--no-defaults", "-h", target.host, "-P", str(target.port), "-u",
                 target.user, "--default-character-set=utf8mb4", db],
                stdin=fh, capture_output=True, check=False, env={"MYSQL_PWD": target.password,
                                                                 "PATH": "/usr/bin:/bin"})
        if proc.returncode != 0:
            raise DrillError(f"loading table {db}.{table} failed", store="warehouse",
                             path=str(path), detail=proc.stderr.decode(errors="replace")[-2000:])
        conn = target.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
                rows = int(cur.fetchone()[0])
        finally:
            conn.close()
        if rows != entry["rows"]:
            raise DrillError(f"table {db}.{table} holds {rows} rows after the restore, the "
                             f"snapshot recorded {entry['rows']}", store="warehouse",
                             path=str(path), remedy="the snapshot file is incomplete")
        result.tables[table] = rows
    return result
