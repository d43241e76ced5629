"""The detection matrix: the real drills, run on the clean reference and on every fault.

For the clean set every check must pass (no false alarm). For each fault of the catalogue
the check(s) it names must fail with a message naming the cause. The whole matrix runs once
per module (one drill process per case, ~15 s each) and the source backups must be
byte-for-byte unchanged afterwards. The grid is printed, recorded as a measurement and
written to reports/tests/fault-matrix.md; docs/fault-matrix.md must list the same catalogue.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fixtures.faults as catalogue
from fixtures.selftest import DrillRunner, Matrix, run_matrix
from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DOC = REPO / "docs" / "fault-matrix.md"


@pytest.fixture(scope="module")
def matrix(reference: Any) -> Iterator[tuple[Matrix, dict[str, str]]]:
    """Run the whole matrix once; yield it with the source's digest taken before it ran."""
    # Short: PostgreSQL's socket path below it must stay under 108 bytes.
    work = Path(tempfile.mkdtemp(prefix="sdm-"))
    os.chmod(work, 0o755)
    runs = work / "runs"
    runs.mkdir()
    os.chmod(runs, 0o755)
    before = catalogue.tree_digest(reference.backups)
    try:
        runner = DrillRunner(reference.drill_config, runs)
        result = run_matrix(reference.backups, work / "m", runner, meta=reference.meta)
        out = REPO / "reports" / "tests" / "fault-matrix.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(result.render_markdown(), encoding="utf-8")
        print("\n" + result.render_text())
        yield result, before
    finally:
        from harness.scratch.sweep import sweep

        sweep(runs, include_kept=True)
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.timeout(3600)
def test_the_clean_set_passes_every_check(matrix: tuple[Matrix, dict[str, str]],
                                          measure: Any) -> None:
    result, _ = matrix
    clean = result.clean
    assert clean is not None and clean.drill is not None
    assert clean.drill.verdicts, clean.drill.run_errors
    assert clean.ok, "\n".join(clean.problems)
    assert clean.drill.exit_code == 0
    measure(f"clean set: {len(clean.drill.verdicts)} checks passed in {clean.seconds:.1f} s")


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", catalogue.NAMES)
def test_the_fault_is_caught_by_its_check(name: str,
                                          matrix: tuple[Matrix, dict[str, str]]) -> None:
    result, _ = matrix
    case = next(c for c in result.cases if c.name == name)
    assert case.drill is not None, "\n".join(case.problems)
    assert case.drill.exit_code != 0, "a drill that caught a fault must exit non-zero"
    assert case.ok, "\n".join(case.problems)


@pytest.mark.timeout(3600)
def test_the_source_backups_are_unchanged_after_the_whole_matrix(
        reference: Any, matrix: tuple[Matrix, dict[str, str]]) -> None:
    result, before = matrix
    assert result.source_unchanged is True
    assert catalogue.tree_digest(reference.backups) == before


@pytest.mark.timeout(3600)
def test_the_matrix_is_complete_and_within_budget(matrix: tuple[Matrix, dict[str, str]],
                                                  measure: Any) -> None:
    result, _ = matrix
    caught, total = result.detection()
    measure(result.summary())
    for case in result.cases:
        measure(f"  {case.name}: inject {case.inject_seconds:.1f} s, drill "
                f"{case.drill.seconds if case.drill else 0:.1f} s")
    assert total == len(catalogue.NAMES) and caught == total
    assert result.seconds < 20 * 60, f"the matrix took {result.seconds:.0f} s"


def test_the_docs_list_the_catalogue_as_it_is() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in catalogue.NAMES:
        fault = catalogue.get(name)
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")),
                   None)
        assert row is not None, f"docs/fault-matrix.md has no row for {name}"
        for check in fault.expected_checks:
            assert f"`{check}`" in row, f"{name}: {check} missing from its docs row"
