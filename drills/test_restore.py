"""restore.<store>: every store of the newest restore set comes back into the scratch
environment. A store that failed is a failing check carrying the restore engine's error, and
every other check that needs it fails with that error too (never obscurely)."""

from __future__ import annotations

import pytest

from harness.checks.base import Measure, settle
from harness.checks.restore import check_restore
from harness.restore.result import RestoredPlatform


def _settle(platform: RestoredPlatform, store: str, measure: Measure) -> None:
    platform.result.wait(store)  # the restore may still run for the other stores
    seconds = platform.result.store_seconds().get(store)
    settle(check_restore(platform.result, store, seconds), measure)


@pytest.mark.drill_check(id="restore.postgres", stores=("postgres",),
                         title="PostgreSQL: all databases restored")
def test_postgres(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The five databases restore together from one dump run."""
    _settle(drill_restored, "postgres", drill_measure)


@pytest.mark.drill_check(id="restore.objects", stores=("objects",), title="Object storage restored")
def test_objects(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The bucket replica restores to the same bucket names and keys."""
    _settle(drill_restored, "objects", drill_measure)


@pytest.mark.drill_check(id="restore.warehouse", stores=("warehouse",),
                         title="Warehouse snapshot restored")
def test_warehouse(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The warehouse snapshot restores with its recorded row counts."""
    _settle(drill_restored, "warehouse", drill_measure)


@pytest.mark.drill_check(id="restore.master-key", stores=("master-key",),
                         title="Dapr master key restored")
def test_master_key(drill_restored: RestoredPlatform, drill_measure: Measure) -> None:
    """The master-key Secret backup loads and holds a key Dapr can use."""
    _settle(drill_restored, "master-key", drill_measure)
