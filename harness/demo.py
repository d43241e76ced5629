"""The demo drill: build a reference Scrydon deployment with backups, then drill it.

Everything runs on the embedded default (local processes): a source deployment is generated,
backed up the runbook's way for several days, torn down; then the drill restores the latest
backups into a fresh scratch environment, runs every check and writes its report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from harness.config import DrillConfig


def _newest_report(report_dir: Path, since: float) -> Path | None:
    if not report_dir.is_dir():
        return None
    runs = [p for p in report_dir.iterdir()
            if p.is_dir() and (p / "evidence.json").exists() and p.stat().st_mtime >= since]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def run_demo(config: DrillConfig, *, scale: str = "small", days: int = 3,
             keep_backups: bool = False, extra_pytest_args: list[str] | None = None) -> int:
    """Build the reference backups, run the drill suites on them, print where the report is.

    Returns the drill's exit code (0 only when every check passed).
    """
    import pytest

    from fixtures.reference.build import build_reference

    t0 = time.time()
    work = Path(tempfile.mkdtemp(prefix="scrydon-drill-demo-"))
    os.chmod(work, 0o755)
    try:
        print(f"[1/2] building the reference deployment (scale {scale}) and {days} daily "
              "runbook backups of it ...", flush=True)
        ref = build_reference(work / "reference", scale=scale, days=days, config=config)
        print(f"      done in {ref.seconds:.1f} s: backups in {ref.backups}", flush=True)
        print("[2/2] drilling: restore the latest backups into a scratch environment and "
              "check the platform ...", flush=True)
        argv = ["--pyargs", "drills", "-p", "no:cacheprovider", "-q", "-rA", "--drill-report",
                "--drill-config", str(ref.drill_config),
                "--drill-set", f"report.dir={Path(config.report.dir).resolve()}"]
        if config.scratch.root:
            argv += ["--drill-set", f"scratch.root={config.scratch.root}"]
        if config.scratch.keep != "never":
            argv += ["--drill-keep", config.scratch.keep]
        code = int(pytest.main(argv + list(extra_pytest_args or [])))
    finally:
        if keep_backups:
            print(f"reference backups kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report = _newest_report(Path(config.report.dir), t0)
    verdict = "PASSED" if code == 0 else "FAILED"
    print(f"\ndemo drill {verdict} (exit code {code}) in {time.time() - t0:.0f} s")
    if report:
        print(f"report: {report / 'report.html'}")
        print(f"evidence: {report / 'evidence.json'}")
    else:
        print(f"no report folder was written under {config.report.dir}")
    return code
