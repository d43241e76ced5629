"""Chaos on the drill itself: killed or interrupted at seeded random moments of its life.

Two clean drills (with publishing) are timed first; the shorter one's evidence gives the
timeline of the phases. Then the same drill is started again and again and killed with
SIGKILL at moments drawn from a seeded generator across most of that timeline (start-up
and catalogue, provisioning, each store's restore, the checks, evidence writing and
publishing). After each kill the next run's sweep must leave nothing of the killed run:
no marked process, no run folder (sockets live inside it), no private temp folder; and the
backup source stays byte-identical. SIGTERM and SIGINT at random moments must end in a
completed teardown (without any sweep) and in evidence that says "interrupted", never
"pass".

``DRILL_CHAOS_SEED`` and ``DRILL_CHAOS_KILLS`` reproduce or widen a run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD
from harness.crypto import masterkey
from harness.scratch.procinfo import processes_owned_by
from harness.scratch.sweep import sweep
from harness.scratch.tempdirs import HOLDER_NAME
from tests.integration.test_drills import REPO, private_dir, tree_hashes
from tests.integration.test_secrets_end_to_end import pieces_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = int(os.environ.get("DRILL_CHAOS_SEED", "20261129"))
KILLS = int(os.environ.get("DRILL_CHAOS_KILLS", "32"))
INTERRUPTS = 6  # alternately SIGTERM and SIGINT


@dataclass
class Chaos:
    """One drill command line, its folders and the clean run's timeline."""

    work: Path
    config: Path
    backups: Path
    source_hashes: dict[str, str]
    seconds: float = 0.0
    timeline: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, name

    @property
    def root(self) -> Path:
        return self.work / "root"

    @property
    def tmp(self) -> Path:
        return self.work / "tmp"

    @property
    def reports(self) -> Path:
        return self.work / "reports"

    def start(self, label: str) -> tuple[subprocess.Popen[bytes], Path]:
        """Start ``scrydon-drill drill`` (own session, like a CI step); output to a file."""
        log = self.work / f"{label}.log"
        argv = [sys.executable, "-m", "harness.cli", "drill", "--config", str(self.config),
                "--root", str(self.root), "--set", f"report.dir={self.reports}",
                "--set", f"evidence.publish_to={self.work / 'published'}"]
        with log.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=REPO, env=self.env(), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return proc, log

    def env(self) -> dict[str, str]:
        """The test's environment without drill settings, with the private temp folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
        env["TMPDIR"] = str(self.tmp)
        return env

    def phase_at(self, offset: float) -> str:
        """The clean run's phase running ``offset`` seconds after the command started."""
        names = [name for start, end, name in self.timeline if start <= offset < end]
        if names:
            return names[-1]
        if not self.timeline or offset < self.timeline[0][0]:
            return "start-up, catalogue and posture"
        if offset >= max(end for _, end, _ in self.timeline):
            return "evidence writing and publishing"
        return "between phases"

    def run_ids(self) -> set[str]:
        return {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()

    def leftovers(self, run_ids: set[str]) -> list[str]:
        """Everything of those runs still there: processes, folders, temp folders, changes."""
        found = [f"process {pid} of {rid}" for pid, rid in processes_owned_by(run_ids).items()]
        if self.root.is_dir():
            found += [f"run folder {p}" for p in self.root.iterdir()]
        found += [f"temp folder {p}" for p in self.tmp.rglob("*")
                  if p.parent != self.tmp or p.name != HOLDER_NAME]
        if tree_hashes(self.backups) != self.source_hashes:
            found.append(f"the backup source {self.backups} changed")
        return found


def secret_hits(chaos: Chaos, logs: str) -> list[str]:
    """Pieces of the master key or the admin password in the killed runs' terminal output,
    their evidence or published copies."""
    backup = masterkey.load_master_key_backup(
        (chaos.backups / "master-key" / "master-key.backup.yaml").read_text())
    pieces = set().union(*(pieces_of(s) for s in (backup.key, backup.raw_value,
                                                  DEFAULT_ADMIN_PASSWORD)))
    files = [*chaos.work.glob(logs), *(p for p in chaos.reports.rglob("*") if p.is_file()),
             *(p for p in (chaos.work / "published").rglob("*") if p.is_file())]
    assert files
    return [str(f) for f in files if any(piece in f.read_bytes() for piece in pieces)]


def clear_leftovers(chaos: Chaos, leaks: list[str]) -> None:
    """Record what a leaked run folder held, then remove it and stray temp folders, so
    one leak neither repeats in the next kills nor fails the tests that follow."""
    if chaos.root.is_dir():
        for folder in chaos.root.iterdir():
            content = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
            leaks.append(f"  {folder.name} held: {content[:20]}")
            shutil.rmtree(folder, ignore_errors=True)
    for entry in chaos.tmp.iterdir():
        if entry.name != HOLDER_NAME:
            shutil.rmtree(entry, ignore_errors=True)


def newest_evidence(reports: Path, before: set[Path]) -> dict[str, Any] | None:
    found = sorted(set(reports.glob("*/evidence.json")) - before)
    return json.loads(found[-1].read_text()) if found else None


@pytest.fixture(scope="module")
def chaos(reference: Any) -> Any:
    work = private_dir("scrydon-drill-chaos-")
    (work / "tmp").mkdir(mode=0o1777)
    os.chmod(work / "tmp", 0o1777)  # servers may write temp files there as their own user
    state = Chaos(work=work, config=reference.drill_config, backups=reference.backups,
                  source_hashes=tree_hashes(reference.backups))
    try:
        # Two clean runs, the shorter one sets the timeline: the first run of a machine can
        # be seconds slower (cold caches, a slow object-store start), and kill moments drawn
        # from a slow run would land after a fast run has already finished.
        for label in ("clean-1", "clean-2"):
            before = set(state.reports.glob("*/evidence.json"))
            t0 = time.monotonic()
            started = dt.datetime.now(dt.timezone.utc)
            proc, log = state.start(label)
            assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
            seconds = time.monotonic() - t0
            evidence = newest_evidence(state.reports, before)
            assert evidence is not None and evidence["verdict"] == "pass"
            if state.seconds and seconds >= state.seconds:
                continue
            state.seconds = seconds
            state.timeline = []
            for p in evidence["phases"]:
                start = (dt.datetime.fromisoformat(p["started_at"]) - started).total_seconds()
                state.timeline.append((start, start + p["seconds"],
                                       f"{p['store']}:{p['name']}"))
        yield state
    finally:
        sweep(work / "root", include_kept=True)
        shutil.rmtree(work, ignore_errors=True)


def test_sigkill_at_random_moments_leaves_nothing_after_the_next_sweep(chaos: Chaos,
                                                                       measure) -> None:
    rng = random.Random(SEED)
    moments = sorted(rng.uniform(0.0, chaos.seconds * 0.9) for _ in range(KILLS))
    leaks: list[str] = []
    phases: dict[str, int] = {}
    finished_first = 0
    swept_processes = 0
    for i, at in enumerate(moments):
        proc, log = chaos.start(f"kill-{i}")
        t0 = time.monotonic()
        while time.monotonic() - t0 < at and proc.poll() is None:
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # the drill only: its servers are orphaned
            phase = chaos.phase_at(time.monotonic() - t0)
        else:
            finished_first += 1
            phase = "finished before the kill"
        proc.wait()
        phases[phase] = phases.get(phase, 0) + 1
        killed = chaos.run_ids()
        # The next run's sweep: the same code the drill runs before provisioning.
        out = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "--root",
                              str(chaos.root)], cwd=REPO, capture_output=True, text=True,
                             env=chaos.env(), timeout=120)
        match = re.search(r"killed (\d+) process", out.stdout + out.stderr)
        swept_processes += int(match.group(1)) if match else 0
        found = chaos.leftovers(killed)
        if out.returncode != 0 and not found:
            found = ["the sweep failed"]
        leaks += [f"kill {i} at {at:.2f} s ({phase}): {x}" for x in found]
        if found:
            leaks.append(f"  sweep output: {out.stdout}{out.stderr}")
            clear_leftovers(chaos, leaks)  # each leak is reported once, by the kill that made it
    measure(f"chaos: seed {SEED}, {KILLS} SIGKILLs across a {chaos.seconds:.1f} s drill "
            f"({KILLS - finished_first} landed, {finished_first} after it had finished); "
            f"the sweeps killed {swept_processes} orphaned server processes; "
            f"by phase: {json.dumps(phases, sort_keys=True)}; leaks after the sweep: "
            f"{len(leaks)}")
    assert leaks == [], "\n".join(leaks)
    assert secret_hits(chaos, "kill-*.log") == []
    # A run faster than the shorter clean one may finish before a late moment; the run
    # times vary by a few seconds, so seven in eight must land inside the drill.
    assert KILLS - finished_first >= (KILLS * 7) // 8


