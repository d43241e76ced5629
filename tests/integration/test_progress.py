"""Progress of a drill: plain timed lines in a CI log, a live line on a terminal."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness import progress
from tests.integration.test_drills import REPO, private_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A step line starts its own line; pytest's result characters come from the checks, which run
# in the main thread while the restore reports from its own, unsynchronised with it: one may
# still land just before a step line (never inside it).
STEP = re.compile(r"^[.sFEx]*\[ *\d+\.\d+s\] postgres: restore auth done in \d+\.\d+ s$",
                  re.M)


def test_plain_lines_in_a_log_and_a_live_line_on_a_terminal(reference: Any) -> None:
    work = private_dir("scrydon-drill-progress-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}

    def drill(name: str, terminal: bool) -> tuple[int, str]:
        cmd = [sys.executable, "-m", "harness.cli", "drill", "--config",
               str(reference.drill_config), "--root", str(work / f"root-{name}"),
               "--set", f"report.dir={work / ('reports-' + name)}"]
        if terminal:  # util-linux script(1) gives the drill a pseudo-terminal
            cmd = ["script", "-qec", " ".join(cmd), "/dev/null"]
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=600)
        return out.returncode, (out.stdout + out.stderr).decode(errors="replace")

    try:
        with ThreadPoolExecutor(2) as pool:
            (log_code, log), (tty_code, tty) = pool.map(lambda a: drill(*a),
                                                        [("log", False), ("tty", True)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert log_code == 0 and tty_code == 0, log[-3000:] + tty[-3000:]
    assert STEP.search(log), log[:3000]
    assert re.search(r"^\[ *\d+\.\d+s\] scratch: provision \(local: postgres, objects, "
                     r"warehouse\) done in", log, re.M)
    assert "objects: upload: 12 of 12 objects (100 %)" in log
    assert "\r" not in log and "…" not in log  # no live line in a log
    assert "\r" in tty and "postgres: restore auth …" in tty  # the live line on a terminal
    assert "postgres: restore auth done in" in tty


def test_transfers_in_a_log_are_reported_every_tenth() -> None:
    lines: list[str] = []
    progress.install(lambda line, transient: lines.append(line), live=False)
    try:
        for done in range(1, 1001):
            progress.transfer("objects: upload", done, 1000, moved_bytes=done * 1024)
    finally:
        progress.install(None)
    assert len(lines) == 11  # 0 %, 10 %, ... 100 %
    assert lines[-1].endswith("objects: upload: 1000 of 1000 objects (100 %), 1.0 MiB")
