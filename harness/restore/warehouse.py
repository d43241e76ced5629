"""Restore the warehouse from its per-table snapshot (the MariaDB stand-in's dumps).

The snapshot manifest records each table file's MD5 and row count, as StarRocks names every
snapshot file by its MD5. The table files are shared out between a few client sessions that
load side by side (:data:`SESSIONS`, like ``pg_restore -j``), each file read once: its MD5
is computed on the way to the client, and a file whose MD5 differs from the manifest fails
the restore (ahead of any error the client reports on it). Each table must then hold the
manifest's row count, counted while the next file loads. The first failure stops every
session before its next file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import DrillError, ToolMissing
from harness.scratch.endpoints import WarehouseEndpoint
from harness.tools import compression

_CHUNK = 1 << 20
# Printed by the client (batch mode, no column names) as it reaches each table's file: the
# last one in its output names the table a failed session stopped in.
_MARKER = "scrydon-drill-load"

#: Client sessions loading table files side by side. On two cores two sessions loaded the
#: `medium` snapshot (40 tables, 190 MB) in 0.58 of the time one session took, measured
#: alone on one server; a third has no core of its own here.
SESSIONS = 2


@dataclass
class WarehouseRestore:
    """What the warehouse restore did."""

    database: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows after restore


@dataclass(frozen=True)
class _TableFile:
    database: str
    table: str
    path: Path
    md5: str  # the manifest's
    rows: int  # the manifest's


def _md5(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - integrity, not security
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class _HashingReader:
    """A file's bytes as read (by a decompressor or directly), hashed on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.md5 = hashlib.md5()  # noqa: S324 - integrity, not security

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.md5.update(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def __enter__(self) -> _HashingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        """The file itself is closed by its opener."""

    def drain(self) -> str:
        """Hash what was not read yet; the file's MD5."""
        for chunk in iter(functools.partial(self.raw.read, _CHUNK), b""):
            self.md5.update(chunk)
        return self.md5.hexdigest()


@functools.lru_cache(maxsize=4)
def _sandbox_flag(client: str) -> tuple[str, ...]:
    """``--sandbox`` where the client has it: a dump then cannot make the client run a
    shell command or read and write local files (MariaDB clients since 10.5.25)."""
    try:
        out = subprocess.run([client, "--no-defaults", "--help"], capture_output=True,
                             text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return ("--sandbox",) if "--sandbox" in out else ()


def _client_argv(client: str, target: WarehouseEndpoint, db: str) -> list[str]:
    return [client, "--no-defaults", *_sandbox_flag(client), "-h", target.host, "-P",
            str(target.port), "-u", target.user, "--default-character-set=utf8mb4",
            "--batch", "--skip-column-names", db]


def _feed(stdin: IO[bytes], number: int, item: _TableFile) -> tuple[str, bool]:
    """Send one table file (decompressed when its suffix says so) after its marker, in the
    snapshot's database whatever the previous file chose; the file's MD5 as stored, and
    whether the client still reads."""
    _, codec = compression.split_codec(item.path.name)
    with item.path.open("rb") as raw:
        hashing = _HashingReader(raw)
        try:
            db = item.database.replace("`", "``")
            stdin.write(f"\nUSE `{db}`;\nSELECT '{_MARKER} {number}';\n".encode())
            with compression.decompressing_reader(hashing, codec) as reader:  # type: ignore[arg-type]
                for chunk in iter(functools.partial(reader.read, _CHUNK), b""):
                    stdin.write(chunk)
            stdin.write(b"\n")
        except BrokenPipeError:
            return hashing.drain(), False
        except (OSError, EOFError, ValueError) as exc:
            if hashing.drain() != item.md5:
                raise _mismatch(item, hashing.md5.hexdigest()) from exc
            raise DrillError(f"snapshot file {item.path.name} cannot be decompressed: {exc}",
                             store="warehouse", path=str(item.path),
                             remedy="the compressed file is damaged; use the previous "
                                    "snapshot") from exc
        return hashing.drain(), True


def _mismatch(item: _TableFile, md5: str) -> DrillError:
    return DrillError(f"snapshot file of table {item.database}.{item.table} does not match "
                      f"its manifest (MD5 {md5}, manifest {item.md5})", store="warehouse",
                      path=str(item.path), remedy="the file was altered or cut short after "
                      "the snapshot; use the previous snapshot")


class _Stopped(Exception):
    """A session stopped before its next file because another one failed."""


def _load_all(client: str, target: WarehouseEndpoint, db: str, items: list[_TableFile],
              count: Callable[[_TableFile], int],
              stop: threading.Event | None = None) -> dict[str, int]:
    """Pipe every table file through one client session and count each table's rows;
    raise on the first file that does not load or does not match its MD5, or
    :class:`_Stopped` when ``stop`` is set before a file (the files before it are checked).

    A table is counted (by ``count``, on another connection) as soon as the client reaches
    the next file, so the counting overlaps the loading instead of following it.
    """
    env = {"MYSQL_PWD": target.password, "PATH": "/usr/bin:/bin"}
    hashed: dict[str, str] = {}
    rows: dict[str, int] = {}
    reached: list[int] = []
    failures: list[BaseException] = []

    def follow(stdout: IO[bytes]) -> None:
        """Read the client's markers; count every table it has finished."""
        for raw in stdout:
            line = raw.decode(errors="replace").strip()
            if not re.fullmatch(rf"{_MARKER} \d+", line):
                continue
            reached.append(int(line.split(" ", 1)[1]))
            try:
                for item in items[len(rows):reached[-1]]:
                    rows[item.table] = count(item)
            except BaseException as exc:  # noqa: BLE001 - raised again by the loader
                failures.append(exc)

    with tempfile.TemporaryFile() as err, subprocess.Popen(
            _client_argv(client, target, db), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=err, env=env) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        reader = threading.Thread(target=follow, args=(proc.stdout,), daemon=True,
                                  name="warehouse-counts")
        reader.start()
        stopped = False
        try:
            for number, item in enumerate(items):
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                hashed[item.table], reading = _feed(proc.stdin, number, item)
                if not reading:
                    break
        except BaseException:
            proc.kill()
            raise
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            code = proc.wait()
            reader.join()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if code != 0:
        failed = items[reached[-1]] if reached else items[0]
        md5 = hashed.get(failed.table) or _md5(failed.path)
        if md5 != failed.md5:
            raise _mismatch(failed, md5)
        raise DrillError(f"loading table {db}.{failed.table} failed", store="warehouse",
                         path=str(failed.path), detail=stderr[-2000:])
    for item in items:
        if item.table in hashed and hashed[item.table] != item.md5:
            raise _mismatch(item, hashed[item.table])
    if failures:
        raise failures[0]
    if stopped:
        raise _Stopped()
    for item in items[len(rows):]:
        rows[item.table] = count(item)
    return rows


def _share(items: list[_TableFile], sessions: int) -> list[list[_TableFile]]:
    """The files in up to ``sessions`` groups of about equal bytes (each file, largest first,
    to the group with the fewest), every group in table order."""
    groups: list[list[_TableFile]] = [[] for _ in range(max(1, min(sessions, len(items))))]
    loads = [0] * len(groups)
    sizes = {item.table: item.path.stat().st_size for item in items}
    for item in sorted(items, key=lambda i: (-sizes[i.table], i.table)):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += sizes[item.table]
    return [sorted(g, key=lambda i: i.table) for g in groups if g]


def _counter(conn: Any, db: str) -> Callable[[_TableFile], int]:
    """Counts a loaded table's rows on ``conn`` (a connection of the session's own)."""

    def count(item: _TableFile) -> int:
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{item.table}`")
                return int(cur.fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - the driver's errors, named for the user
            raise DrillError(f"table {db}.{item.table} cannot be counted after its file "
                             f"loaded: {exc}", store="warehouse", path=str(item.path),
                             remedy="the file does not create the table it is named "
                                    "for in the snapshot's database; check the "
                                    "snapshot") from exc

    return count


def _load_sessions(client: str, target: WarehouseEndpoint, db: str,
                   items: list[_TableFile], sessions: int) -> dict[str, int]:
    """Load the files through side-by-side sessions; every table's row count. The first
    failure (in table order among the sessions that failed) is raised once all stopped."""
    stop = threading.Event()

    def session(group: list[_TableFile]) -> dict[str, int]:
        conn: Any = target.connect()
        try:
            return _load_all(client, target, db, group, _counter(conn, db), stop)
        except BaseException:
            stop.set()  # the others stop before their next file
            raise
        finally:
            conn.close()

    groups = _share(items, sessions)
    with ThreadPoolExecutor(len(groups), thread_name_prefix="warehouse-load") as pool:
        futures = [pool.submit(session, group) for group in groups]
        try:
            wait(futures)
        except BaseException:
            stop.set()
            raise
    failed = [(group[0].table, f.exception()) for group, f in zip(groups, futures, strict=True)
              if f.exception() is not None and not isinstance(f.exception(), _Stopped)]
    if failed:
        raise min(failed, key=lambda pair: pair[0])[1]  # type: ignore[misc]
    rows: dict[str, int] = {}
    for future in futures:
        rows.update(future.result())
    return rows


def _table_files(manifest: dict[str, Any], manifest_path: Path, tables: set[str] | None,
                 table_files: Mapping[str, Path] | None) -> list[_TableFile]:
    """The files to load, in table order; a missing one fails before anything loads."""
    db = manifest["database"]
    out: list[_TableFile] = []
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
        out.append(_TableFile(db, table, path, entry["md5"], int(entry["rows"])))
    return out


def restore_warehouse(manifest_path: Path, target: WarehouseEndpoint,
                      tables: set[str] | None = None,
                      table_files: Mapping[str, Path] | None = None,
                      sessions: int = SESSIONS) -> WarehouseRestore:
    """Load every table of a snapshot (or only ``tables``) through up to ``sessions`` client
    sessions side by side and check the row counts.

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
    items = _table_files(manifest, manifest_path, tables, table_files)
    result = WarehouseRestore(database=db)
    conn: Any = target.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4")
    finally:
        conn.close()
    counted = _load_sessions(client, target, db, items, sessions) if items else {}
    for item in items:
        if counted[item.table] != item.rows:
            raise DrillError(f"table {db}.{item.table} holds {counted[item.table]} rows "
                             f"after the restore, the snapshot recorded {item.rows}",
                             store="warehouse", path=str(item.path),
                             remedy="the snapshot file is incomplete")
        result.tables[item.table] = counted[item.table]
    return result
