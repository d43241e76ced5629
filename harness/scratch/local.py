"""The embedded default: real servers as child processes in the run's private directory."""

from __future__ import annotations

import time

from harness.config import ScratchConfig
from harness.errors import ScratchError
from harness.scratch.base import STORES, ScratchProvider
from harness.scratch.endpoints import Endpoints
from harness.scratch.run import Run
from harness.scratch.servers import LocalMariaDB, LocalPostgres, LocalSeaweed, LocalServer
from harness.tools import pgbin


class LocalProvider(ScratchProvider):
    """PostgreSQL, SeaweedFS and MariaDB started on free 127.0.0.1 ports.

    ``role`` names the environment inside the run (``scratch`` for the restore target,
    ``source`` for a reference deployment), so that both can live in one run directory.
    ``postgres_settings`` are extra ``-c`` settings (e.g. WAL archiving for a source),
    ``postgres_env`` extra environment for the server (e.g. a simulated clock).
    """

    name = "local"

    def __init__(self, config: ScratchConfig, run: Run, *, role: str = "scratch",
                 stores: tuple[str, ...] = STORES,
                 postgres_settings: dict[str, str] | None = None,
                 postgres_major: int | None = None,
                 postgres_initdb_args: list[str] | None = None,
                 postgres_env: dict[str, str] | None = None) -> None:
        super().__init__()
        unknown = set(stores) - set(STORES)
        if unknown:
            raise ScratchError(f"unknown store(s) {sorted(unknown)}",
                               remedy=f"choose among {', '.join(STORES)}")
        self.config = config
        self.run = run
        self.role = role
        self.stores = stores
        self.postgres_settings = postgres_settings or {}
        self.postgres_initdb_args = postgres_initdb_args or []
        self.postgres_env = postgres_env or {}
        self.postgres_major = postgres_major or config.postgres_version
        self.postgres: LocalPostgres | None = None
        self.seaweed: LocalSeaweed | None = None
        self.mariadb: LocalMariaDB | None = None
        self._servers: list[LocalServer] = []

    def _build(self) -> None:
        cfg = self.config
        if "postgres" in self.stores:
            inst = pgbin.find(self.postgres_major, require_pgvector=cfg.require_pgvector)
            self.postgres = LocalPostgres(self.run, inst, name=f"{self.role}-postgres",
                                          os_user=cfg.os_user, settings=self.postgres_settings,
                                          stop_timeout=cfg.stop_timeout,
                                          initdb_args=self.postgres_initdb_args,
                                          env=self.postgres_env)
            self._servers.append(self.postgres)
        if "objects" in self.stores:
            self.seaweed = LocalSeaweed(self.run, name=f"{self.role}-seaweedfs",
                                        access_key=cfg.s3_access_key, secret_key=cfg.s3_secret_key,
                                        stop_timeout=min(cfg.stop_timeout, 2.0))
            self._servers.append(self.seaweed)
        if "warehouse" in self.stores:
            self.mariadb = LocalMariaDB(self.run, name=f"{self.role}-mariadb",
                                        stop_timeout=cfg.stop_timeout)
            self._servers.append(self.mariadb)

    def start(self) -> Endpoints:
        """Start every requested server in parallel and wait until all are ready."""
        if self._started:
            return self.endpoints
        self._started = True
        try:
            self._build()
            t0 = time.monotonic()
            for server in self._servers:
                server.start()
            deadline = t0 + self.config.ready_timeout
            for server in self._servers:
                took = server.wait_ready(max(1.0, deadline - time.monotonic()))
                self.timings.add(f"{server.name}.ready", took)
            self.timings.add(f"{self.role}.start", time.monotonic() - t0)
        except BaseException:
            # Setup failed half-way (or Ctrl-C): nothing started may outlive this call.
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        """Stop every server this provider started, in reverse order."""
        t0 = time.monotonic()
        errors = []
        for server in reversed(self._servers):
            try:
                took = server.stop()
                self.timings.add(f"{server.name}.stop", took)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                errors.append(f"{server.name}: {exc}")
        self.timings.add(f"{self.role}.stop", time.monotonic() - t0)
        if errors:
            raise ScratchError("some servers did not stop cleanly", detail="\n".join(errors),
                               remedy="run 'scrydon-drill sweep' to remove leftovers")

    @property
    def endpoints(self) -> Endpoints:
        """Endpoints of the servers that were started."""
        return Endpoints(
            postgres=self.postgres.endpoint if self.postgres and self.postgres.port else None,
            s3=self.seaweed.endpoint if self.seaweed and self.seaweed.s3_port else None,
            warehouse=self.mariadb.endpoint if self.mariadb and self.mariadb.port else None,
        )

    def describe(self) -> dict[str, str]:
        """Server versions and addresses (no credentials)."""
        out: dict[str, str] = {"provider": "local", "run_dir": str(self.run.directory)}
        if self.postgres:
            out["postgres"] = self.postgres.inst.describe()
        if self.seaweed:
            out["objects"] = "SeaweedFS (weed server -s3)"
        if self.mariadb:
            out["warehouse"] = f"MariaDB {self.mariadb.version} (stand-in for StarRocks)"
        return out
