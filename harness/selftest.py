"""``scrydon-drill selftest``: prove, on this machine, that the drills still catch what they claim.

The fault catalogue (:mod:`fixtures.faults`) names every way a backup set is known to break
and which drill check must catch it. The self-test builds a small reference deployment with
its own backups, then for the clean set and for every fault (injected into a copy, never the
original) runs the real drill suites in a separate process, exactly as ``scrydon-drill
drill`` does, and reads each check's verdict from the evidence the run wrote. It passes only
when

* the clean set passes every check (no false alarm),
* every fault fails the check(s) the catalogue names, with a message naming the cause, and
* the source backup set is byte-for-byte unchanged afterwards.

The result is a fault x check matrix and the self-test's own evidence (``kind =
"selftest"``) in ``<report.dir>/<run-id>/``, so the periodic proof is kept like any drill's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fixtures.faults import Fault, FaultContext
    from harness.config import DrillConfig
    from harness.records import RunRecord

CLEAN = "clean"
# Cell codes of the matrix (ASCII: they go to terminals, Markdown and JUnit alike).
CAUGHT, OTHER_FAIL, PASSED, UNVERIFIED, NOT_RUN, MISSED = "X", "x", ".", "?", "-", "!"
LEGEND = (f"{CAUGHT} failed, and the catalogue names this check as the one that must catch "
          f"the fault; {OTHER_FAIL} failed as a consequence; {PASSED} passed; "
          f"{UNVERIFIED} could not verify; {NOT_RUN} not run; {MISSED} a miss: a check that "
          "had to fail passed (or, on the clean set, a false alarm)")
Progress = Callable[[str], None]
# Scratch settings of this machine that the self-test's drills inherit from its configuration.
MACHINE_SETTINGS = ("os_user", "ready_timeout", "stop_timeout")
HELP = "prove on this machine that the drills catch every fault of the catalogue"


def say(text: str) -> None:
    """Print a progress line at once (also when stdout is a file or a pipe)."""
    print(text, flush=True)


# -- one drill run ---------------------------------------------------------------------------


@dataclass
class DrillOutcome:
    """What one drill run left: exit code, each check's verdict and message, where."""

    exit_code: int
    verdicts: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    report: Path | None = None
    log: Path | None = None
    seconds: float = 0.0
    run_errors: list[str] = field(default_factory=list)

    def failing(self) -> list[str]:
        """Checks that did not pass (failed or could not verify)."""
        return [c for c, v in self.verdicts.items() if v != "pass"]


def drills_home() -> Path:
    """A folder from which ``--pyargs drills`` imports the drill suites.

    An installed package imports from anywhere; a source checkout (or an editable install
    made before ``drills/`` existed) only from the checkout's root.
    """
    import importlib.util

    if importlib.util.find_spec("drills") is not None:
        return Path.cwd()
    return Path(__file__).resolve().parent.parent


