"""The runbook's single-store restore: one table, one object, one store."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from harness.config import resolve
from harness.drill import open_catalog
from harness.errors import RestoreError
from harness.restore.objects import restore_objects
from harness.restore.postgres import inspect_dump, restore_table
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from tests.conftest import python

pytestmark = pytest.mark.integration


def test_single_table_and_single_object(reference, run_root: Path) -> None:
    cfg = resolve(environ={}, arguments={"backups": {"source": str(reference.backups)},
                                         "scratch": {"root": str(run_root)}})
    source, catalog = open_catalog(cfg)
    rs = catalog.choose_restore_set()
    expected = reference.fingerprint(rs.run)
    with LocalProvider(cfg, Run.create(run_root), stores=("postgres", "objects")) as env:
        ep = env.endpoints
        plan = inspect_dump("auth", Path(rs.dumps["auth"].location), ep.postgres)
        rows = restore_table(plan, ep.postgres, "audit_log")
        assert rows == expected["postgres"]["auth"]["public.audit_log"]["rows"]
        with psycopg.connect(**ep.postgres.conninfo("auth")) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE "
                                                 "schemaname = 'public'")}
        assert tables == {"audit_log"}, "only the one table was restored"
        with pytest.raises(RestoreError, match="no data for table public.nope"):
            restore_table(plan, ep.postgres, "nope")
        key = sorted(expected["objects"])[0]
        done = restore_objects(Path(rs.objects_root), ep.s3, only={key})
        assert done.hashes == {key: expected["objects"][key]}


def test_cli_restores_one_table(reference, run_root: Path) -> None:
    proc = subprocess.run(
        [python(), "-m", "harness.cli", "restore", "--root", str(run_root), "--keep", "never",
         "--set", f"backups.source={reference.backups}", "--table", "agentic.workflow"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    last = reference.meta["backup_runs"][-1]["stamp"]
    rows = reference.fingerprint(last)["postgres"]["agentic"]["public.workflow"]["rows"]
    assert f"restored agentic.workflow: {rows} rows" in proc.stdout
    assert [p for p in run_root.iterdir()] == [], "the scratch environment was not removed"
