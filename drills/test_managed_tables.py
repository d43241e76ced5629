"""managed_tables.open: open managed tables (runbook: "a managed table")."""

from __future__ import annotations

import pytest

from harness.checks.base import (
    Measure,
    postgres,
    require_restored,
    settle,
    warehouse_connector,
)
from harness.checks.tables import check_managed_tables, fetch_catalogue, probe_tables
from harness.profile import Profile
from harness.restore.result import RestoredPlatform

CONTROLS = ["ISO27001:A.8.13", "SOC2:A1.3", "NIST:CP-4", "NIST:CP-10", "DORA:Art.12"]


@pytest.mark.drill_check(id="managed_tables.open", stores=("postgres", "warehouse"),
                         controls=CONTROLS,
                         title="Managed tables answer queries with their rows, p95 within SLO")
def test_open(drill_restored: RestoredPlatform, drill_profile: Profile,
              drill_measure: Measure) -> None:
    """Every catalogued active table is in the warehouse, fast, with its catalogued rows."""
    section = drill_profile.managed_tables
    require_restored(drill_restored, "postgres", "warehouse")
    connect = warehouse_connector(drill_restored)
    with postgres(drill_restored, section.database) as conn:
        catalogue = fetch_catalogue(conn, section)
    active = [t for t in catalogue if t.state in section.states]
    probes = probe_tables(connect, active, section)
    settle(check_managed_tables(catalogue, probes, section), drill_measure)
