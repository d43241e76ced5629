"""evidence.json against its published JSON Schema, and the record's round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.evidence.jsonreport import (
    SCHEMA_ID,
    evidence_data,
    load_record,
    load_schema,
    render_json,
    schema_errors,
)
from harness.records import SCHEMA_VERSION, RunRecord
from tests.sample_record import sample_record


@pytest.mark.parametrize("failing,unverified", [(False, False), (True, False), (False, True),
                                                (True, True)])
def test_sample_records_validate_against_the_schema(failing: bool, unverified: bool) -> None:
    data = json.loads(render_json(sample_record(failing=failing, unverified=unverified)))
    assert schema_errors(data) == []
    assert data["$schema"] == SCHEMA_ID


def test_an_empty_run_validates_too() -> None:
    record = RunRecord(run_id="20260101T000000Z-000000", started_at="2026-01-01T00:00:00+00:00",
                       finished_at="2026-01-01T00:00:01+00:00")
    record.verdict = record.overall_verdict()
    assert schema_errors(evidence_data(record)) == []


def test_schema_is_versioned_and_matches_the_record_fields() -> None:
    schema = load_schema()
    assert schema["$id"] == SCHEMA_ID == f"urn:scrydon-drill:evidence:{SCHEMA_VERSION}"
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    # Every record field is described, and nothing else: additionalProperties is false.
    fields = {f.name for f in dataclasses.fields(RunRecord)}
    assert set(schema["properties"]) - {"$schema"} == fields
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d.update(verdict="green"), "verdict"),
    (lambda d: d.update(surprise=1), "(root)"),
    (lambda d: d["checks"][0].update(verdict="skipped"), "checks/0/verdict"),
    (lambda d: d["lineage"][0].update(sha256="not-a-hash"), "lineage/0/sha256"),
    (lambda d: d["phases"][0].update(seconds=-1), "phases/0/seconds"),
    (lambda d: d.update(started_at="yesterday"), "started_at"),
    (lambda d: d.pop("run_id"), "(root)"),
])
def test_schema_rejects_broken_evidence(mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(render_json(sample_record()))
    mutate(data)
    errors = schema_errors(data)
    assert errors and any(e.startswith(where) for e in errors), errors


def test_record_round_trips_through_json() -> None:
    record = sample_record(failing=True)
    assert load_record(render_json(record)) == record
