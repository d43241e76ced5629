"""The external provider connects, refuses a non-empty target and never tears anything down."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from harness.config import resolve
from harness.errors import ScratchError
from harness.scratch.local import LocalProvider
from harness.scratch.procinfo import processes_owned_by
from harness.scratch.run import Run
from harness.scratch.session import ScratchSession

pytestmark = pytest.mark.integration


def test_external_target_is_used_and_left_running(run_root: Path) -> None:
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(run_root)}})
    owner = Run.create(run_root)
    with LocalProvider(cfg, owner, stores=("postgres",)) as theirs:
        pg = theirs.endpoints.postgres
        ext = resolve(environ={}, arguments={
            "scratch": {"root": str(run_root), "provider": "external"},
            "external": {"postgres_host": pg.host, "postgres_port": pg.port,
                         "postgres_user": pg.user, "postgres_password": pg.password}})
        session = ScratchSession(ext)
        ep = session.open()
        assert ep.postgres.port == pg.port and ep.postgres.major == pg.major
        session.close(failed=False)
        # Still there: the harness did not stop someone else's server.
        with psycopg.connect(**pg.conninfo()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert processes_owned_by({owner.run_id})
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE auth")
        with pytest.raises(ScratchError, match="already holds database"):
            ScratchSession(ext).open()


def test_external_without_stores_is_an_error(run_root: Path) -> None:
    ext = resolve(environ={}, arguments={"scratch": {"root": str(run_root),
                                                     "provider": "external"}})
    with pytest.raises(ScratchError, match="names no store"):
        ScratchSession(ext).open()
