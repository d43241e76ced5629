"""The pytest side of evidence: the run record is filled from hooks, never from output.

Drill checks are tests marked ``@pytest.mark.drill_check(id=..., title=..., controls=[...])``.
The collector turns each one's setup/call/teardown reports into one verdict:

* passed -> ``pass``; an assertion or any other error -> ``fail``;
* :class:`~harness.checks.verdict.CouldNotVerify` (setup or call), or a pytest skip ->
  ``could-not-verify``, and the pytest report is made *failed* ("could not verify: ...") so
  neither the exit code nor JUnit counts it as a pass; with ``--drill-allow-unverified`` (or
  ``evidence.allow_unverified``) it becomes a skip instead.

Tests add data through fixtures: ``drill_measure(rpo_seconds=..., rows=...)`` for the current
check's measured values, ``drill_record`` (the :class:`RunRecord` being built: lineage,
phases, versions...) and ``drill_secret(label, value)`` for values that must never appear in
any artefact. At the end of the session the reports are written to ``<report.dir>/<run-id>/``
when ``--drill-report`` was given or any drill check ran.

Only cheap imports at module level: this module is loaded in every pytest run.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.errors import CouldNotVerify
from harness.evidence.finish import drill_exit_code
from harness.plugin.settings import drill_config_of
from harness.records import CheckResult, Phase, RunRecord, utcnow
from harness.restore.result import ALL_STORES
from harness.scratch.base import SCRATCH_STORES

if TYPE_CHECKING:
    from harness.config import DrillConfig

MARKER = "drill_check"
MARKER_HELP = ("drill_check(id, title='', controls=None): a drill check whose verdict "
               "(pass / fail / could-not-verify) enters the run's evidence")
COLLECTOR_KEY = pytest.StashKey["EvidenceCollector"]()
_STATE_KEY = pytest.StashKey["CheckState"]()
_PRIORITY = {None: 0, "pass": 1, "could-not-verify": 2, "fail": 3}
_MAX_MESSAGE = 4000


@dataclass
class CheckState:
    """What is known about one drill check while it runs."""

    id: str
    title: str
    controls: list[str] | None
    nodeid: str
    doc: str = ""
    measured: dict[str, Any] = field(default_factory=dict)
    explicit_message: str = ""
    verdict: str | None = None
    reason: str = ""
    started_at: dt.datetime | None = None
    seconds: float = 0.0
    exit_hint: int | None = None  # what its failure means for the exit code (DrillError's)
    # The restored stores the check reads (``stores=`` of its marker); None: all of them.
    stores: tuple[str, ...] | None = None

    def settle(self, verdict: str, reason: str = "") -> None:
        """Raise the verdict (fail > could-not-verify > pass); the first reason of a level wins."""
        if _PRIORITY[verdict] > _PRIORITY[self.verdict]:
            self.verdict, self.reason = verdict, reason

    def result(self) -> CheckResult:
        """The finished check for the record."""
        verdict = self.verdict or "could-not-verify"
        if self.verdict is None:
            message = "the check did not run to completion (interrupted or only set up)"
        elif verdict == "pass":
            message = self.explicit_message or (f"{self.doc} — passed" if self.doc else "passed")
        else:
            message = self.reason
            if self.explicit_message:
                message = f"{self.explicit_message} — {message}"
        return CheckResult(id=self.id, title=self.title, verdict=verdict,  # type: ignore[arg-type]
                           message=message[:_MAX_MESSAGE], measured=dict(self.measured),
                           controls=list(self.controls or []), seconds=round(self.seconds, 6),
                           nodeid=self.nodeid)


def _plain(value: Any) -> Any:
    """A measured value as JSON-ready scalar (durations in seconds, times in ISO 8601)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    try:
        return float(value)  # Decimal, numpy numbers
    except (TypeError, ValueError):
        return str(value)


