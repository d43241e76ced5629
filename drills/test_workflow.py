"""workflow.open: open workflows (runbook: "confirming workflows are visible")."""

from __future__ import annotations

import pytest

from harness.checks.base import Measure, postgres, run_seed, settle
from harness.checks.workflow import (
    check_workflows,
    fetch_definitions,
    fetch_workflows,
    plan_workflows,
)
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="workflow.open", stores=("postgres",),
                         title="Workflows exist with intact definitions")
def test_open(drill_restored: RestoredPlatform, drill_profile: Profile,
              drill_measure: Measure) -> None:
    """Named (or sampled) workflows exist and their definitions are valid JSON objects."""
    section = drill_profile.workflow
    with postgres(drill_restored, section.database) as conn:
        plan = plan_workflows(fetch_workflows(conn, section), section,
                              run_seed(drill_profile.sampling.seed))
        definitions = fetch_definitions(conn, section, [w.id for w in plan.chosen])
    settle(check_workflows(plan, definitions, section), drill_measure)