@pytest.mark.parametrize("index", range(INTERRUPTS))
def test_sigterm_or_sigint_tears_down_and_the_evidence_says_interrupted(
        chaos: Chaos, index: int, measure) -> None:
    rng = random.Random(SEED * 100 + index)
    sig = signal.SIGTERM if index % 2 == 0 else signal.SIGINT
    at = rng.uniform(0.05, 0.9) * chaos.seconds
    before = set(chaos.reports.glob("*/evidence.json"))
    proc, log = chaos.start(f"interrupt-{index}")
    t0 = time.monotonic()
    while time.monotonic() - t0 < at and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the drill ended before the signal"
    phase = chaos.phase_at(time.monotonic() - t0)
    run_ids = chaos.run_ids()
    os.kill(proc.pid, sig)
    try:
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    # No sweep here: the interrupted run must have removed everything itself.
    assert chaos.leftovers(run_ids) == [], output[-3000:]
    assert code == 130, output[-3000:]
    evidence = newest_evidence(chaos.reports, before)
    if evidence is not None:
        assert evidence["verdict"] != "pass"
        assert evidence["interrupted"] is True
        assert any("interrupted" in e for e in evidence["run_errors"])
    assert secret_hits(chaos, f"interrupt-{index}.log") == []
    measure(f"{sig.name} at {at:.2f} s ({phase}): exit {code}, teardown complete, "
            f"evidence {'absent' if evidence is None else evidence['verdict']}")


