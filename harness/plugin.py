"""The pytest plugin (entry point ``scrydon_drill``): options, config and scratch fixtures.

Loaded into every pytest run of an environment where scrydon-drill is installed, so it imports
nothing heavy at module level: servers, database drivers and providers are imported by the
fixtures that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.config import DrillConfig
    from harness.scratch.endpoints import Endpoints
    from harness.scratch.session import ScratchSession

_CONFIG_KEY = pytest.StashKey["DrillConfig"]()


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


def resolve_config(config: pytest.Config, arguments: dict[str, dict[str, Any]] | None = None
                   ) -> DrillConfig:
    """Resolve the drill configuration for a pytest run (CLI options > file > env > default)."""
    from harness import config as cfgmod

    cli = cfgmod.parse_assignments(list(config.getoption("--drill-set") or []))
    if config.getoption("--drill-scratch"):
        cli.setdefault("scratch", {})["provider"] = config.getoption("--drill-scratch")
    if config.getoption("--drill-keep"):
        cli.setdefault("scratch", {})["keep"] = config.getoption("--drill-keep")
    return cfgmod.resolve(arguments=arguments, cli=cli,
                          config_file=config.getoption("--drill-config"))


@pytest.fixture(scope="session")
def drill_config(pytestconfig: pytest.Config) -> DrillConfig:
    """The run's frozen drill configuration."""
    if _CONFIG_KEY not in pytestconfig.stash:
        pytestconfig.stash[_CONFIG_KEY] = resolve_config(pytestconfig)
    return pytestconfig.stash[_CONFIG_KEY]


class ScratchFactory:
    """Creates scratch sessions on demand and closes all of them at the end of the run."""

    def __init__(self, config: DrillConfig, session: pytest.Session) -> None:
        self.config = config
        self.pytest_session = session
        self.sessions: list[ScratchSession] = []

    def __call__(self, config: DrillConfig | None = None) -> ScratchSession:
        """Open a new scratch session (a ready environment) and remember it for teardown."""
        from harness.scratch.session import ScratchSession

        session = ScratchSession(config or self.config)
        self.sessions.append(session)
        session.open()
        return session

    def close_all(self) -> None:
        """Close every session, newest first, applying the keep policy."""
        failed = self.pytest_session.testsfailed > 0
        errors: list[BaseException] = []
        while self.sessions:
            try:
                self.sessions.pop().close(failed=failed)
            except Exception as exc:  # noqa: BLE001 - close the others first
                errors.append(exc)
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