class DrillRunner:
    """Runs ``scrydon-drill drill`` in a child process and reads its evidence.json.

    ``config_file`` is the drill configuration (the reference's ``drill.toml``: backup
    source and admin credentials); ``sets`` are ``section.key=value`` overrides every run
    gets (scratch settings of this machine).
    """

    def __init__(self, config_file: Path, scratch_root: Path, *, sets: Sequence[str] = (),
                 python: str = sys.executable, timeout: float = 900.0) -> None:
        self.config_file = config_file
        self.scratch_root = scratch_root
        self.sets = list(sets)
        self.python = python
        self.timeout = timeout

    def argv(self, backups: Path, report_dir: Path, sets: Sequence[str]) -> list[str]:
        """The command line of one drill run."""
        argv = [self.python, "-m", "harness.cli", "drill", "--config", str(self.config_file),
                "--root", str(self.scratch_root), "--set", f"backups.source={backups}",
                "--set", f"report.dir={report_dir}"]
        for item in [*self.sets, *sets]:
            argv += ["--set", item]
        return argv

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """End a drill that overran: SIGTERM first (the drill tears its scratch environment
        down on it), then SIGKILL to its process group, then sweep what it left."""
        from harness.scratch.sweep import sweep

        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this runner created for it
            proc.wait()
        sweep(self.scratch_root)

    def run(self, backups: Path, report_dir: Path, *, sets: Sequence[str] = (),
            env: dict[str, str] | None = None, log: Path | None = None) -> DrillOutcome:
        """Drill ``backups``; the report lands in a new folder below ``report_dir``."""
        report_dir.mkdir(parents=True, exist_ok=True)
        log = log or report_dir / "drill.log"
        full_env = {**os.environ, **(env or {})}
        t0 = time.monotonic()
        with log.open("wb") as fh:
            proc = subprocess.Popen(self.argv(backups, report_dir, sets), stdout=fh,
                                    stderr=subprocess.STDOUT, env=full_env,
                                    cwd=str(drills_home()), start_new_session=True)
            try:
                code = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._stop(proc)
                code = -1
        outcome = DrillOutcome(exit_code=code, log=log, seconds=time.monotonic() - t0)
        if code == -1:
            outcome.run_errors.append(f"the drill did not finish within {self.timeout:g} s")
        folders = sorted(p for p in report_dir.iterdir()
                         if p.is_dir() and (p / "evidence.json").is_file())
        if not folders:
            tail = log.read_text(errors="replace")[-1500:]
            outcome.run_errors.append(f"the drill wrote no evidence (exit {code}); log tail:\n"
                                      f"{tail}")
            return outcome
        outcome.report = folders[-1]
        data = json.loads((folders[-1] / "evidence.json").read_text(encoding="utf-8"))
        for check in data.get("checks", []):
            outcome.verdicts[check["id"]] = check["verdict"]
            outcome.messages[check["id"]] = check.get("message", "")
        outcome.run_errors.extend(data.get("run_errors", []))
        return outcome


# -- one case of the matrix ------------------------------------------------------------------


@dataclass
class CaseResult:
    """The clean set or one fault: what was injected, what the drill said, and the verdict."""

    name: str
    fault: Fault | None
    changed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    drill: DrillOutcome | None = None
    inject_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    fragments: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Clean: every check passed. Fault: caught by every check it must be caught by."""
        return not self.problems

    @property
    def expected(self) -> tuple[str, ...]:
        """Checks that must fail (none for the clean set)."""
        return self.fault.expected_checks if self.fault else ()

    @property
    def seconds(self) -> float:
        """Injection plus drill time."""
        return self.inject_seconds + (self.drill.seconds if self.drill else 0.0)

    def cell(self, check: str) -> str:
        """This case's code in the column of ``check`` (see :data:`LEGEND`)."""
        verdict = self.drill.verdicts.get(check) if self.drill else None
        if verdict is None:
            return NOT_RUN
        if verdict == "pass":
            return MISSED if check in self.expected else PASSED
        if verdict == "could-not-verify":
            return MISSED if (check in self.expected or self.fault is None) else UNVERIFIED
        if self.fault is None:
            return MISSED
        return CAUGHT if check in self.expected else OTHER_FAIL

    def caught_by(self) -> str:
        """The first line of the first expected check's message (for the summary)."""
        if self.drill is None:
            return ""
        for check in self.expected:
            msg = self.drill.messages.get(check, "")
            if self.drill.verdicts.get(check) == "fail" and msg:
                return f"{check}: {msg.splitlines()[0]}"
        return ""


def evaluate(case: CaseResult, ctx: FaultContext | None) -> None:
    """Fill ``case.problems``: a false alarm on the clean set, a miss or a vague message."""
    drill = case.drill
    if drill is None:
        case.problems.append("the drill did not run")
        return
    if not drill.verdicts:
        case.problems.extend(drill.run_errors or ["the drill reported no check"])
        return
    if case.fault is None:
        for check in drill.failing():
            first = drill.messages.get(check, "").splitlines()[:1]
            case.problems.append(f"false alarm: {check} is {drill.verdicts[check]} on the clean "
                                 f"set ({first[0] if first else 'no message'})")
        case.problems.extend(f"run error: {e.splitlines()[0]}" for e in drill.run_errors)
        return
    for exp in case.fault.expected:
        verdict = drill.verdicts.get(exp.check)
        case.fragments[exp.check] = exp.fragments(ctx)
        if verdict is None:
            case.problems.append(f"{exp.check} did not run")
        elif verdict != "fail":
            case.problems.append(f"missed: {exp.check} is {verdict}, it must fail")
        else:
            message = drill.messages.get(exp.check, "")
            lacking = exp.missing_from(message, ctx)
            if lacking:
                said = " ".join(message.split())[:300]
                case.problems.append(f"{exp.check} failed, but its message does not name the "
                                     f"cause (lacks {', '.join(repr(f) for f in lacking)}): "
                                     f"{said!r}")
    for check in case.fault.must_pass:
        verdict = drill.verdicts.get(check)
        if verdict != "pass":
            case.problems.append(f"{check} is {verdict or 'not run'}, it must pass (the fault "
                                 "is attributed to the wrong check)")


