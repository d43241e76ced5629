"""restore.pitr: PostgreSQL recovered to drill.pitr_target from base backup + WAL archive.

Runs only when ``drill.pitr_target`` is set. The recovered server must have stopped at the
target (PostgreSQL logs where) and been promoted; the audit log must hold no event after it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from harness.checks.base import CheckFailed, Measure
from harness.drill import parse_pitr_target
from harness.errors import DrillError
from harness.profile import Profile


@pytest.mark.drill_check(id="restore.pitr",
                         title="PostgreSQL recovered to the PITR target from the WAL archive")
def test_pitr(drill_pitr: Any, drill_config: Any, drill_profile: Profile,
              drill_measure: Measure) -> None:
    """Recovery reached the target, was promoted, and holds no audit event after it."""
    if isinstance(drill_pitr, DrillError):
        raise CheckFailed(drill_pitr.message, remedy=drill_pitr.remedy)
    endpoint, proof = drill_pitr.endpoint, drill_pitr.proof
    target = parse_pitr_target(drill_config.drill.pitr_target)
    audit = drill_profile.audit
    with psycopg.connect(**endpoint.conninfo(audit.database)) as conn:
        newest = conn.execute(audit.newest_sql).fetchone()[0]
    drill_measure(pitr_target=target.isoformat(), promoted=proof.promoted,
                  newest_event=newest.isoformat() if newest else None)
    if not proof.promoted:
        raise CheckFailed(f"recovery to {target.isoformat()} did not end in a promoted server")
    if newest is not None and newest > target:
        raise CheckFailed(f"the recovered audit log holds an event at {newest.isoformat()}, "
                          f"after the PITR target {target.isoformat()}",
                          remedy="recovery overshot the target; check recovery_target_* settings")
    drill_measure.message(f"recovered to {target.isoformat()}: {proof.stopped}; "
                          f"{proof.last_transaction}; newest audit event "
                          f"{newest.isoformat() if newest else 'none'}")
