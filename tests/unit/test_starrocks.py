"""The StarRocks restore path against a scripted connection, and the offline file check."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DrillError
from harness.restore import starrocks as sr


class FakeCursor:
    """Answers StarRocks statements from a script; records what was executed."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.executed: list[str] = []
        self.description: list[tuple[str]] | None = None
        self._rows: list[Any] = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str) -> None:
        self.executed.append(sql)
        for prefix, answers in self.script.items():
            if sql.startswith(prefix):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if isinstance(answer, Exception):
                    raise answer
                cols, rows = answer
                self.description = [(c,) for c in cols] if cols else None
                self._rows = list(rows)
                return
        self.description, self._rows = None, []

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0]


class FakeConn:
    def __init__(self, cursor: FakeCursor) -> None:
        self.c = cursor

    def cursor(self) -> FakeCursor:
        return self.c


def script(restore_states: list[str], count_error: Exception | None = None) -> dict[str, list[Any]]:
    return {
        "SHOW REPOSITORIES": [(["RepoName"], [])],
        "SHOW SNAPSHOT ON": [(["Snapshot", "Timestamp", "Status"], [
            ("daily", "2026-11-22-02-00-00-100\n2026-11-23-02-00-00-200", "OK"),
            ("other", "2026-11-24-02-00-00-300", "OK")])],
        "SHOW RESTORE FROM": [(["JobId", "State", "Status", "TaskErrMsg"],
                               [(1, s, "[OK]", "")]) for s in restore_states],
        "SHOW TABLES FROM": [(["Tables"], [("orders",), ("customers",)])],
        "SELECT COUNT(*)": [count_error or (["c"], [(42,)])],
    }


def test_full_restore_sequence_and_table_probe() -> None:
    cur = FakeCursor(script(["PENDING", "DOWNLOADING", "FINISHED"]))
    res = sr.restore_database(FakeConn(cur), database="managed", repo="drill_repo",
                              location="s3://bk/sr", access_key="AK", secret_key="SK",
                              snapshot="daily", sleep=lambda s: None)
    assert res.state == "FINISHED" and res.polls == 3
    assert res.snapshot.timestamp == "2026-11-23-02-00-00-200"
    assert res.tables == {"orders": 42, "customers": 42}
    create = next(s for s in cur.executed if s.startswith("CREATE READ ONLY REPOSITORY"))
    assert '"aws.s3.secret_key"="SK"' in create
    restore = next(s for s in cur.executed if s.startswith("RESTORE SNAPSHOT"))
    assert restore == ('RESTORE SNAPSHOT `managed`.`daily` FROM `drill_repo` PROPERTIES '
                       '("backup_timestamp"="2026-11-23-02-00-00-200", "replication_num"="1")')


def test_cancelled_restore_is_an_error_with_the_reason() -> None:
    s = script(["CANCELLED"])
    s["SHOW RESTORE FROM"] = [(["State", "Status", "TaskErrMsg"],
                               [("CANCELLED", "[COMMON_ERROR, msg: no backend]", "replica")])]
    with pytest.raises(DrillError, match="cancelled the restore.*no backend"):
        sr.restore_database(FakeConn(FakeCursor(s)), database="managed", repo="r",
                            location="s3://b/p", access_key="a", secret_key="s",
                            sleep=lambda _: None)


def test_finished_but_unqueryable_table_is_a_failure() -> None:
    s = script(["FINISHED"], count_error=RuntimeError("tablet not found"))
    with pytest.raises(DrillError, match="FINISHED but table managed.orders does not answer"):
        sr.restore_database(FakeConn(FakeCursor(s)), database="managed", repo="r",
                            location="s3://b/p", access_key="a", secret_key="s",
                            sleep=lambda _: None)


def test_timeout_and_snapshot_selection() -> None:
    now = [0.0]
    cur = FakeCursor(script(["RUNNING"]))

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(DrillError, match="did not finish within 10 s"):
        sr.wait_for_restore(cur, "managed", timeout=10, interval=4, sleep=sleep,
                            clock=lambda: now[0])
    entries = sr.parse_show_snapshot([("a", "t1\nt3", "OK"), ("a", "t2", "BAD")])
    assert sr.latest_snapshot(entries).timestamp == "t3"
    with pytest.raises(DrillError, match="snapshots present: a"):
        sr.latest_snapshot(entries, "missing")
    with pytest.raises(DrillError, match="invalid StarRocks table"):
        sr.restore_snapshot_sql("db", "s", "r", "t", tables=["x; DROP"])


def test_offline_md5_names(tmp_path: Path) -> None:
    good = b"tablet data"
    d = tmp_path / "__starrocks_repository_r" / "__ss_daily" / "__ss_content"
    d.mkdir(parents=True)
    (d / f"1.dat.{hashlib.md5(good).hexdigest()}").write_bytes(good)
    (d / f"2.dat.{hashlib.md5(good).hexdigest()}").write_bytes(good + b"!")
    (d / "__info").write_bytes(b"no md5 in name")
    problems = sr.verify_repository_files(tmp_path)
    assert len(problems) == 1 and "2.dat" in problems[0]


def test_the_engine_picks_the_starrocks_restore_by_warehouse_kind() -> None:
    import dataclasses
    import datetime as dt

    from harness.catalog.model import RestoreSet
    from harness.config import BackupsConfig
    from harness.restore.engine import RestoreEngine
    from harness.scratch.endpoints import Endpoints, WarehouseEndpoint

    cursor = FakeCursor(script(["RUNNING", "FINISHED"]))

    class ScriptedConn(FakeConn):
        closed = False

        def close(self) -> None:
            self.closed = True

    conn = ScriptedConn(cursor)

    @dataclasses.dataclass(frozen=True)
    class ScriptedStarRocks(WarehouseEndpoint):
        def connect(self, database: str | None = None, **kwargs: object) -> object:
            return conn

    target = Endpoints(warehouse=ScriptedStarRocks(host="127.0.0.1", port=9030, user="root",
                                                   password="", kind="starrocks"))
    rs = RestoreSet(backup_time=dt.datetime.now(dt.timezone.utc), run="r", dumps={},
                    warehouse=None, objects_root=None, master_key=None)
    backups = BackupsConfig(starrocks_location="s3://sr-backups/prod", s3_access_key="ak",
                            s3_secret_key="sk", s3_endpoint="http://127.0.0.1:9000")
    engine = RestoreEngine(target, backups=backups)
    # StarRocks' poll interval is its own; the scripted job finishes on the second poll.
    sr_wait = sr.wait_for_restore
    sr.wait_for_restore = lambda cur, db, **kw: sr_wait(cur, db, interval=0.0)  # type: ignore[assignment]
    try:
        result = engine.restore(rs, stores=("warehouse",))
    finally:
        sr.wait_for_restore = sr_wait  # type: ignore[assignment]
    assert result.ok, result.errors
    assert result.warehouse is not None and result.warehouse.tables == {"orders": 42,
                                                                        "customers": 42}
    assert any(s.startswith("CREATE READ ONLY REPOSITORY `scrydon_backups`")
               for s in cursor.executed)
    assert any("RESTORE SNAPSHOT `scrydon_managed`.`other`" in s for s in cursor.executed)
    assert conn.closed
    without = RestoreEngine(target, backups=BackupsConfig()).restore(rs, stores=("warehouse",))
    assert "backups.starrocks_location" in without.errors["warehouse"]
