"""workflow.open: named or sampled workflows exist and their definitions are intact."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, choose, coverage, listing, plural, query

if TYPE_CHECKING:
    import psycopg

    from harness.profile import Workflow


@dataclass(frozen=True)
class WorkflowRef:
    """One workflow of the restored list."""

    id: str
    name: str


@dataclass
class WorkflowPlan:
    """Which workflows to open: the named ones, or a sample."""

    chosen: list[WorkflowRef]
    total: int
    missing_names: list[str] = field(default_factory=list)
    named: bool = False
    seed: int = 0


def fetch_workflows(conn: psycopg.Connection[Any], section: Workflow) -> list[WorkflowRef]:
    """Every workflow's id and name per ``[workflow] list_sql``."""
    rows = query(conn, section.list_sql, {}, where="[workflow] list_sql", columns=("id", "name"))
    return [WorkflowRef(id=str(r["id"]), name=str(r["name"])) for r in rows]


def plan_workflows(workflows: Sequence[WorkflowRef], section: Workflow, seed: int
                   ) -> WorkflowPlan:
    """The named workflows (all with that name), else ``sample_size`` drawn with ``seed``."""
    if section.names:
        by_name: dict[str, list[WorkflowRef]] = {}
        for w in workflows:
            by_name.setdefault(w.name, []).append(w)
        chosen = [w for name in section.names for w in by_name.get(name, [])]
        missing = [name for name in section.names if name not in by_name]
        return WorkflowPlan(chosen=chosen, total=len(workflows), missing_names=missing,
                            named=True, seed=seed)
    return WorkflowPlan(chosen=choose(workflows, section.sample_size, seed),
                        total=len(workflows), seed=seed)


def fetch_definitions(conn: psycopg.Connection[Any], section: Workflow, ids: Sequence[str]
                      ) -> dict[str, Any]:
    """Definitions of ``ids`` per ``[workflow] definition_sql``."""
    if not ids:
        return {}
    rows = query(conn, section.definition_sql, {"ids": list(ids)},
                 where="[workflow] definition_sql", columns=("id", "definition"))
    return {str(r["id"]): r["definition"] for r in rows}


def definition_problem(definition: Any, name: str, section: Workflow) -> str | None:
    """Why a definition is not intact, or None: valid JSON object with the required keys."""
    if definition is None:
        return "no definition"
    if isinstance(definition, (bytes, bytearray, memoryview)):
        definition = bytes(definition).decode("utf-8", "replace")
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            return f"definition is not valid JSON ({exc})"
    if not isinstance(definition, Mapping):
        return f"definition is a JSON {type(definition).__name__}, not an object"
    missing = [k for k in section.required_keys if definition.get(k) is None]
    if missing:
        return f"definition lacks {', '.join(missing)}"
    if section.name_key and definition.get(section.name_key) != name:
        return (f"definition's {section.name_key!r} is {definition.get(section.name_key)!r}, "
                "not the workflow's name")
    return None


def check_workflows(plan: WorkflowPlan, definitions: Mapping[str, Any], section: Workflow
                    ) -> Outcome:
    """Whether the planned workflows exist with intact definitions."""
    measured: dict[str, Any] = {"workflows": plan.total, "checked": len(plan.chosen),
                                "seed": plan.seed}
    if plan.total < section.min_workflows:
        return Outcome.failed(
            f"the restored platform has {plural(plan.total, 'workflow')}; at least "
            f"{section.min_workflows} expected", remedy="check [workflow] list_sql; if it is "
            "right, the backup lost the workflows", broken=0, **measured)
    broken: list[str] = []
    for w in plan.chosen:
        if w.id not in definitions:
            broken.append(f"{w.name} ({w.id}): listed but its definition row is missing")
            continue
        problem = definition_problem(definitions[w.id], w.name, section)
        if problem:
            broken.append(f"{w.name} ({w.id}): {problem}")
    measured["broken"] = len(broken)
    measured["missing_names"] = len(plan.missing_names)
    what = (f"the named workflows ({listing(list(section.names))}) among "
            f"{plural(plan.total, 'workflow')}" if plan.named
            else f"{coverage(len(plan.chosen), plan.total, plan.seed)} workflows")
    problems = []
    if plan.missing_names:
        problems.append(f"workflows named {listing(plan.missing_names)} do not exist")
    if broken:
        problems.append(f"{plural(len(broken), 'definition')} not intact: {listing(broken)}")
    if problems:
        return Outcome.failed(
            f"opened {what}: " + "; ".join(problems),
            remedy="compare with the source platform; a damaged definition restores as it was "
            "backed up, so look at the backup job's source and earlier dumps", **measured)
    keys = ", ".join(section.required_keys)
    return Outcome.passed(
        f"opened {what}: each definition is a JSON object "
        f"with {keys}" + (f" and its {section.name_key!r} matches the workflow's name"
                          if section.name_key else ""), **measured)
