"""Plugin tests run fake drill suites with pytester and read the reports they leave."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Imported here, in the outer run, so that pytester's in-process runs (which drop modules they
# imported first) always see the same module objects; type hints of the config need that.
import harness.config  # noqa: F401
import harness.evidence.controls  # noqa: F401
import harness.evidence.history  # noqa: F401
import harness.evidence.leaks  # noqa: F401
import harness.evidence.publish  # noqa: F401
import harness.evidence.reports  # noqa: F401
import harness.scratch.run  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    # pytest refuses `pytest_plugins = ["pytester"]` in a conftest below the top level when the
    # whole suite runs (`pytest` with testpaths); loading it here has the same effect.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@dataclass
class DrillRun:
    """One run of a fake drill suite and the report folder it wrote (if any)."""

    result: pytest.RunResult
    reports: Path

    @property
    def folders(self) -> list[Path]:
        if not self.reports.is_dir():
            return []
        return sorted(p for p in self.reports.iterdir() if p.is_dir() and p.name != "history")

    @property
    def folder(self) -> Path:
        folders = self.folders
        assert len(folders) == 1, f"expected one report folder, found {folders}"
        return folders[0]

    def evidence(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / "evidence.json").read_text())
        return data

    def check(self, check_id: str) -> dict[str, Any]:
        for check in self.evidence()["checks"]:
            if check["id"] == check_id:
                return check  # type: ignore[no-any-return]
        raise AssertionError(f"no check {check_id} in {self.evidence()['checks']}")

    def text(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")


class Driller:
    """Runs a fake drill suite in pytester with an isolated configuration."""

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.reports = pytester.path / "reports"
        for name in list(os.environ):
            if name.startswith("SCRYDON_DRILL_"):
                monkeypatch.delenv(name)

    def run(self, *args: str, reports: Path | None = None) -> DrillRun:
        where = reports or self.reports
        result = self.pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                         "-rs", "-W",
                                         "ignore::pytest.PytestAssertRewriteWarning",
                                         "--drill-set",
                                         f"report.dir={where}", *args)
        return DrillRun(result=result, reports=where)


@pytest.fixture()
def driller(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Driller:
    return Driller(pytester, monkeypatch)