class DrillMeasure:
    """The ``drill_measure`` fixture: ``drill_measure(rpo_seconds=3600, rows=12)``.

    Values are stored on the current check; ``rto_seconds`` and ``rpo_seconds`` also become
    the run's RTO and RPO (the largest value measured by any check).
    """

    def __init__(self, state: CheckState) -> None:
        self._state = state

    def __call__(self, **values: Any) -> None:
        """Record measured values (later calls add to or replace earlier ones)."""
        for key, value in values.items():
            self._state.measured[key] = _plain(value)

    def message(self, text: str) -> None:
        """Say what was checked and found, shown with the verdict (also when it fails)."""
        self._state.explicit_message = text

    @property
    def values(self) -> dict[str, Any]:
        """What was measured so far."""
        return dict(self._state.measured)


def _failure_text(call: pytest.CallInfo[Any]) -> str:
    """What went wrong, without a traceback: the error and its message."""
    from harness.errors import DrillError

    assert call.excinfo is not None
    exc = call.excinfo.value
    if isinstance(exc, DrillError):
        return exc.render()
    lines = call.excinfo.exconly().strip().splitlines()
    return "\n".join(lines[:20])


def _exit_hint(call: pytest.CallInfo[Any]) -> int:
    """What a failure means for the run's exit code: a DrillError says (a source that cannot
    be read, a scratch that did not start, a configuration error); anything else is a failed
    check."""
    from harness.errors import EXIT_FAILED, DrillError

    exc = call.excinfo.value if call.excinfo is not None else None
    return exc.exit_code if isinstance(exc, DrillError) else EXIT_FAILED


def _distributed(config: pytest.Config) -> bool:
    """Whether this pytest run is spread over pytest-xdist workers (or is one of them)."""
    return hasattr(config, "workerinput") or bool(config.getoption("numprocesses", None))


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    return reason.removeprefix("Skipped: ").strip() or "skipped"


