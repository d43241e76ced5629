"""What a restore produced: per-store results, and the restored platform the checks read."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.catalog.model import RestoreSet
from harness.config import DrillConfig
from harness.crypto import masterkey
from harness.records import Phase
from harness.restore.migrate import MigrationReport
from harness.restore.objects import ObjectsRestore
from harness.restore.postgres import DatabaseRestore
from harness.restore.warehouse import WarehouseRestore
from harness.scratch.deployment import PlatformDeployment
from harness.scratch.endpoints import Endpoints

#: What a restore makes ready, in the gate's terms: the key, then the three stores.
ALL_STORES = ("master-key", "postgres", "objects", "warehouse")


class StoreGate:
    """Which stores of a restore still run: a check waits for the stores it reads only.

    A store opens when it restored without error; a store that failed opens only when the
    whole restore has ended (its failure may turn out to be the environment's, which is
    decided then). ``fail`` hands the restore's own exception to every waiter. A gate made
    without ``pending`` stores is open: a restore that is not pipelined is simply complete.
    """

    def __init__(self, pending: Iterable[str] = ()) -> None:
        self._cond = threading.Condition()
        self._pending = set(pending)
        self._error: BaseException | None = None

    def close(self, stores: Iterable[str]) -> None:
        """Mark ``stores`` as being restored."""
        with self._cond:
            self._pending.update(stores)

    def open(self, *stores: str) -> None:
        """``stores`` are restored (without error): their checks may run."""
        with self._cond:
            self._pending.difference_update(stores)
            self._cond.notify_all()

    def open_all(self) -> None:
        """The restore has ended: every waiter may go on."""
        with self._cond:
            self._pending.clear()
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """The restore ended with ``error``: every waiter, now and later, raises it."""
        with self._cond:
            self._error = error
            self._pending.clear()
            self._cond.notify_all()

    def pending(self) -> set[str]:
        """The stores still being restored."""
        with self._cond:
            return set(self._pending)

    def wait(self, stores: Iterable[str] = ALL_STORES, *, poll: float = 0.2,
             tick: Callable[[], None] | None = None) -> None:
        """Block until ``stores`` are restored (or the restore failed: raise its error).

        ``tick`` (a callable) runs every ``poll`` seconds while waiting, in the waiting
        thread (e.g. to show progress made by the restoring threads).
        """
        wanted = set(stores)
        with self._cond:
            while self._error is None and wanted & self._pending:
                self._cond.wait(poll)
                if tick is not None:
                    self._cond.release()
                    try:
                        tick()
                    finally:
                        self._cond.acquire()
            if self._error is not None:
                raise self._error


@dataclass
class RestoreResult:
    """Everything a restore did, for the checks and the run record."""

    restore_set: RestoreSet
    phases: list[Phase] = field(default_factory=list)
    databases: dict[str, DatabaseRestore] = field(default_factory=dict)
    objects: ObjectsRestore | None = None
    warehouse: WarehouseRestore | None = None
    master_key: masterkey.MasterKeyBackup | None = None
    master_key_error: str | None = None
    # The backup's YAML as read (in memory only): the Kubernetes provider creates the Secret
    # from it before the chart.
    master_key_document: str | None = field(default=None, repr=False)
    errors: dict[str, str] = field(default_factory=dict)  # store -> message
    # The PostgreSQL version each dump was taken from (database -> "16.4").
    source_versions: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    # Values read from the backups that no report may show (label -> value).
    secrets: dict[str, str | bytes] = field(default_factory=dict)
    # Stores still restoring when the checks start early (see StoreGate); open by default.
    gate: StoreGate = field(default_factory=StoreGate, repr=False, compare=False)

    def wait(self, *stores: str) -> None:
        """Block until ``stores`` (default: all) are restored; see :class:`StoreGate`."""
        self.gate.wait(stores or ALL_STORES)

    @property
    def ok(self) -> bool:
        """True when every store restored."""
        return not self.errors

    def store_seconds(self) -> dict[str, float]:
        """Wall seconds per store: from its first phase's start to its last phase's end
        (a store's own phases may overlap, e.g. databases restored side by side)."""
        spans: dict[str, tuple[float, float]] = {}
        for p in self.phases:
            start = dt.datetime.fromisoformat(p.started_at).timestamp()
            first, last = spans.get(p.store, (start, start + p.seconds))
            spans[p.store] = (min(first, start), max(last, start + p.seconds))
        return {store: round(last - first, 6) for store, (first, last) in spans.items()}



@dataclass
class RestoredPlatform:
    """A restored scratch platform and how it came to be."""

    config: DrillConfig
    endpoints: Endpoints
    restore_set: RestoreSet
    result: RestoreResult
    # When the newest set failed and an older one was restored instead.
    fallback_from: RestoreSet | None = None
    fallback_reason: str = ""
    notes: list[str] = field(default_factory=list)
    run_id: str = ""  # the scratch run it lives in: helpers started for checks carry it
    # The platform deployed on the restored stores (Kubernetes provider), else None.
    deployment: PlatformDeployment | None = None
    deployment_note: str = ""  # why the platform was not deployed, when it was not
    # A pre-upgrade rehearsal's migrations, when upgrade.migrations is set.
    migrations: MigrationReport | None = None

    @property
    def platform_url(self) -> str:
        """The deployed platform's API: the run's own deployment, else drill.scratch_url."""
        if self.deployment is not None:
            return self.deployment.url
        return self.config.drill.scratch_url.strip()

    @property
    def backup_time(self) -> dt.datetime:
        """The restored set's backup time (what RPO is measured against)."""
        return self.restore_set.backup_time

    @property
    def rpo_loss_seconds(self) -> float:
        """Data given up by falling back to an older set (0 without fallback)."""
        if self.fallback_from is None:
            return 0.0
        return (self.fallback_from.backup_time - self.restore_set.backup_time).total_seconds()
