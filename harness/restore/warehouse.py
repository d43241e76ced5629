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
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import DrillError, ToolMissing
from harness.scratch.endpoints import WarehouseEndpoint
from harness.tools import compression


@dataclass
class WarehouseRestore:
    """What the warehouse restore did."""

    database: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows after restore


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - integrity, not security
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load(client: str, target: WarehouseEndpoint, db: str, path: Path
          ) -> subprocess.CompletedProcess[bytes]:
    """Pipe one snapshot file (decompressed when its suffix says so) into the client."""
    argv = [client, "--no-defaults", "-h", target.host, "-P", str(target.port), "-u",
            target.user, "--default-character-set=utf8mb4", db]
    env = {"MYSQL_PWD": target.password, "PATH": "/usr/bin:/bin"}
    if compression.split_codec(path.name)[1] is None:
        with path.open("rb") as fh:
            return subprocess.run(argv, stdin=fh, capture_output=True, check=False, env=env)
    with tempfile.TemporaryFile() as err, subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env) as proc:
        assert proc.stdin is not None
        try:
            with compression.open_decompressed(path) as reader:
                shutil.copyfileobj(reader, proc.stdin, 1 << 20)
        except BrokenPipeError:
            pass  # the client stopped reading: its exit code and stderr say why
        except (OSError, EOFError, ValueError) as exc:
            proc.kill()
            raise DrillError(f"snapshot file {path.name} cannot be decompressed: {exc}",
                             store="warehouse", path=str(path),
                             remedy="the compressed file is damaged; use the previous "
                                    "snapshot") from exc
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        code = proc.wait()
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, b"", err.read())


def restore_warehouse(manifest_path: Path, target: WarehouseEndpoint,
                      tables: set[str] | None = None,
                      table_files: Mapping[str, Path] | None = None) -> WarehouseRestore:
    """Load every table of a snapshot (or only ``tables``) and check the row counts.

    ``table_files`` maps table names to the snapshot's files wherever the layout keeps them
    (the catalogue found them through ``backups.warehouse_table``); without it each file is
    looked for where the manifest's ``file`` entry says, beside the manifest.
    """
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DrillError(f"cannot read the warehouse snapshot manifest: {exc}",
                         store="warehouse", path=str(manifest_path),
                         remedy="the snapshot is incomplete; use the previous one") from exc
    db = manifest["database"]
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        raise ToolMissing("the mariadb client is not installed", store="warehouse",
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
        if table_files is not None:
            path = table_files.get(table) or table_files.get(f"{db}.{table}") or Path(
                f"<no file of table {table} matches backups.warehouse_table>")
        else:
            path = manifest_path.parent / entry["file"]
        if not path.is_file():
            raise DrillError(f"snapshot file of table {db}.{table} is missing",
                             store="warehouse", path=str(path),
                             remedy="the snapshot is incomplete; use the previous one")
        md5 = _md5(path)
        if md5 != entry["md5"]:
            raise DrillError(f"snapshot file of table {db}.{table} does not match its manifest "
                             f"(MD5 {md5}, manifest {entry['md5']})", store="warehouse",
                             path=str(path), remedy="the file was altered or cut short after "
                             "the snapshot; use the previous snapshot")
        proc = _load(client, target, db, path)
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
