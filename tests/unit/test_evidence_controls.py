"""The compliance mapping data file and its extension by users."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.evidence.controls import apply_controls, load_catalog
from harness.records import CheckResult, RunRecord

REQUIRED = ["ISO27001:A.8.13", "ISO27001:A.5.30", "ISO27001:A.5.16", "ISO27001:A.8.24",
            "SOC2:A1.2", "SOC2:A1.3", "NIST:CP-4", "NIST:CP-9(1)", "NIST:CP-10", "DORA:Art.12"]


def test_catalogue_holds_every_required_control_and_maps_only_known_ones() -> None:
    catalog = load_catalog()
    for control in REQUIRED:
        assert catalog.controls[control]["title"], control
    mapped = {c for ids in catalog.mapping.values() for c in ids}
    assert mapped <= set(catalog.controls)
    assert set(REQUIRED) <= mapped


def test_lookup_exact_then_most_specific_pattern_then_default() -> None:
    catalog = load_catalog()
    assert "NIST:CP-10" in catalog.for_check("objective.rto")
    assert "ISO27001:A.8.24" in catalog.for_check("secrets.decrypt")
    assert catalog.for_check("secrets.decrypt[auth]") == catalog.for_check("secrets.decrypt")
    assert catalog.for_check("something.new") == catalog.mapping["*"]


def test_user_file_adds_controls_and_overrides_mappings(tmp_path: Path) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text('''
[controls."SNC:12.6"]
framework = "SecNumCloud 3.2"
ref = "12.6"
title = "Sauvegarde"

[checks]
"signin.*" = ["SNC:12.6", "ISO27001:A.5.16"]
"audit.recent" = ["PCI:12.10.2"]
''')
    catalog = load_catalog(extra)
    assert catalog.for_check("signin.admin") == ["SNC:12.6", "ISO27001:A.5.16"]
    assert catalog.for_check("audit.recent") == ["PCI:12.10.2"]
    assert catalog.for_check("audit.other") == load_catalog().for_check("audit.other")
    assert catalog.describe("SNC:12.6")["framework"] == "SecNumCloud 3.2"
    assert "not in the controls catalogue" in catalog.describe("FOO:1")["title"]


@pytest.mark.parametrize("text,match", [
    ('[control."x"]\ntitle = "t"', "unknown table"),
    ('[controls."x"]\nref = "1"', "needs at least a title"),
    ('[checks]\n"a.*" = "ISO27001:A.8.13"', "must be a list"),
    ("not toml [", "not valid TOML"),
])
def test_bad_user_files_are_refused_with_a_remedy(tmp_path: Path, text: str, match: str) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_catalog(extra)


def test_missing_user_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_catalog("/nonexistent/controls.toml")


def test_apply_controls_fills_the_catalogue_and_respects_declared_ones() -> None:
    record = RunRecord(run_id="r", started_at="2026-01-01T00:00:00+00:00", checks=[
        CheckResult("signin.admin", "t", "pass", "ok"),
        CheckResult("custom.one", "t", "pass", "ok", controls=["ACME:7"]),
        CheckResult("custom.none", "t", "pass", "ok"),
    ])
    unknown = apply_controls(record, load_catalog(), fixed={"custom.none"})
    assert "ISO27001:A.5.16" in record.checks[0].controls
    assert record.checks[1].controls == ["ACME:7"] and record.checks[2].controls == []
    assert unknown == ["ACME:7"]
    assert record.control_catalog["ISO27001:A.8.13"]["ref"] == "A.8.13"