# -- the matrix ------------------------------------------------------------------------------


@dataclass
class Matrix:
    """Every case, the checks seen, and whether the source stayed unchanged."""

    cases: list[CaseResult]
    checks: list[str]
    source_unchanged: bool | None = None
    source_digest: str = ""
    seconds: float = 0.0
    pitr_target: str = ""

    @property
    def faults(self) -> list[CaseResult]:
        """The fault cases."""
        return [c for c in self.cases if c.fault is not None]

    @property
    def clean(self) -> CaseResult | None:
        """The clean case, when it ran."""
        return next((c for c in self.cases if c.fault is None), None)

    @property
    def ok(self) -> bool:
        """Every fault caught, no false alarm, source unchanged."""
        return all(c.ok for c in self.cases) and self.source_unchanged is not False

    def detection(self) -> tuple[int, int]:
        """(faults caught as the catalogue says, faults)."""
        return sum(c.ok for c in self.faults), len(self.faults)

    def summary(self) -> str:
        """One line: detection rate, false alarms, time."""
        caught, total = self.detection()
        clean = self.clean
        alarms = len(clean.problems) if clean else 0
        pct = 100.0 * caught / total if total else 100.0
        source = {True: "source unchanged", False: "SOURCE CHANGED",
                  None: "source not checked"}[self.source_unchanged]
        return (f"{caught}/{total} faults caught by the expected check ({pct:.0f} %), "
                f"{alarms} false alarm(s) on the clean set" + ("" if clean else " (not run)")
                + f", {source}; {self.seconds:.0f} s")

    def render_markdown(self) -> str:
        """The fault x check grid, then per fault: caught by, what changed, time."""
        cols = self.checks
        head = "| case | " + " | ".join(str(i + 1) for i in range(len(cols))) + " | ok | s |"
        rule = "|---|" + "---|" * len(cols) + "---|---:|"
        lines = [head, rule]
        for case in self.cases:
            cells = " | ".join(case.cell(c) for c in cols)
            lines.append(f"| {case.name} | {cells} | {'yes' if case.ok else 'NO'} | "
                         f"{case.seconds:.0f} |")
        lines += ["", "Columns: " + "; ".join(f"{i + 1} `{c}`" for i, c in enumerate(cols)) + ".",
                  "", f"Cells: {LEGEND}.", "", self.summary()]
        lines += ["", "| case | must be caught by | what the check said | what was broken |",
                  "|---|---|---|---|"]
        for case in self.cases:
            expected = ", ".join(f"`{c}`" for c in case.expected) or "(nothing: every check "\
                "passes)"
            said = _md(case.caught_by() or ("; ".join(case.problems) or "all checks passed"))
            changed = _md("; ".join(case.changed) or "-")
            lines.append(f"| {case.name} | {expected} | {said} | {changed} |")
        return "\n".join(lines) + "\n"

    def render_text(self) -> str:
        """The grid for a terminal (fixed-width columns, the same codes)."""
        cols = self.checks
        width = max([len(c.name) for c in self.cases] + [5])
        nums = " ".join(f"{i + 1:>2}" for i in range(len(cols)))
        out = [f"{'case':<{width}} {nums}   ok     s"]
        for case in self.cases:
            cells = " ".join(f"{case.cell(c):>2}" for c in cols)
            out.append(f"{case.name:<{width}} {cells}  {'yes' if case.ok else ' NO'} "
                       f"{case.seconds:5.0f}")
            out.extend(f"{'':<{width}}   problem: {p}" for p in case.problems)
        out.append("")
        out.extend(f"  {i + 1:>2} {c}" for i, c in enumerate(cols))
        out += ["", LEGEND, self.summary()]
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (matrix.json)."""
        return {"summary": self.summary(), "ok": self.ok, "checks": self.checks,
                "source_unchanged": self.source_unchanged, "source_digest": self.source_digest,
                "pitr_target": self.pitr_target, "seconds": round(self.seconds, 3),
                "cases": [{
                    "name": c.name, "ok": c.ok, "problems": c.problems,
                    "expected": list(c.expected),
                    "message_fragments": {k: list(v) for k, v in c.fragments.items()},
                    "changed": c.changed, "details": _jsonable(c.details),
                    "overrides": c.overrides,
                    "verdicts": c.drill.verdicts if c.drill else {},
                    "messages": c.drill.messages if c.drill else {},
                    "inject_seconds": round(c.inject_seconds, 3),
                    "drill_seconds": round(c.drill.seconds, 3) if c.drill else None,
                    "report": str(c.drill.report) if c.drill and c.drill.report else None,
                } for c in self.cases]}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:400]


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_order(seen: Sequence[str]) -> list[str]:
    """The profile's check order first, then any other check seen (sorted)."""
    from harness.profile import CHECK_IDS

    known = [c for c in CHECK_IDS if c in seen]
    return known + sorted(set(seen) - set(known))


