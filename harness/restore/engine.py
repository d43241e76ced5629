"""The restore engine: every store of a restore set into a scratch environment, timed.

Order follows the runbook where it matters: the master key is loaded first (nothing that
decrypts may run without it), then PostgreSQL, object storage and the warehouse are restored
*concurrently* (they are independent stores), each phase timed so the report can break the
RTO down by store and phase.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.catalog.model import Artifact, RestoreSet
from harness.config import BackupsConfig
from harness.crypto import dapr, masterkey
from harness.errors import DrillError, RestoreError
from harness.records import PhaseClock
from harness.restore import starrocks
from harness.restore.objects import ObjectItem, upload_objects
from harness.restore.postgres import (
    DumpPlan,
    check_extensions,
    inspect_dump,
    restore_database,
)
from harness.restore.result import RestoreResult
from harness.restore.warehouse import WarehouseRestore, restore_warehouse
from harness.scratch.endpoints import Endpoints

Fetch = Callable[[Artifact], Path]


def local_fetch(artifact: Artifact) -> Path:
    """Artefacts of a directory source are used in place (opened read-only)."""
    return Path(artifact.location)


class RestoreEngine:
    """Restores a :class:`RestoreSet` into the stores at ``target``."""

    def __init__(self, target: Endpoints, *, fetch: Fetch = local_fetch,
                 jobs: int | None = None, object_workers: int = 8,
                 backups: BackupsConfig | None = None) -> None:
        self.target = target
        self.fetch = fetch
        self.jobs = jobs or os.cpu_count() or 1
        self.object_workers = object_workers
        # Where a StarRocks warehouse finds its snapshot repository.
        self.backups = backups or BackupsConfig()

    # -- stores ----------------------------------------------------------------------------
    def restore_master_key(self, rs: RestoreSet, clock: PhaseClock,
                           result: RestoreResult) -> None:
        """Load the master key from its backup (kept in memory only)."""
        with clock.phase("master-key", "load"):
            if rs.master_key is None:
                result.master_key_error = "no master-key backup was found in the backup source"
                return
            try:
                text = self.fetch(rs.master_key).read_text()
                # Registered before parsing: a backup that fails to parse holds the key too.
                result.secrets.update(masterkey.secret_material(text))
                result.master_key = masterkey.load_master_key_backup(text)
                result.master_key_document = text
            except (OSError, UnicodeDecodeError, dapr.DaprCryptoError) as exc:
                result.master_key_error = f"{rs.master_key.location}: {exc}"

    def restore_postgres(self, rs: RestoreSet, clock: PhaseClock,
                         result: RestoreResult) -> None:
        """Inspect every dump first (versions, extensions), then restore all of them."""
        pg = self.target.postgres
        if pg is None:
            raise RestoreError("the scratch environment has no PostgreSQL", store="postgres")
        with clock.phase("postgres", "inspect"):
            plans = [inspect_dump(db, self.fetch(a), pg) for db, a in sorted(rs.dumps.items())]
            check_extensions(plans, pg)
            result.source_versions = {p.database: p.header.server_version for p in plans}
        # Databases side by side, each pg_restore with fewer jobs: most of a dump's time is
        # one large table or index that -j cannot split, so two databases at once finish
        # sooner than one after the other at -j 2 (measured: 0.6x at the medium scale).
        # The largest dumps start first.
        width = max(1, min(self.jobs, len(plans)))
        jobs = max(1, self.jobs // width)

        def one(plan: DumpPlan) -> None:
            with clock.phase("postgres", f"restore {plan.database}") as ph:
                t0 = time.monotonic()
                done = restore_database(plan, pg, jobs=jobs)
                done.seconds = time.monotonic() - t0
                ph.detail = f"{done.tables} tables"
                result.databases[plan.database] = done

        by_size = sorted(plans, key=lambda p: p.path.stat().st_size, reverse=True)
        with ThreadPoolExecutor(width, thread_name_prefix="pg-restore") as pool:
            futures = [pool.submit(one, plan) for plan in by_size]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                # The first failure ends the store: the dumps not started stay unrestored.
                for future in futures:
                    future.cancel()
                raise

    def restore_objects(self, rs: RestoreSet, clock: PhaseClock,
                        result: RestoreResult) -> None:
        """Upload the bucket replica, verifying every object on the way."""
        if self.target.s3 is None or rs.objects_root is None or not rs.objects:
            raise DrillError("no object replica or no scratch object store", store="objects")
        items: list[ObjectItem] = []
        for art in rs.objects:
            bucket, key = art.name.split("/", 1)
            items.append((bucket, key, functools.partial(self.fetch, art)))
        with clock.phase("objects", "restore") as ph:
            result.objects = upload_objects(items, self.target.s3, workers=self.object_workers)
            ph.detail = (f"{sum(result.objects.buckets.values())} objects, "
                         f"{result.objects.bytes} bytes")

    def restore_warehouse(self, rs: RestoreSet, clock: PhaseClock,
                          result: RestoreResult) -> None:
        """Restore the warehouse the way its kind restores: StarRocks from its snapshot
        repository, the MariaDB stand-in from the per-table snapshot files."""
        if self.target.warehouse is not None and self.target.warehouse.kind == "starrocks":
            self._restore_starrocks(clock, result)
            return
        self._restore_tables(rs, clock, result)

    def _restore_starrocks(self, clock: PhaseClock, result: RestoreResult) -> None:
        wh, cfg = self.target.warehouse, self.backups
        assert wh is not None
        if not cfg.starrocks_location:
            raise DrillError("the scratch warehouse is StarRocks but backups.starrocks_location "
                             "names no snapshot repository", store="warehouse",
                             remedy="set backups.starrocks_location (s3://...) and "
                                    "backups.starrocks_repository to the backing cluster's")
        with clock.phase("warehouse", "restore") as ph:
            conn = wh.connect()
            try:
                done = starrocks.restore_database(
                    conn, database=cfg.starrocks_database, repo=cfg.starrocks_repository,
                    location=cfg.starrocks_location, access_key=cfg.s3_access_key,
                    secret_key=cfg.s3_secret_key, endpoint=cfg.s3_endpoint,
                    snapshot=cfg.starrocks_snapshot or None)
            finally:
                conn.close()  # type: ignore[attr-defined]
            result.warehouse = WarehouseRestore(database=done.database, tables=done.tables)
            ph.detail = (f"{len(done.tables)} tables from snapshot {done.snapshot.snapshot} "
                         f"({done.snapshot.timestamp})")

    def _restore_tables(self, rs: RestoreSet, clock: PhaseClock,
                        result: RestoreResult) -> None:
        """Load the per-table snapshot files (the MariaDB stand-in)."""
        if self.target.warehouse is None or rs.warehouse is None or rs.warehouse.manifest is None:
            raise DrillError("no warehouse snapshot or no scratch warehouse", store="warehouse")
        with clock.phase("warehouse", "restore") as ph:
            # The table files are where the layout put them, not necessarily beside the
            # manifest: the catalogue found each one.
            files = {name: self.fetch(art) for name, art in rs.warehouse.tables.items()}
            result.warehouse = restore_warehouse(self.fetch(rs.warehouse.manifest),
                                                 self.target.warehouse, table_files=files)
            ph.detail = f"{len(result.warehouse.tables)} tables"

    # -- all -------------------------------------------------------------------------------
    def restore(self, rs: RestoreSet, *,
                stores: tuple[str, ...] = ("postgres", "objects", "warehouse"),
                result: RestoreResult | None = None, early: bool = False) -> RestoreResult:
        """Restore the set: the key first, then the independent stores concurrently.

        A store that fails does not stop the others (their outcome is evidence too); its
        error is recorded in ``result.errors``. With ``early``, each store that restores
        without error opens ``result.gate`` at once, so that checks reading only it can
        run while the others are still restoring (the caller opens the rest at the end).
        Phases are appended to ``result.phases`` as they end.
        """
        result = result if result is not None else RestoreResult(restore_set=rs)
        clock = PhaseClock(result.phases)
        t0 = time.monotonic()
        self.restore_master_key(rs, clock, result)
        if early:
            result.gate.open("master-key")
        steps: dict[str, Callable[[RestoreSet, PhaseClock, RestoreResult], None]] = {
            "postgres": self.restore_postgres, "objects": self.restore_objects,
            "warehouse": self.restore_warehouse}

        def run(name: str) -> None:
            try:
                steps[name](rs, clock, result)
            except DrillError as exc:
                result.errors[name] = str(exc)
            except Exception as exc:  # noqa: BLE001 - an unexpected failure is still evidence
                result.errors[name] = f"{type(exc).__name__}: {exc}"
            else:
                if early:
                    result.gate.open(name)

        with ThreadPoolExecutor(len(stores) or 1) as pool:
            for fut in [pool.submit(run, name) for name in stores]:
                fut.result()
        result.wall_seconds = time.monotonic() - t0
        result.phases.sort(key=lambda p: p.started_at)  # every worker has ended
        return result


def describe_timing(result: RestoreResult) -> str:
    """One line comparing wall time with the sum of store times (the concurrency gain)."""
    per = result.store_seconds()
    total = sum(per.values())
    parts = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(per.items()))
    return (f"restore wall time {result.wall_seconds:.2f}s vs sum of store times {total:.2f}s "
            f"({parts})")


