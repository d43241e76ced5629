"""The stand-in warehouse restore on a real MariaDB: the table files shared out between
side-by-side client sessions, MD5 on the way, the failing table named and the other sessions
stopped, row counts while loading, a sandboxed client."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import DrillError
from harness.restore import warehouse
from harness.restore.warehouse import restore_warehouse
from harness.scratch.endpoints import WarehouseEndpoint
from harness.scratch.run import Run
from harness.scratch.servers import LocalMariaDB
from tests.conftest import private_run_root

pytestmark = pytest.mark.integration

DB = "wh_restore_test"


@pytest.fixture(scope="module")
def mariadb() -> Iterator[WarehouseEndpoint]:
    with private_run_root() as root:
        server = LocalMariaDB(Run.create(root))
        server.start()
        try:
            server.wait_ready(60)
            yield server.endpoint
        finally:
            server.stop()


@pytest.fixture()
def target(mariadb: WarehouseEndpoint) -> Iterator[WarehouseEndpoint]:
    yield mariadb
    conn = mariadb.connect()
    with conn.cursor() as cur:
        for db in (DB, "wh_elsewhere"):
            cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
    conn.close()


def table_sql(table: str, rows: int) -> str:
    """What a dump of one table holds: its definition and its rows."""
    values = ",".join(f"({i},'row {i}')" for i in range(rows))
    return (f"DROP TABLE IF EXISTS `{table}`;\nCREATE TABLE `{table}` (id INT PRIMARY KEY, "
            f"label VARCHAR(40));\nLOCK TABLES `{table}` WRITE;\n"
            + (f"INSERT INTO `{table}` VALUES {values};\n" if rows else "")
            + "UNLOCK TABLES;\n-- end of dump\n")


def snapshot(folder: Path, tables: dict[str, str], *, gzipped: tuple[str, ...] = (),
             rows: dict[str, int] | None = None) -> Path:
    """A snapshot folder: one file per table and a manifest with each file's MD5."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for table, sql in tables.items():
        name = f"{table}.sql" + (".gz" if table in gzipped else "")
        data = sql.encode()
        (folder / name).write_bytes(gzip.compress(data) if table in gzipped else data)
        counted = sql.count("),(") + 1 if "INSERT" in sql else 0
        entries[table] = {"file": name, "md5": hashlib.md5((folder / name).read_bytes())
                          .hexdigest(), "rows": (rows or {}).get(table, counted)}
    manifest = folder / "snapshot.json"
    manifest.write_text(json.dumps({"database": DB, "tables": entries}))
    return manifest


def tables_in(target: WarehouseEndpoint, db: str = DB) -> set[str]:
    conn = target.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema=%s",
                    (db,))
        names = {row[0] for row in cur.fetchall()}
    conn.close()
    return names


@pytest.mark.parametrize("sessions", [1, 2, 5])
def test_every_table_loads_through_the_sessions_and_is_counted(target, tmp_path: Path,
                                                              monkeypatch, sessions: int) -> None:
    started: list[list[str]] = []
    real = warehouse._client_argv
    monkeypatch.setattr(warehouse, "_client_argv",
                        lambda *a: started.append(real(*a)) or started[-1])
    manifest = snapshot(tmp_path / "snap", {"a": table_sql("a", 3), "b": table_sql("b", 0),
                                           "c": table_sql("c", 500)}, gzipped=("c",))
    done = restore_warehouse(manifest, target, sessions=sessions)
    assert done.tables == {"a": 3, "b": 0, "c": 500}
    assert tables_in(target) == {"a", "b", "c"}
    assert len(started) == min(sessions, 3)  # never more sessions than files


def test_the_files_are_shared_out_by_size(tmp_path: Path) -> None:
    sizes = {"a": 10, "b": 700, "c": 300, "d": 300, "e": 90}
    items = []
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"x" * size)
        items.append(warehouse._TableFile(DB, name, tmp_path / name, "", 0))
    groups = [[i.table for i in g] for g in warehouse._share(items, 2)]
    # b alone weighs as much as c+d: largest first, each to the lighter group.
    assert groups == [["b"], ["a", "c", "d", "e"]]
    assert [[i.table for i in g] for g in warehouse._share(items, 1)] == [list("abcde")]


