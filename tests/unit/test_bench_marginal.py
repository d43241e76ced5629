"""The benchmark's cost of each further GB between scales (fixtures/bench/run.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.bench.run import ensure_reference, marginal_seconds_per_gb, table


def _scale(name: str, gb: float, drill: float, floor: float) -> dict[str, Any]:
    return {"scale": name, "bytes": int(gb * 1e9),
            "drill": {"whole": drill, "restore_all": drill - 5},
            "floor": {"whole": floor, "restore_all": floor - 4}}


def test_each_step_is_the_rise_in_seconds_over_the_rise_in_gb() -> None:
    # Out of order, with a scale that is not a step of the ladder: both are handled.
    results = [_scale("large", 6.0, 110.0, 100.0), _scale("big-objects", 2.0, 30.0, 20.0),
               _scale("small", 0.01, 10.0, 6.0), _scale("medium", 1.51, 40.0, 36.0)]
    steps = marginal_seconds_per_gb(results)
    assert [(s["from"], s["to"]) for s in steps] == [("small", "medium"), ("medium", "large")]
    first, second = steps
    assert first["gb"] == 1.5
    assert first["drill_whole"] == 20.0 and first["floor_whole"] == 20.0
    assert first["drill_restore"] == 20.0 and first["floor_restore"] == 20.0
    assert second["drill_whole"] == pytest.approx(70 / 4.49, abs=0.01)
    assert second["floor_whole"] == pytest.approx(64 / 4.49, abs=0.01)


def test_a_single_scale_has_no_step_and_the_table_shows_the_steps() -> None:
    assert marginal_seconds_per_gb([_scale("medium", 1.5, 40, 36)]) == []
    results = [_scale("small", 0.01, 10.0, 6.0), _scale("medium", 1.51, 40.0, 36.0)]
    for r in results:
        r.update(ratios={"whole": 1, "restore_all": 1, "restore.postgres": 1,
                         "restore.objects": 1, "restore.warehouse": 1},
                 seconds_per_gb={"drill_whole": 1}, peak_rss_mib=100)
    text = table({"scales": results, "marginal_seconds_per_gb": marginal_seconds_per_gb(results)})
    assert "| small → medium | 1.5 | 20.0 / 20.0 | 20.0 / 20.0 |" in text


def test_a_cached_reference_is_reused_only_for_the_same_definition_of_its_scale() -> None:
    import dataclasses

    from fixtures.bench.run import _same_scale
    from fixtures.reference.model import get_scale

    today = dataclasses.asdict(get_scale("medium"))
    assert _same_scale(today, "medium")
    older = {k: v for k, v in today.items() if k not in ("big_docs", "big_doc_bytes")}
    assert _same_scale(older, "medium")  # recorded before those fields existed: defaults
    assert not _same_scale({**today, "orgs": today["orgs"] * 4}, "medium")
    assert not _same_scale({**today, "retired_field": 1}, "medium")
    assert not _same_scale(None, "medium")


def test_an_unfinished_build_in_the_cache_is_removed_before_building_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build stopped half-way leaves a folder without its record: building into it would
    meet the old WAL archive, so the benchmark clears it (its own cache) first."""
    import fixtures.reference.build as build

    folder = tmp_path / "small-seed7"
    (folder / "backups" / "postgres" / "wal").mkdir(parents=True)
    (folder / "backups" / "postgres" / "wal" / "000000010000000000000003").write_bytes(b"x")
    seen: list[list[str]] = []

    def fake_build(out: Path, **kwargs: Any) -> Any:
        seen.append(sorted(p.name for p in out.iterdir()) if out.exists() else [])
        return type("Ref", (), {"seconds": 0.0})()

    monkeypatch.setattr(build, "build_reference", fake_build)
    lines: list[str] = []
    assert ensure_reference(tmp_path, "small", 7, lines.append) == folder
    assert seen == [[]]
    assert any("unfinished build" in line for line in lines)
