"""The embedded default: real servers as child processes in the run's private directory."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from harness.config import DrillConfig
from harness.errors import ScratchError, ServerStartError
from harness.scratch.base import SCRATCH_STORES, ScratchProvider, SweepReport
from harness.scratch.endpoints import Endpoints, PostgresEndpoint
from harness.scratch.ports import free_port
from harness.scratch.reap import owned_processes, terminate
from harness.scratch.run import Run
from harness.scratch.servers import (
    TMP_SOCKETS_FILE,
    LocalMariaDB,
    LocalPostgres,
    LocalSeaweed,
    LocalServer,
    remove_short_socket_dirs,
    remove_tmp_sockets,
    run_as,
)
from harness.tools import pgbin
from harness.tools.binaries import weed_version
from harness.tools.pitr import (
    PitrResult,
    base_backup_major,
    chown_tree,
    prepare_datadir,
    recovery_failed,
    recovery_proof,
    recovery_settings,
    stage_wal,
)
from harness.tools.wait import tail

# Seconds the sweep waits between SIGTERM and SIGKILL.
_SWEEP_GRACE = 2.0


class PitrPostgres(LocalPostgres):
    """A PostgreSQL server started on a copied base backup in recovery mode."""

    def _ready(self) -> bool:
        # Trust over the private socket: the base backup carries the source's passwords,
        # which the drill does not know; a fresh one is set once the server is promoted.
        with psycopg.connect(host=str(self.sockdir), port=self.port, user="postgres",
                             dbname="postgres", connect_timeout=2, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is None or row[0]:
                return False
            conn.execute(psycopg.sql.SQL("ALTER USER postgres PASSWORD {}").format(
                psycopg.sql.Literal(self.password)))
        return True


class LocalProvider(ScratchProvider):
    """PostgreSQL, SeaweedFS and MariaDB started on free 127.0.0.1 ports.

    ``role`` names the environment inside the run (``scratch`` for the restore target,
    ``source`` for a reference deployment), so that both can live in one run directory.
    ``postgres_settings`` are extra ``-c`` settings (e.g. WAL archiving for a source),
    ``postgres_env`` extra environment for the server (e.g. a simulated clock).
    """

    name = "local"

    def __init__(self, config: DrillConfig, run: Run, *, role: str = "scratch",
                 stores: tuple[str, ...] = SCRATCH_STORES,
                 postgres_settings: dict[str, str] | None = None,
                 postgres_major: int | None = None,
                 postgres_initdb_args: list[str] | None = None,
                 postgres_env: dict[str, str] | None = None) -> None:
        super().__init__(config, run, stores=stores)
        unknown = set(stores) - set(SCRATCH_STORES)
        if unknown:
            raise ScratchError(f"unknown store(s) {sorted(unknown)}",
                               remedy=f"choose among {', '.join(SCRATCH_STORES)}")
        self.scratch = config.scratch
        self.role = role
        self.postgres_settings = postgres_settings or {}
        self.postgres_initdb_args = postgres_initdb_args or []
        self.postgres_env = postgres_env or {}
        self.postgres_major = postgres_major or config.scratch.postgres_version
        self.postgres: LocalPostgres | None = None
        self.seaweed: LocalSeaweed | None = None
        self.mariadb: LocalMariaDB | None = None
        self._servers: list[LocalServer] = []

    def _build(self) -> None:
        cfg = self.scratch
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
                                        # A scratch object store is thrown away:
                                        # nothing to flush, so no grace period.
                                        stop_timeout=(0.0 if self.role == "scratch"
                                                      else min(cfg.stop_timeout, 2.0)))
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
            deadline = t0 + self.scratch.ready_timeout
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
        """Stop every server this provider started, all at once (they are independent)."""
        t0 = time.monotonic()
        errors = []

        def stop_one(server: LocalServer) -> None:
            try:
                took = server.stop()
                self.timings.add(f"{server.name}.stop", took)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                errors.append(f"{server.name}: {exc}")

        threads = [threading.Thread(target=stop_one, args=(server,), name=f"stop-{server.name}")
                   for server in reversed(self._servers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
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

    def versions(self) -> dict[str, str]:
        """PostgreSQL, SeaweedFS and MariaDB versions of the running servers."""
        out = super().versions()
        if self.seaweed is not None:
            out["seaweedfs"] = weed_version()
        return out

    def logs(self, store: str) -> str:
        """The tail of the store's server log."""
        server = {"postgres": self.postgres, "objects": self.seaweed,
                  "warehouse": self.mariadb}.get(store)
        process = getattr(server, "process", None)
        return tail(process.log_path) if process is not None else ""

    def recover_postgres(self, base: Path, wal: Path, target: dt.datetime
                         ) -> tuple[PostgresEndpoint, PitrResult]:
        """Replay ``wal`` onto a copy of ``base`` up to ``target`` in a server of the base
        backup's own major version, promoted; it stops with the provider."""
        inst = pgbin.find(base_backup_major(base), require_pgvector=False)
        server = PitrPostgres(self.run, inst, name=f"{self.role}-pitr-postgres",
                              os_user=self.scratch.os_user,
                              stop_timeout=self.scratch.stop_timeout)
        staged = server.base / "wal-archive"
        stage_wal(wal, staged, server.user)
        prepare_datadir(base, server.datadir, server.user)
        server.sockdir.mkdir(exist_ok=True)
        chown_tree(server.sockdir, server.user)
        server.settings = recovery_settings(str(staged), target,
                                            str(server.datadir / "pg_hba.conf"))
        self._servers.append(server)
        server.start()
        try:
            server.wait_ready(max(300.0, self.scratch.ready_timeout))
        except ServerStartError as exc:
            log = tail(server.base / "server.log", 80)
            server.stop()
            raise recovery_failed(log, target, str(wal), str(base)) from exc
        log = (server.base / "server.log").read_text(errors="replace")
        try:
            proof = recovery_proof(log, target, str(wal))
        except Exception:
            server.stop()
            raise
        return server.endpoint, proof

    def upgrade_check(self, endpoint: PostgresEndpoint, target_major: int) -> str:
        """``pg_upgrade --check`` from the recovered server behind ``endpoint`` (running, as
        pg_upgrade allows for a check) to a fresh cluster of ``target_major``; returns
        pg_upgrade's report, raises :class:`ServerStartError` with it when the check fails."""
        old = next((s for s in self._servers if isinstance(s, PitrPostgres)
                    and s.port == endpoint.port), None)
        if old is None:
            raise ServerStartError("no recovered PostgreSQL of this run to check",
                                   store="postgres")
        # The new cluster must match what pg_upgrade cannot change: the WAL segment size and
        # data checksums (on by default from PostgreSQL 18).
        control = subprocess.run([old.inst.tool("pg_controldata"), str(old.datadir)],
                                 capture_output=True, text=True, check=False).stdout
        seg = re.search(r"Bytes per WAL segment:\s+(\d+)", control)
        initdb_args = [f"--wal-segsize={int(seg.group(1)) // (1024 * 1024)}"] if seg else []
        sums = re.search(r"Data page checksum version:\s+(\d+)", control)
        if sums and sums.group(1) != "0":
            initdb_args.append("--data-checksums")
        elif sums and target_major >= 18:
            initdb_args.append("--no-data-checksums")
        new = LocalPostgres(self.run, pgbin.find(target_major, require_pgvector=False),
                            name=f"{self.role}-upgrade-target", os_user=self.scratch.os_user,
                            initdb_args=initdb_args)
        new.initdb()
        work = new.base / "pg_upgrade"
        work.mkdir(exist_ok=True)
        chown_tree(work, new.user)
        log = new.base / "pg_upgrade.log"
        run_as([new.inst.tool("pg_upgrade"), "--check", "-b", str(old.inst.bindir),
                "-B", str(new.inst.bindir), "-d", str(old.datadir), "-D", str(new.datadir),
                "-p", str(old.port), "-P", str(free_port()), "-U", "postgres",
                f"--socketdir={old.sockdir}"], new.user, run_id=self.run.run_id,
               what=f"pg_upgrade --check {old.inst.major} -> {target_major}", log=log,
               cwd=work)
        return log.read_text(errors="replace")

    @classmethod
    def sweep(cls, dead_runs: Mapping[str, Path], report: SweepReport) -> None:
        """Kill the processes that carry a dead run's mark in their environment (and the
        members of process groups such a process leads); remove the sockets SeaweedFS
        left in /tmp, which the run folder records."""
        victims = owned_processes(set(dead_runs))
        terminate(victims, grace=_SWEEP_GRACE)
        report.killed.update(victims)
        for rid, directory in dead_runs.items():
            for listing in directory.glob(f"*/{TMP_SOCKETS_FILE}"):
                remove_tmp_sockets(listing)
            remove_short_socket_dirs(rid)