def run_matrix(source: Path, work: Path, runner: DrillRunner, *,
               faults: Sequence[str] | None = None, clean: bool = True,
               meta: dict[str, Any] | None = None, pitr: bool = True,
               keep: bool = False, progress: Progress = say) -> Matrix:
    """Drill the clean set and each fault's copy of ``source``; nothing writes to ``source``.

    ``work`` (0755, it holds folders unprivileged servers read) receives the copies, the
    dump editors' servers and the reports. With ``pitr`` every drill also recovers PostgreSQL
    to a time the clean WAL archive reaches (``drill.pitr_target``, see
    :func:`fixtures.faults.pitr.pitr_target`), so the PITR faults meet the same configuration
    the clean set passes with.
    """
    import fixtures.faults as catalogue
    from fixtures.faults.pitr import pitr_target

    names = list(catalogue.NAMES if faults is None else faults)
    for name in names:
        catalogue.get(name)
    t0 = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    before = catalogue.tree_digest(source)
    meta = meta if meta is not None else catalogue.load_meta(source)
    target = pitr_target(source).isoformat() if pitr else ""
    base_sets = [f"drill.pitr_target={target}"] if target else []
    cases: list[CaseResult] = []
    with ExitStack() as stack:
        editor = editor18 = None
        if any(catalogue.needs_editor(n) for n in names):
            editor = stack.enter_context(catalogue.DumpEditor(work / "e16", major=16))
        if any(catalogue.needs_editor18(n) for n in names):
            editor18 = stack.enter_context(catalogue.DumpEditor(work / "e18", major=18))
        if clean:
            progress("clean set: drilling the source backups as they are")
            case = CaseResult(name=CLEAN, fault=None, overrides=list(base_sets))
            case.drill = runner.run(source, work / "reports" / CLEAN, sets=base_sets)
            evaluate(case, None)
            cases.append(case)
            progress(_line(case))
        for name in names:
            fault = catalogue.get(name)
            case = CaseResult(name=name, fault=fault)
            copy = work / "copies" / name
            inputs = catalogue.Inputs(meta=meta, editor=editor, editor18=editor18,
                                      work=work / "env", now=dt.datetime.now(dt.timezone.utc))
            try:
                ctx = fault.inject(source, copy, inputs)
            except Exception as exc:  # noqa: BLE001 - an injector failure is a selftest failure
                case.problems.append(f"the fault could not be injected: {type(exc).__name__}: "
                                     f"{exc}")
                if not keep:
                    shutil.rmtree(copy, ignore_errors=True)
                cases.append(case)
                progress(_line(case))
                continue
            try:
                case.inject_seconds = ctx.seconds
                case.changed, case.details = list(ctx.changed), dict(ctx.details)
                sets = [*base_sets, *ctx.drill_sets()]
                case.overrides = sets + [f"env {k}={v}" for k, v in ctx.env.items()]
                case.drill = runner.run(ctx.backups, work / "reports" / name, sets=sets,
                                        env=ctx.env)
                evaluate(case, ctx)
            finally:
                ctx.close()
                if not keep:
                    shutil.rmtree(copy, ignore_errors=True)
            cases.append(case)
            progress(_line(case))
    after = catalogue.tree_digest(source)
    seen = {c for case in cases if case.drill for c in case.drill.verdicts}
    matrix = Matrix(cases=cases, checks=check_order(sorted(seen)),
                    source_unchanged=before == after,
                    source_digest=catalogue.digest_of(before), seconds=time.monotonic() - t0,
                    pitr_target=target)
    if not matrix.source_unchanged:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        progress(f"THE SOURCE BACKUP SET CHANGED: {', '.join(changed[:10])}")
    return matrix


