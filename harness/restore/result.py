"""What a restore produced: per-store results, and the restored platform the checks read."""

from __future__ import annotations

import datetime as dt
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

    @property
    def ok(self) -> bool:
        """True when every store restored."""
        return not self.errors

    def store_seconds(self) -> dict[str, float]:
        """Seconds spent per store (sum of its phases)."""
        out: dict[str, float] = {}
        for p in self.phases:
            out[p.store] = out.get(p.store, 0.0) + p.seconds
        return out



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
