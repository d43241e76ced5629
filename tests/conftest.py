"""Shared test helpers."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@contextlib.contextmanager
def private_run_root(prefix: str = "scrydon-drill-test-") -> Iterator[Path]:
    """A 0755 temporary run root, swept (kept runs too) and removed afterwards.

    It lives outside pytest's own temporary folders because those are private to root and
    PostgreSQL runs as an unprivileged user that must traverse the path. Keep ``prefix``
    short: PostgreSQL's socket path below it must stay under 108 bytes.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        from harness.scratch.reap import owned_processes, terminate
        from harness.scratch.sweep import sweep

        # The sweep spares runs whose owner lives, and this process owns them all: what a
        # failed test left running goes here, or it would outlive its folder, unfindable.
        runs = {p.name for p in root.iterdir()} if root.is_dir() else set()
        terminate(owned_processes(runs), grace=2.0)
        sweep(root, include_kept=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def run_root() -> Iterator[Path]:
    """A private run root, so tests never sweep anything but their own folders."""
    with private_run_root() as root:
        yield root


def spawn_marked(run_id: str | None, *args: str) -> subprocess.Popen[bytes]:
    """Start ``sleep`` in its own session, optionally carrying a run's owner mark."""
    env = dict(os.environ)
    env.pop("SCRYDON_DRILL_OWNER", None)
    if run_id is not None:
        env["SCRYDON_DRILL_OWNER"] = run_id
    return subprocess.Popen(["sleep", "300", *args], env=env, start_new_session=True)


def python() -> str:
    """The interpreter running the tests (the project's virtualenv)."""
    return sys.executable


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A tiny reference deployment with three daily backups, built once per test session.

    Tests must treat ``reference.backups`` as read-only evidence: fault injection works on
    copies (and a test proves the source stays byte-for-byte unchanged).
    """
    from fixtures.reference.build import build_reference
    from harness.config import resolve

    out = Path(tempfile.mkdtemp(prefix="scrydon-drill-ref-"))
    os.chmod(out, 0o755)
    runs = Path(tempfile.mkdtemp(prefix="scrydon-drill-refruns-"))
    os.chmod(runs, 0o755)
    try:
        yield build_reference(out / "ref", scale="tiny", days=3, seed=7,
                              config=resolve(environ={}, arguments={"scratch": {"root": str(runs)}}))
    finally:
        from harness.scratch.sweep import sweep

        sweep(runs, include_kept=True)
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(runs, ignore_errors=True)


MEASUREMENTS = REPO / "reports" / "tests" / "measurements.txt"


@pytest.fixture()
def measure(request: pytest.FixtureRequest):
    """Record one measured line; scripts/test.sh prints them all after the run."""
    def record(line: str) -> None:
        MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
        with MEASUREMENTS.open("a") as fh:
            fh.write(f"{request.node.nodeid}: {line}\n")
        print(line)
    return record
