"""An interrupt the harness caught ends the process with the exit code it chose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A module run with ``python -m``: SIGINT lands inside code made from a string (as
# dataclass methods are), the KeyboardInterrupt is caught outside it, then it exits 130.
PROGRAM = """
import os, signal, sys
from harness.signals import forget_caught_interrupts, teardown_on_signals

with teardown_on_signals():
    try:
        exec("os.kill(os.getpid(), signal.SIGINT)\\nimport time\\ntime.sleep(5)")
    except KeyboardInterrupt:
        pass
if sys.argv[1:] == ["forget"]:
    forget_caught_interrupts()
sys.exit(130)
"""


@pytest.mark.parametrize(("forget", "status"), [(False, -2), (True, 130)])
def test_a_caught_interrupt_leaves_the_exit_code_to_the_program(
        tmp_path: Path, forget: bool, status: int) -> None:
    (tmp_path / "interrupted_in_exec.py").write_text(PROGRAM)
    out = subprocess.run([sys.executable, "-m", "interrupted_in_exec",
                          *(["forget"] if forget else [])], cwd=tmp_path,
                         env={"PYTHONPATH": f"{tmp_path}:{REPO}", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    # Without the fix CPython's quirk turns the caught interrupt into death by SIGINT.
    assert out.returncode == status, out.stderr
