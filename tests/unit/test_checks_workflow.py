"""workflow.open: planning (named or sampled) and what counts as an intact definition."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.checks.workflow import (
    WorkflowRef,
    check_workflows,
    definition_problem,
    plan_workflows,
)
from harness.profile import load_profile

SECTION = load_profile().workflow
FLOWS = [WorkflowRef(f"wf_{i}", f"Workflow {i}") for i in range(20)]


def good(name: str) -> dict[str, object]:
    return {"name": name, "steps": [{"id": "step-0"}]}


def test_a_seeded_sample_of_intact_workflows_passes() -> None:
    plan = plan_workflows(FLOWS, SECTION, seed=11)
    assert len(plan.chosen) == SECTION.sample_size
    assert plan.chosen == plan_workflows(FLOWS, SECTION, seed=11).chosen
    defs = {w.id: good(w.name) for w in plan.chosen}
    out = check_workflows(plan, defs, SECTION)
    assert out.ok and "a random sample of 5 of 20 (25.0 %, seed 11)" in out.message
    assert out.measured == {"workflows": 20, "checked": 5, "seed": 11, "broken": 0,
                            "missing_names": 0}


def test_named_workflows_must_all_exist() -> None:
    section = dataclasses.replace(SECTION, names=("Workflow 3", "Nightly ETL"))
    plan = plan_workflows(FLOWS, section, seed=1)
    assert [w.id for w in plan.chosen] == ["wf_3"] and plan.missing_names == ["Nightly ETL"]
    out = check_workflows(plan, {"wf_3": json.dumps(good("Workflow 3"))}, section)
    assert not out.ok and "workflows named Nightly ETL do not exist" in out.message


@pytest.mark.parametrize(("definition", "problem"), [
    (None, "no definition"),
    ("{not json", "not valid JSON"),
    ('["a list"]', "a JSON list, not an object"),
    ({"name": "Workflow 1"}, "lacks steps"),
    ({"name": "Workflow 1", "steps": None}, "lacks steps"),
    ({"name": "Another", "steps": []}, "not the workflow's name"),
    (b'{"name": "Workflow 1", "steps": [1]}', None),
])
def test_definition_problems(definition: object, problem: str | None) -> None:
    found = definition_problem(definition, "Workflow 1", SECTION)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_broken_and_missing_definitions_are_named() -> None:
    plan = plan_workflows(FLOWS[:3], dataclasses.replace(SECTION, sample_size=0), seed=5)
    defs = {"wf_0": good("Workflow 0"), "wf_1": {"name": "Workflow 1"}}
    out = check_workflows(plan, defs, SECTION)
    assert not out.ok and out.measured["broken"] == 2
    assert "Workflow 1 (wf_1): definition lacks steps" in out.message
    assert "Workflow 2 (wf_2): listed but its definition row is missing" in out.message


def test_too_few_workflows_fails() -> None:
    out = check_workflows(plan_workflows([], SECTION, seed=1), {}, SECTION)
    assert not out.ok and "0 workflows" in out.message