def _line(case: CaseResult) -> str:
    state = "ok " if case.ok else "NO "
    said = case.caught_by() if case.fault else (
        "every check passed" if case.ok else "")
    text = f"  [{state}] {case.name:<26} {case.seconds:5.1f} s  {said[:110]}"
    return "\n".join([text, *(f"        {p}" for p in case.problems)])


# -- evidence ---------------------------------------------------------------------------------


def selftest_record(matrix: Matrix, config: DrillConfig | None = None) -> RunRecord:
    """The self-test's run record: one check per case plus the source's integrity."""
    import getpass
    import platform
    import socket

    from harness import __version__
    from harness.records import CheckResult, Phase, RunRecord, utcnow
    from harness.scratch.run import new_run_id

    started = utcnow() - dt.timedelta(seconds=matrix.seconds)
    record = RunRecord(run_id=new_run_id(), started_at=started.isoformat(), kind="selftest")
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    record.host = {"hostname": socket.gethostname(), "os": platform.platform(),
                   "python": platform.python_version(), "user": user}
    record.versions = {"harness": __version__}
    if config is not None:
        record.config = config.redacted()
    at = started
    for case in matrix.cases:
        check_id = "selftest.clean" if case.fault is None else f"selftest.fault.{case.name}"
        if case.fault is None:
            title = "Clean backups: every drill check passes (no false alarm)"
            good = (f"every one of {len(case.drill.verdicts) if case.drill else 0} drill checks "
                    "passed on the clean reference backups")
        else:
            title = f"Fault caught: {case.fault.title}"
            good = (f"{case.fault.description} Caught as the catalogue requires — "
                    + (case.caught_by() or ", ".join(case.expected)))
        measured: dict[str, Any] = {"inject_seconds": round(case.inject_seconds, 3),
                                    "drill_seconds": round(case.drill.seconds, 3)
                                    if case.drill else None,
                                    "failing_checks": len(case.drill.failing())
                                    if case.drill else None}
        record.checks.append(CheckResult(
            id=check_id, title=title, verdict="pass" if case.ok else "fail",
            message=good if case.ok else "; ".join(case.problems), measured=measured,
            seconds=round(case.seconds, 3)))
        record.phases.append(Phase(store="selftest", name=case.name, started_at=at.isoformat(),
                                   seconds=round(case.seconds, 3), ok=case.ok,
                                   detail="; ".join(case.changed)[:500]))
        at += dt.timedelta(seconds=case.seconds)
    unchanged = matrix.source_unchanged is True
    record.checks.append(CheckResult(
        id="selftest.source-unchanged", title="The source backup set is unchanged",
        verdict="pass" if unchanged else "fail",
        message=(f"every file of the source backup set has the same SHA-256, mode and mtime "
                 f"after the whole matrix (digest {matrix.source_digest[:16]}…)" if unchanged
                 else "the source backup set changed while the matrix ran: a fault or a drill "
                 "wrote into the original"), measured={}))
    record.notes.append(matrix.summary())
    if matrix.pitr_target:
        record.notes.append(f"every drill also recovered PostgreSQL to {matrix.pitr_target} "
                            "(drill.pitr_target: halfway between the two newest commits in "
                            "the WAL archive)")
    record.finished_at = utcnow().isoformat()
    record.verdict = record.overall_verdict()
    return record


def write_selftest_evidence(matrix: Matrix, report_dir: Path,
                            config: DrillConfig | None = None,
                            secrets: dict[str, str] | None = None) -> Path:
    """Write the self-test's evidence (the usual reports, matrix.md, matrix.json) and return
    the folder ``<report_dir>/<run-id>/``."""
    from harness.evidence.controls import apply_controls, load_catalog
    from harness.evidence.leaks import scan_for_secrets
    from harness.evidence.reports import write_reports

    record = selftest_record(matrix, config)
    try:
        apply_controls(record, load_catalog(config.evidence.controls_file or None
                                            if config else None))
    except Exception as exc:  # noqa: BLE001 - a mapping problem must not hide the result
        record.notes.append(f"the controls mapping could not be applied: {exc}")
    folder = report_dir / record.run_id
    folder.mkdir(parents=True)
    (folder / "matrix.md").write_text(matrix.render_markdown(), encoding="utf-8")
    (folder / "matrix.json").write_text(json.dumps(matrix.to_dict(), indent=2,
                                                   ensure_ascii=False), encoding="utf-8")
    write_reports(record, folder)
    if secrets:
        leaks = scan_for_secrets(folder, {k: v for k, v in secrets.items() if len(v) >= 6})
        if leaks:
            record.run_errors.extend(str(f) for f in leaks)
            record.verdict = "fail"
            write_reports(record, folder)
    return folder