class EvidenceCollector:
    """The plugin object that builds the run record and writes the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.record = RunRecord(run_id="", started_at=utcnow().isoformat())
        self.states: list[CheckState] = []
        self.secrets: dict[str, str | bytes] = {}
        self.folder: Path | None = None
        self.published: str | None = None
        self.exit_code: int | None = None  # the drill exit code, once the session finished
        self.non_check_failures: list[str] = []
        self._factories: list[Any] = []
        self._adopted: set[int] = set()
        self._primary_adopted = False
        self._teardown_started: dt.datetime | None = None
        self._teardown_t0 = 0.0
        self._allow_unverified: bool | None = None
        self._drill_config: DrillConfig | None = None
        self._config_error: str | None = None

    # -- configuration ------------------------------------------------------------------------

    def drill_config(self) -> DrillConfig:
        """The run's drill configuration (shared with the ``drill_config`` fixture)."""
        return drill_config_of(self.config)

    @property
    def allow_unverified(self) -> bool:
        """``--drill-allow-unverified`` or ``evidence.allow_unverified``."""
        if self._allow_unverified is None:
            allowed = bool(self.config.getoption("--drill-allow-unverified", default=False))
            if not allowed:
                try:
                    allowed = self.drill_config().evidence.allow_unverified
                except Exception:  # noqa: BLE001 - a broken config is reported at the end
                    allowed = False
            self._allow_unverified = allowed
        return self._allow_unverified

    def add_secret(self, label: str, value: str | bytes | None) -> None:
        """Register a value that must never appear in any artefact (redacted, then scanned)."""
        if value:
            self.secrets[label] = value

    # -- collection ---------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Validate every drill_check marker and attach a check state to its test."""
        problems: list[str] = []
        seen: dict[str, str] = {}
        for item in items:
            marker = item.get_closest_marker(MARKER)
            if marker is None:
                continue
            kwargs = dict(marker.kwargs)
            if marker.args:
                kwargs.setdefault("id", marker.args[0])
            check_id = kwargs.get("id")
            if not isinstance(check_id, str) or not check_id.strip():
                problems.append(f"{item.nodeid}: @pytest.mark.{MARKER} needs id=\"area.name\"")
                continue
            controls = kwargs.get("controls")
            if controls is not None and (not isinstance(controls, (list, tuple))
                                         or not all(isinstance(c, str) for c in controls)):
                problems.append(f"{item.nodeid}: controls= must be a list of control ids")
                continue
            unknown = set(kwargs) - {"id", "title", "controls", "stores"}
            if unknown:
                problems.append(f"{item.nodeid}: unknown {MARKER} argument(s) {sorted(unknown)}")
                continue
            stores = kwargs.get("stores")
            if stores is not None and (not isinstance(stores, (list, tuple))
                                       or not set(stores) <= set(ALL_STORES)):
                problems.append(f"{item.nodeid}: stores= must list some of "
                                f"{', '.join(ALL_STORES)}")
                continue
            callspec = getattr(item, "callspec", None)
            full_id = f"{check_id}[{callspec.id}]" if callspec is not None else check_id
            if full_id in seen:
                problems.append(f"check id {full_id!r} is declared by both {seen[full_id]} and "
                                f"{item.nodeid}")
                continue
            seen[full_id] = item.nodeid
            func = getattr(item, "function", None)
            doc = (func.__doc__ or "").strip().splitlines()[0] if func and func.__doc__ else ""
            state = CheckState(id=full_id, title=str(kwargs.get("title") or doc or item.name),
                               controls=list(controls) if controls is not None else None,
                               nodeid=item.nodeid, doc=doc,
                               stores=tuple(stores) if stores is not None else None)
            item.stash[_STATE_KEY] = state
            self.states.append(state)
        if problems:
            raise pytest.UsageError("invalid drill checks:\n  " + "\n  ".join(problems))
        if self.states and _distributed(self.config):
            raise pytest.UsageError(
                "drill checks cannot run under pytest-xdist: every worker would provision its "
                "own scratch environment and write its own evidence; run the drill without -n")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Leave a run that collected no drill check (and asked for no report) alone."""
        if not self.states and not self.config.getoption("--drill-report", default=False):
            self.config.pluginmanager.unregister(self)
            return
        self._report_progress()

    def _report_progress(self) -> None:
        """Show each step of the drill as it ends (a live line on a terminal), through
        pytest's terminal writer, which output capture does not swallow."""
        from harness import progress

        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        if tr is None or capman is None:
            return
        live = bool(getattr(tr, "isatty", False))

        lock = threading.Lock()  # restore threads report while a check may be running

        def sink(line: str, transient: bool) -> None:
            with lock, capman.global_and_fixture_disabled():
                # Checks' result characters may already stand on the line (they run while
                # the restore reports): a step line always starts a line of its own, and is
                # written in one call so that none slips in between.
                tw = getattr(tr, "_tw", None)
                fresh = "\n" if getattr(tw, "width_of_current_line", 0) else ""
                if transient:
                    if fresh:
                        tr.write(fresh)
                    tr.rewrite(line[:150], erase=True)
                elif live:
                    if fresh:
                        tr.write(fresh)
                    tr.rewrite(line, erase=True)
                    tr.write("\n")
                else:
                    tr.write(fresh + line + "\n", flush=True)

        progress.install(sink, live=live)

    # -- running ------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        """Once its fixtures are set up, a check waits for the restored stores it reads.

        The restore may still be running (see the ``drill_restored`` fixture): a check that
        declares ``stores=`` waits for those only, any other for every store. The wait is
        part of the setup, not of the check's own time.
        """
        yield
        state = item.stash.get(_STATE_KEY, None)
        platform = getattr(item, "funcargs", {}).get("drill_restored")
        if state is not None and platform is not None:
            platform.result.gate.wait(state.stores if state.stores is not None else ALL_STORES)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]
                                  ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Map the phase's outcome to the check's verdict; never let could-not-verify pass."""
        report = yield
        state = item.stash.get(_STATE_KEY, None)
        if state is None:
            if report.failed and item.nodeid not in self.non_check_failures:
                self.non_check_failures.append(item.nodeid)
            return report
        # A check's own time is its call: its setup may provision and restore (phases of
        # their own), the last check's teardown tears the scratch environment down.
        if call.when == "call" or state.started_at is None:
            state.started_at = dt.datetime.fromtimestamp(call.start, dt.timezone.utc)
        if call.when == "call":
            state.seconds = report.duration
        where = "" if call.when == "call" else f"{call.when} failed: "
        if call.excinfo is not None and call.excinfo.errisinstance(CouldNotVerify):
            exc = call.excinfo.value
            state.settle("could-not-verify", str(exc))
            self._unverified(item, report, f"could not verify: {exc}")
        elif hasattr(report, "wasxfail"):
            if report.skipped:
                state.settle("fail", f"marked xfail and failed ({report.wasxfail or 'no reason'})"
                             ": a drill check cannot be expected to fail")
                report.outcome = "failed"
                report.longrepr = f"drill check {state.id} failed (xfail does not excuse it)"
            else:
                state.settle("pass")
        elif report.skipped:
            reason = _skip_reason(report)
            state.settle("could-not-verify", f"skipped: {reason}")
            self._unverified(item, report, f"could not verify: skipped: {reason}")
        elif report.failed:
            state.settle("fail", where + (_failure_text(call) if call.excinfo else "failed"))
            hint = _exit_hint(call)
            state.exit_hint = hint if state.exit_hint is None else min(state.exit_hint, hint)
        elif call.when == "call":
            state.settle("pass")
        if call.when == "teardown":
            self._finish_check(state)
            self._adopt_scratch_sessions()
        return report

    def _unverified(self, item: pytest.Item, report: pytest.TestReport, text: str) -> None:
        if self.allow_unverified:
            lineno = item.location[1]
            report.outcome = "skipped"
            report.longrepr = (str(item.path), (lineno or 0) + 1, text)
        else:
            report.outcome = "failed"
            report.longrepr = text

    def _finish_check(self, state: CheckState) -> None:
        if any(c.nodeid == state.nodeid for c in self.record.checks):
            return
        result = state.result()
        self.record.checks.append(result)
        started = state.started_at or utcnow()
        self.record.phases.append(Phase(store="checks", name=state.id,
                                        started_at=started.isoformat(),
                                        seconds=round(state.seconds, 6),
                                        ok=result.verdict == "pass"))
        for key in ("rto_seconds", "rpo_seconds"):
            value = result.measured.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                current = getattr(self.record, key)
                setattr(self.record, key, value if current is None else max(current, value))

    # -- the scratch environment --------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any],
                             request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
        """Time the scratch environment's provisioning and learn its run id and versions."""
        if fixturedef.argname not in ("scratch_session", "scratch_factory"):
            return (yield)
        started = utcnow()
        t0 = time.monotonic()
        try:
            result = yield
        except BaseException as exc:
            if fixturedef.argname == "scratch_session":
                self.record.phases.append(Phase(
                    store="scratch", name="provision", started_at=started.isoformat(),
                    seconds=round(time.monotonic() - t0, 6), ok=False,
                    detail=f"{type(exc).__name__}: {exc}"[:1000]))
            raise
        if fixturedef.argname == "scratch_factory":
            self._factories.append(result)
            fixturedef.addfinalizer(self._mark_teardown_start)
        else:
            self._adopt(result)
        return result

    def _mark_teardown_start(self) -> None:
        # Runs just before the factory's own teardown (finalizers run last-in, first-out).
        self._adopt_scratch_sessions()
        self._teardown_started = utcnow()
        self._teardown_t0 = time.monotonic()

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        """Record the scratch teardown as a phase once the factory has closed everything."""
        if fixturedef.argname != "scratch_factory" or self._teardown_started is None:
            return
        sessions = [s for f in self._factories for s in getattr(f, "sessions", [])]
        detail = "kept (scratch.keep)" if any(getattr(s, "kept", False) for s in sessions) else ""
        self.record.phases.append(Phase(
            store="scratch", name="teardown", started_at=self._teardown_started.isoformat(),
            seconds=round(time.monotonic() - self._teardown_t0, 6), detail=detail))
        self._teardown_started = None

    def _adopt_scratch_sessions(self) -> None:
        for factory in self._factories:
            for session in list(getattr(factory, "sessions", [])):
                self._adopt(session)

    @staticmethod
    def _timings_text(session: Any) -> str:
        provider = getattr(session, "provider", None)
        timings = getattr(getattr(provider, "timings", None), "seconds", {}) or {}
        return ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())

    def _adopt(self, session: Any) -> None:
        """Take run id, environment, versions and credentials (as secrets) from a session."""
        if id(session) in self._adopted or getattr(session, "provider", None) is None:
            return
        self._adopted.add(id(session))
        run = getattr(session, "run", None)
        provider = session.provider
        # The run id and environment come from the first session holding every store; a
        # session for one purpose (PITR's recovery server, stores=()) only adds its own keys,
        # whenever its fixture happens to be set up.
        whole = set(getattr(provider, "stores", ())) >= set(SCRATCH_STORES)
        primary = whole and not self._primary_adopted
        if primary or len(self._adopted) == 1:
            if run is not None and self.folder is None:
                self.record.run_id = run.run_id
        self._primary_adopted = self._primary_adopted or primary
        try:
            describe = provider.describe()
        except Exception as exc:  # noqa: BLE001 - evidence must not break the drill
            describe = {"describe_error": f"{type(exc).__name__}: {exc}"}
        for key, value in describe.items():
            if primary:
                self.record.environment[key] = str(value)
            else:
                self.record.environment.setdefault(key, str(value))
        try:
            for name, version in provider.versions().items():
                self.record.versions.setdefault(name, version)
        except Exception as exc:  # noqa: BLE001 - evidence must not break the drill
            self.record.notes.append(f"the provider's versions could not be read: {exc}")
        for label, value in provider.endpoints.credentials().items():
            self.add_secret(f"scratch {label}", value)
        # Every session's provisioning is a phase (the restore's, PITR's...), and providers
        # that record their own steps (cluster, namespace, stores) add those.
        provision = getattr(session, "provision_phase", None)
        if provision is not None:
            timings = self._timings_text(session)
            if timings and timings not in provision.detail:
                provision.detail += f" ({timings})"
            self.record.phases.append(provision)
        self.record.phases.extend(getattr(provider, "phases", []))

    # -- the end ------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Write the reports, sign, index, publish; make the exit status tell the truth."""
        from harness import progress

        progress.install(None)
        if not (self.config.getoption("--drill-report", default=False) or self.record.checks):
            return
        try:
            failed = self._write_evidence(session, int(exitstatus))
        except Exception as exc:  # noqa: BLE001 - a report problem must not look like success
            self.record.run_errors.append(f"writing the evidence failed: "
                                          f"{type(exc).__name__}: {exc}")
            failed = True
            print(f"\nscrydon-drill: writing the evidence failed: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
        # An interruption before any check was collected (Ctrl-C or SIGTERM while pytest
        # starts) is still an interrupted drill, exit 130, not pytest's own 2.
        if self.states or int(exitstatus) == pytest.ExitCode.INTERRUPTED:
            hints = {s.id: s.exit_hint for s in self.states if s.exit_hint is not None}
            session.exitstatus = drill_exit_code(self.record, hints, int(exitstatus))
            self.exit_code = int(session.exitstatus)
        elif failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_evidence(self, session: pytest.Session, exitstatus: int) -> bool:
        from harness.config import DrillConfig
        from harness.evidence.finish import FinishOptions, finish_run

        self._adopt_scratch_sessions()
        try:
            cfg = self.drill_config()
        except Exception as exc:  # noqa: BLE001
            self.record.run_errors.append(
                f"the drill configuration could not be resolved: {exc}")
            cfg = DrillConfig()
        self.record.allow_unverified = self.allow_unverified
        self._pytest_problems(self.record, exitstatus)
        done = finish_run(self.record, cfg, FinishOptions(
            secrets=dict(self.secrets), base_dir=Path(self.config.invocation_params.dir),
            fixed_controls={s.id for s in self.states if s.controls is not None},
            versions={"pytest": pytest.__version__}))
        self.record, self.folder, self.published = done.record, done.folder, done.published
        return done.failed

    def _pytest_problems(self, record: RunRecord, exitstatus: int) -> None:
        names = {2: "interrupted", 3: "internal error", 4: "usage error"}
        if exitstatus == 2:
            record.interrupted = True
        if exitstatus in names:
            record.run_errors.append(f"pytest ended with exit status {exitstatus} "
                                     f"({names[exitstatus]}): checks that did not run are "
                                     "missing from this evidence")
        if self.non_check_failures:
            shown = ", ".join(self.non_check_failures[:5])
            more = len(self.non_check_failures) - 5
            record.run_errors.append(f"{len(self.non_check_failures)} test(s) that are not drill "
                                     f"checks failed: {shown}" + (f" and {more} more"
                                                                  if more > 0 else ""))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Say where the evidence is and how the run ended."""
        if self.folder is None:
            return
        from harness.errors import EXIT_NOT_STARTED
        from harness.evidence.views import headline

        tr = terminalreporter
        tr.section("scrydon-drill evidence")
        tr.write_line(headline(self.record))
        if self.exit_code == EXIT_NOT_STARTED:
            # Checks "failed" because the environment did: say so before anyone blames the
            # backups.
            causes = [s.reason.splitlines()[0] for s in self.states
                      if s.exit_hint == EXIT_NOT_STARTED and s.reason]
            tr.write_line("exit 3: the scratch environment or the backup source failed, not "
                          "the backups (they were not judged)"
                          + (f": {causes[0]}" if causes else ""), yellow=True)
        for error in self.record.run_errors:
            tr.write_line(f"run error: {error}", red=True)
        tr.write_line(f"report: {self.folder / 'report.html'}")
        if self.published:
            tr.write_line(f"published: {self.published}")


# -- fixtures (module level: pytest deprecates fixtures on plugin instances) ---------------------


def _collector(config: pytest.Config) -> EvidenceCollector:
    return config.stash[COLLECTOR_KEY]


@pytest.fixture(scope="session")
def drill_record(pytestconfig: pytest.Config) -> RunRecord:
    """The run record being built: append to ``lineage`` and ``phases``, set ``versions``,
    ``backup_time``... or time a step with ``with drill_record.phase("postgres", "restore"):``."""
    return _collector(pytestconfig).record


@pytest.fixture()
def drill_measure(request: pytest.FixtureRequest) -> DrillMeasure:
    """Record measured values of the current drill check: ``drill_measure(rows=12)``."""
    state = request.node.stash.get(_STATE_KEY, None)
    if state is None:
        pytest.fail(f"{request.node.nodeid} uses drill_measure but is not a drill check: mark "
                    f"it @pytest.mark.{MARKER}(id=..., title=...)", pytrace=False)
    return DrillMeasure(state)


@pytest.fixture(scope="session")
def drill_secret(pytestconfig: pytest.Config) -> Callable[[str, str | bytes | None], None]:
    """Register a secret (label, value) that is redacted from, and scanned for in, every report."""
    return _collector(pytestconfig).add_secret


def install(config: pytest.Config) -> EvidenceCollector:
    """Register the marker, the collector and the fixtures with pytest (from pytest_configure)."""
    config.addinivalue_line("markers", MARKER_HELP)
    collector = EvidenceCollector(config)
    config.stash[COLLECTOR_KEY] = collector
    config.pluginmanager.register(collector, "scrydon-drill-evidence")
    config.pluginmanager.register(sys.modules[__name__], "scrydon-drill-evidence-fixtures")
    return collector