def test_a_table_that_does_not_load_is_named_and_nothing_after_it_loads(target,
                                                                       tmp_path: Path) -> None:
    broken = table_sql("b", 5).replace("INSERT INTO", "INSERT INTOO")
    manifest = snapshot(tmp_path / "snap", {"a": table_sql("a", 2), "b": broken,
                                           "c": table_sql("c", 2000)})
    with pytest.raises(DrillError) as err:
        restore_warehouse(manifest, target, sessions=1)
    assert f"loading table {DB}.b failed" in str(err.value)
    assert err.value.path.endswith("b.sql") and "ERROR" in (err.value.detail or "")
    assert "c" not in tables_in(target)


def test_a_failing_session_stops_the_others_before_their_next_file(target,
                                                                  tmp_path: Path) -> None:
    """One session meets a broken file first thing; the other, with 40 tables to load, stops
    before its next file instead of loading them all, and the error is the broken one's."""
    tables = {f"t{i:02d}": table_sql(f"t{i:02d}", 3000) for i in range(40)}
    big_broken = table_sql("a_broken", 120_000).replace("INSERT INTO", "INSERT INTOO", 1)
    manifest = snapshot(tmp_path / "snap", {"a_broken": big_broken, **tables},
                        rows={"a_broken": 120_000})
    with pytest.raises(DrillError, match=rf"loading table {DB}\.a_broken failed"):
        restore_warehouse(manifest, target, sessions=2)
    loaded = tables_in(target) - {"a_broken"}
    assert len(loaded) < 40, "the other session went on to the end"


def test_an_altered_file_is_refused_by_md5_even_when_it_loads(target, tmp_path: Path) -> None:
    manifest = snapshot(tmp_path / "snap", {"a": table_sql("a", 2), "b": table_sql("b", 3)})
    (tmp_path / "snap" / "a.sql").write_text(table_sql("a", 2).replace("row 1", "row X"))
    with pytest.raises(DrillError, match=rf"table {DB}\.a does not match its manifest"):
        restore_warehouse(manifest, target)


def test_a_cut_file_is_reported_as_cut_not_as_a_load_error(target, tmp_path: Path) -> None:
    manifest = snapshot(tmp_path / "snap", {"a": table_sql("a", 200), "b": table_sql("b", 3)})
    path = tmp_path / "snap" / "a.sql"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DrillError, match=rf"table {DB}\.a does not match its manifest"):
        restore_warehouse(manifest, target)


def test_a_row_count_short_of_the_manifest_fails(target, tmp_path: Path) -> None:
    manifest = snapshot(tmp_path / "snap", {"a": table_sql("a", 4), "b": table_sql("b", 9)},
                        rows={"b": 10})
    with pytest.raises(DrillError, match=rf"table {DB}\.b holds 9 rows after the restore, "
                                         "the snapshot recorded 10"):
        restore_warehouse(manifest, target)


def test_a_dump_that_switches_database_does_not_move_the_next_table(target,
                                                                   tmp_path: Path) -> None:
    wanders = ("CREATE DATABASE IF NOT EXISTS wh_elsewhere;\nUSE wh_elsewhere;\n"
               + table_sql("a", 2))
    manifest = snapshot(tmp_path / "snap", {"a": wanders, "b": table_sql("b", 3)},
                        rows={"a": 2})
    # One session: "the next table" is the next file of the same client session (with two,
    # b would load in the other session, or not at all once a's failure stops it).
    with pytest.raises(DrillError, match=rf"table {DB}\.a cannot be counted"):
        restore_warehouse(manifest, target, sessions=1)
    assert tables_in(target) == {"b"}  # b still went to the snapshot's database


def test_a_dump_cannot_make_the_client_run_a_shell_command(target, tmp_path: Path) -> None:
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client
    if not warehouse._sandbox_flag(client):
        pytest.skip(f"{client} has no --sandbox")
    witness = tmp_path / "ran"
    manifest = snapshot(tmp_path / "snap", {"a": f"\\! touch {witness}\n" + table_sql("a", 1)})
    with pytest.raises(DrillError, match=rf"loading table {DB}\.a failed"):
        restore_warehouse(manifest, target)
    assert not witness.exists()