# -- the command -------------------------------------------------------------------------------


def run_selftest(config: DrillConfig, *, faults: Sequence[str] | None = None,
                 keep: bool = False, work: Path | None = None,
                 progress: Progress = say) -> tuple[Matrix, Path]:
    """Build a tiny reference, run the matrix, write the evidence; return both.

    Only this machine's scratch settings (unprivileged OS user, timeouts) are carried into
    the drills; everything else comes from the reference's own drill configuration.
    """
    from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD, build_reference
    from harness.config import resolve
    from harness.scratch.run import default_root

    # The drills' run folders go where this machine's drills put them (scratch.root): the
    # servers' socket paths must stay short, so nothing is nested below the self-test folder.
    runs = Path(config.scratch.root) if config.scratch.root else default_root()
    if not runs.exists():
        runs.mkdir(parents=True)
        os.chmod(runs, 0o755)
    folder = work or Path(tempfile.mkdtemp(prefix="st-", dir=runs))
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    machine = {k: getattr(config.scratch, k) for k in MACHINE_SETTINGS
               if config.sources.get(f"scratch.{k}", "default") != "default"}
    sets = [f"scratch.{k}={v}" for k, v in machine.items()]
    try:
        progress(f"building the reference deployment and its backups in {folder}")
        ref = build_reference(folder / "reference", scale="tiny", days=3, seed=7,
                              config=resolve(environ={}, arguments={
                                  "scratch": {"root": str(runs), **machine}}))
        progress(f"  built in {ref.seconds:.0f} s: {ref.backups}")
        runner = DrillRunner(ref.drill_config, runs, sets=sets)
        matrix = run_matrix(ref.backups, folder / "m", runner, faults=faults,
                            meta=ref.meta, keep=keep, progress=progress)
        report_dir = Path(config.report.dir)
        evidence = write_selftest_evidence(matrix, report_dir.resolve(), config,
                                           secrets={"reference admin password":
                                                    DEFAULT_ADMIN_PASSWORD})
        return matrix, evidence
    finally:
        if keep:
            progress(f"kept the reference, the broken copies and the drill reports in {folder}")
        elif work is None:
            shutil.rmtree(folder, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``selftest`` command's own options (``--config/--set/--root`` come from the CLI)."""
    parser.add_argument("--fault", action="append", metavar="NAME",
                        help="only this fault (repeatable; default: the whole catalogue)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the reference backups, the broken copies and the drill "
                        "reports (printed at the end)")
    parser.add_argument("--list", action="store_true",
                        help="list the fault catalogue and the checks that must catch each")


def command(args: argparse.Namespace) -> int:
    """Entry point of ``scrydon-drill selftest`` (see :func:`main`)."""
    from harness.cli import _config

    return main(_config(args), faults=args.fault, keep=args.keep,  # type: ignore[arg-type]
                list_only=args.list)


def main(config: DrillConfig, *, faults: Sequence[str] | None = None, keep: bool = False,
         list_only: bool = False) -> int:
    """The ``selftest`` command: 0 when every fault is caught and the clean set passes."""
    import fixtures.faults as catalogue

    if list_only:
        for name in catalogue.NAMES:
            f = catalogue.get(name)
            print(f"{name:<26} {', '.join(f.expected_checks):<48} {f.title}")
        return 0
    unknown = [n for n in faults or () if n not in catalogue.REGISTRY]
    if unknown:
        print(f"scrydon-drill selftest: unknown fault(s) {', '.join(unknown)}; see "
              "scrydon-drill selftest --list", file=sys.stderr)
        return 2
    matrix, folder = run_selftest(config, faults=faults, keep=keep)
    print()
    print(matrix.render_text())
    print(f"\nself-test evidence: {folder}")
    return 0 if matrix.ok else 1
