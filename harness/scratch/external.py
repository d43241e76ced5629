"""Stores that already run somewhere (a cluster the user operates): reached, never deleted.

The external provider only connects. Because a drill restores *into* the target, it refuses a
target that already holds any of the databases it would create: restoring over live data is
not a drill. Teardown does nothing; what the drill created there is the operator's to remove
(the run record lists it).
"""

from __future__ import annotations

from typing import Any

import psycopg

from harness.config import DrillConfig
from harness.errors import ScratchError
from harness.records import DATABASES
from harness.scratch.base import SCRATCH_STORES, ScratchProvider
from harness.scratch.endpoints import Endpoints, PostgresEndpoint, S3Endpoint, WarehouseEndpoint
from harness.scratch.run import Run
from harness.tools import pgbin


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    """The single value ``query`` returns."""
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise ScratchError(f"the external PostgreSQL answered nothing to {query!r}")
    return row[0]


class ExternalProvider(ScratchProvider):
    """Endpoints from ``[external]``; ``stop()`` never touches them."""

    name = "external"

    def __init__(self, config: DrillConfig, run: Run, *,
                 stores: tuple[str, ...] = SCRATCH_STORES) -> None:
        super().__init__(config, run, stores=stores)
        self.ext = config.external
        self._endpoints = Endpoints()

    def start(self) -> Endpoints:
        """Check each configured store answers and holds none of the drill's databases."""
        ext = self.ext
        pg = s3 = wh = None
        if ext.postgres_host:
            with psycopg.connect(host=ext.postgres_host, port=ext.postgres_port,
                                 user=ext.postgres_user, password=ext.postgres_password,
                                 dbname="postgres", connect_timeout=10) as conn:
                num = int(_one(conn, "SHOW server_version_num"))
                version = str(_one(conn, "SHOW server_version")).split()[0]
                present = sorted(r[0] for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(DATABASES),)))
                vector = int(_one(conn, "SELECT count(*) FROM pg_available_extensions WHERE "
                                        "name = 'vector'")) > 0
            if present:
                raise ScratchError(
                    f"the external PostgreSQL already holds database(s) {', '.join(present)}",
                    path=f"{ext.postgres_host}:{ext.postgres_port}",
                    remedy="drill into an empty server; the harness never restores over "
                    "existing databases and never drops what it did not create")
            major = num // 10000
            try:
                bindir = pgbin.find(major, require_pgvector=False, minimum=True).bindir
            except ScratchError:
                bindir = None
            pg = PostgresEndpoint(host=ext.postgres_host, port=ext.postgres_port,
                                  user=ext.postgres_user, password=ext.postgres_password,
                                  major=major, version=version, has_pgvector=vector,
                                  bindir=bindir)
        if ext.s3_endpoint:
            s3 = S3Endpoint(url=ext.s3_endpoint, access_key=ext.s3_access_key,
                            secret_key=ext.s3_secret_key)
            s3.client().list_buckets()  # type: ignore[attr-defined]
        if ext.warehouse_host:
            wh = WarehouseEndpoint(host=ext.warehouse_host, port=ext.warehouse_port,
                                   user=ext.warehouse_user, password=ext.warehouse_password,
                                   kind=ext.warehouse_kind)
            wh.connect().close()  # type: ignore[attr-defined]
        if pg is None and s3 is None and wh is None:
            raise ScratchError("scratch.provider is 'external' but [external] names no store",
                               remedy="set external.postgres_host, external.s3_endpoint and/or "
                               "external.warehouse_host")
        self._endpoints = Endpoints(postgres=pg, s3=s3, warehouse=wh)
        return self._endpoints

    def stop(self) -> None:
        """Nothing: an external environment is never torn down by the harness."""

    @property
    def endpoints(self) -> Endpoints:
        """The configured endpoints (after :meth:`start`)."""
        return self._endpoints

    def describe(self) -> dict[str, str]:
        """Addresses only."""
        e = self.ext
        return {"provider": "external", "postgres": f"{e.postgres_host}:{e.postgres_port}",
                "objects": e.s3_endpoint, "warehouse": f"{e.warehouse_host}:{e.warehouse_port}"}
