"""Options and fixtures of the plugin: the configuration, scratch environments, the restore."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.plugin.settings import drill_config_of

if TYPE_CHECKING:
    from harness.config import DrillConfig
    from harness.scratch.endpoints import Endpoints
    from harness.scratch.session import ScratchSession

def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--drill-*`` options."""
    group = parser.getgroup("scrydon-drill", "Scrydon disaster-recovery drills")
    group.addoption("--drill-config", default=None, metavar="PATH",
                    help="drill configuration file (TOML)")
    group.addoption("--drill-scratch", default=None, metavar="PROVIDER",
                    help="scratch provider: local (default), containers, kubernetes, external")
    group.addoption("--drill-keep", default=None, choices=["never", "failed", "always"],
                    help="keep the scratch environment after the run (default: never)")
    group.addoption("--drill-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override one configuration value (repeatable)")
    group.addoption("--drill-report", action="store_true", default=False,
                    help="write the evidence reports to <report.dir>/<run-id>/ even if no "
                    "drill check ran (they are written whenever one did)")
    group.addoption("--drill-allow-unverified", action="store_true", default=False,
                    help="report could-not-verify drill checks as skipped instead of failed")


def pytest_configure(config: pytest.Config) -> None:
    """Register the drill_check marker and the evidence collector (hooks and fixtures)."""
    from harness.plugin.collector import install

    install(config)


@pytest.fixture(scope="session")
def drill_config(pytestconfig: pytest.Config) -> DrillConfig:
    """The run's frozen drill configuration."""
    return drill_config_of(pytestconfig)


class ScratchFactory:
    """Creates scratch sessions on demand and closes all of them at the end of the run."""

    def __init__(self, config: DrillConfig, session: pytest.Session) -> None:
        self.config = config
        self.pytest_session = session
        self.sessions: list[ScratchSession] = []
        self._after_close: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._closing = False

    def __call__(self, config: DrillConfig | None = None, *,
                 stores: tuple[str, ...] = ("postgres", "objects", "warehouse")
                 ) -> ScratchSession:
        """Open a new scratch session (a ready environment with ``stores``) and remember it
        for teardown."""
        from harness.errors import ScratchError
        from harness.scratch.session import ScratchSession

        # One at a time, and never once closing began: a session opened from another
        # thread must not start servers that the teardown has already passed by.
        with self._lock:
            if self._closing:
                raise ScratchError("the run is being torn down: no new scratch environment")
            session = ScratchSession(config or self.config, stores=stores)
            self.sessions.append(session)
            session.open()
            return session

    def after_close(self, action: Callable[[], object]) -> None:
        """Run ``action`` once every session is closed (e.g. join a restore thread)."""
        self._after_close.append(action)

    def close_all(self) -> None:
        """Close every session, newest first, applying the keep policy."""
        failed = self.pytest_session.testsfailed > 0
        errors: list[BaseException] = []
        with self._lock:  # waits for a session being opened
            self._closing = True
        while self.sessions:
            try:
                self.sessions.pop().close(failed=failed)
            except Exception as exc:  # noqa: BLE001 - close the others first
                errors.append(exc)
        for action in self._after_close:
            action()
        if errors:
            raise errors[0]


@pytest.fixture(scope="session")
def scratch_factory(drill_config: DrillConfig, request: pytest.FixtureRequest
                    ) -> Iterator[ScratchFactory]:
    """Factory for ready scratch environments; everything it made is torn down at the end."""
    from harness.signals import teardown_on_signals

    factory = ScratchFactory(drill_config, request.session)
    with teardown_on_signals():
        try:
            yield factory
        finally:
            factory.close_all()


@pytest.fixture(scope="session")
def scratch_session(scratch_factory: ScratchFactory) -> ScratchSession:
    """The run's default scratch session."""
    return scratch_factory()


@pytest.fixture(scope="session")
def scratch(scratch_session: ScratchSession) -> Endpoints:
    """Endpoints of the run's default scratch environment (ready to restore into)."""
    assert scratch_session.provider is not None
    return scratch_session.provider.endpoints


@pytest.fixture(scope="session")
def drill_restored(drill_config: DrillConfig, scratch_factory: ScratchFactory,
                   request: pytest.FixtureRequest) -> Any:
    """The latest backups restored into a fresh scratch environment (a RestoredPlatform).

    With ``drill.fallback`` an older set is tried on a second scratch environment when the
    newest cannot be restored; the effective RPO loss is kept. No configured backup source
    is could-not-verify; a source without usable backups fails every check that needs it.

    Where nothing after the restore decides what the checks read (no fallback, no upgrade
    rehearsal, no deployment: :func:`harness.drill.pipelined`), the platform is handed over
    as soon as the scratch environment is up and the restore runs on in the background:
    each check waits, before it starts, for the stores it declares (``stores=`` of its
    marker; all of them when it declares none), and the helpers of ``harness.checks`` wait
    for the store they open.
    """
    from harness.drill import (
        deploy_platform,
        open_catalog,
        pipelined,
        rehearse_upgrade,
        restore_latest,
        start_restore,
    )
    from harness.errors import could_not_verify

    if not drill_config.backups.source:
        could_not_verify("no backup source is configured",
                         remedy="set backups.source in the drill config")
    source, catalog = open_catalog(drill_config)
    record = _recorder(request)

    sessions: list[Any] = []

    def new_scratch() -> tuple[Endpoints, Path]:
        session = scratch_factory()
        assert session.provider is not None and session.run is not None
        sessions.append(session)
        return session.provider.endpoints, session.run.subdir("staging")

    if pipelined(drill_config):
        started = start_restore(drill_config, source, catalog, new_scratch,
                                finish=lambda platform: record(platform))
        started.platform.run_id = sessions[-1].run.run_id
        # Stopped servers end a restore still running; it must be over before the run is.
        scratch_factory.after_close(lambda: started.thread.join(timeout=120))
        return started.platform
    platform = restore_latest(drill_config, source, catalog, new_scratch)
    rehearse_upgrade(platform)
    if sessions:
        platform.run_id = sessions[-1].run.run_id
        deploy_platform(platform, sessions[-1].provider)
    record(platform)
    return platform


def _recorder(request: pytest.FixtureRequest) -> Any:
    """A function handing a platform's lineage, phases and secrets to the evidence collector
    (fixtures resolved here, in the main thread: the restore may end in another)."""
    try:
        drill_record = request.getfixturevalue("drill_record")
        register = request.getfixturevalue("drill_secret")
    except pytest.FixtureLookupError:
        return lambda platform: None
    return lambda platform: _record_restore(drill_record, register, platform)


def _record_restore(record: Any, register: Any, platform: Any) -> None:
    """Hand lineage and phases to the evidence collector."""
    for label, value in platform.result.secrets.items():
        register(label, value)
    record.lineage.extend(platform.restore_set.lineage())
    record.phases.extend(platform.result.phases)
    record.backup_time = platform.backup_time.isoformat()
    record.notes.extend(platform.notes)
