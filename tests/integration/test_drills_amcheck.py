"""integrity.amcheck against a real PostgreSQL with amcheck: clean, corrupted, misconfigured.

Debian's PostgreSQL 15 ships contrib's amcheck (no pgvector is needed for this test); an
index page is overwritten on disk while the server is stopped, as storage corruption would.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.checks.integrity import check_amcheck, run_amcheck
from harness.config import resolve
from harness.errors import CouldNotVerify
from harness.profile import load_profile
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.scratch.sweep import sweep

pytestmark = pytest.mark.integration


@pytest.fixture()
def server() -> Iterator[LocalProvider]:
    root = Path(tempfile.mkdtemp(prefix="scrydon-drill-amcheck-"))
    os.chmod(root, 0o755)
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(root),
                                                     "require_pgvector": False}})
    provider = LocalProvider(cfg, Run.create(str(root)), stores=("postgres",),
                             postgres_major=15)
    try:
        provider.start()
        yield provider
    finally:
        provider.stop()
        sweep(root, include_kept=True)
        shutil.rmtree(root, ignore_errors=True)


def make_database(pg: Any) -> Path:
    """A database with a table and its primary-key index; returns the index's file."""
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
    with psycopg.connect(**pg.conninfo("shop"), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 5000) g")
        conn.execute("CHECKPOINT")
        rel = conn.execute("SELECT pg_relation_filepath('orders_pkey')").fetchone()
        data = conn.execute("SHOW data_directory").fetchone()
    assert rel is not None and data is not None
    return Path(data[0]) / rel[0]


def test_clean_corrupted_and_unusable(server: LocalProvider) -> None:
    pg = server.endpoints.postgres
    assert pg is not None
    index_file = make_database(pg)
    section = dataclasses.replace(load_profile().integrity, databases=("shop", "postgres"))
    clean = check_amcheck(run_amcheck(pg, section), section.databases)
    assert clean.ok, clean.message

    assert server.postgres is not None
    server.postgres.stop()
    with index_file.open("r+b") as fh:  # page 1 of the B-tree: leaf line pointers
        fh.seek(8192 + 200)
        fh.write(b"\xff" * 64)
    server.postgres.start()
    server.postgres.wait_ready(60)
    pg = server.endpoints.postgres
    assert pg is not None
    corrupt = check_amcheck(run_amcheck(pg, section), section.databases)
    assert not corrupt.ok and corrupt.measured["exit_code"] == 2
    assert 'btree index "shop.public.orders_pkey"' in corrupt.message

    missing = dataclasses.replace(section, databases=("no_such_db",))
    with pytest.raises(CouldNotVerify, match="exit code 1 without reporting corruption"):
        check_amcheck(run_amcheck(pg, missing), missing.databases)