@pytest.mark.parametrize(("hook", "in_exec"), [("pytest_configure", False),
                                               ("pytest_collection", False),
                                               ("pytest_collection", True)])
def test_an_interruption_while_pytest_starts_is_exit_130(chaos: Chaos, tmp_path: Path,
                                                         hook: str, in_exec: bool) -> None:
    """Ctrl-C while pytest starts (seen at 0.6-1 s into a drill): before its session began
    (configure) or before any check was collected, it is an interrupted drill like any
    other: exit 130, never pytest's own 2, and any evidence says interrupted.

    ``in_exec``: the signal lands in code made from a string (as dataclass methods are);
    CPython then took the caught interrupt for an unhandled one and, after a clean exit with
    130, killed the ``python -m`` process with SIGINT (seen 2 times in 50 interrupts
    between 0.60 and 0.70 s)."""
    body = "os.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    (tmp_path / "interrupt_while_starting.py").write_text(
        "import os, signal, time\n"
        f"def {hook}(*args, **kwargs):\n"
        + (f"    exec({body!r})\n" if in_exec else "".join(
            f"    {line}\n" for line in body.splitlines())))
    before = set(chaos.reports.glob("*/evidence.json"))
    env = chaos.env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path),
                                                      env.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-m", "harness.cli", "drill", "--config", str(chaos.config),
            "--root", str(chaos.root), "--set", f"report.dir={chaos.reports}",
            "--", "-p", "interrupt_while_starting"]
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 130, out.stdout[-3000:] + out.stderr[-2000:]
    evidence = newest_evidence(chaos.reports, before)
    if hook == "pytest_collection":  # the session began: its evidence is written
        assert evidence is not None
    if evidence is not None:
        assert evidence["interrupted"] is True and evidence["verdict"] != "pass"
    assert chaos.run_ids() == set()
