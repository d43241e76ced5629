"""evidence.json: the run record, versioned, with a published JSON Schema."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from harness.records import SCHEMA_VERSION, RunRecord

SCHEMA_ID = f"urn:scrydon-drill:evidence:{SCHEMA_VERSION}"
SCHEMA_RESOURCE = "data/evidence.schema.json"


def evidence_data(record: RunRecord) -> dict[str, Any]:
    """The JSON document of a record: ``$schema`` first, then the record's fields."""
    return {"$schema": SCHEMA_ID, **record.to_dict()}


def render_json(record: RunRecord) -> str:
    """evidence.json text (stable key order, UTF-8, trailing newline)."""
    return json.dumps(evidence_data(record), indent=2, ensure_ascii=False, default=str) + "\n"


def load_schema() -> dict[str, Any]:
    """The packaged JSON Schema of evidence.json."""
    text = resources.files("harness").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(data: Any) -> list[str]:
    """Every way ``data`` breaks the schema, as ``path: message`` lines (empty when valid)."""
    import jsonschema

    schema = load_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in errors]


def load_record(text: str) -> RunRecord:
    """A run record from evidence.json text."""
    return RunRecord.from_dict(json.loads(text))
