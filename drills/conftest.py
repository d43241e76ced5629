"""What the drill suites share: the platform profile and which checks run.

Collection rules (decided here, so that no drill check is ever *skipped*, which would look
like an unverified success):

* Checks run in the order that lets them overlap the restore (see ``_running_order``):
  each waits for the stores it declares, the restore.<store> check first among them.
* A check the platform profile disables (``[checks] disabled``) is deselected and the run's
  evidence notes it.
* ``restore.pitr`` runs only when ``drill.pitr_target`` is set, for the same reason.
* ``signin.deployed`` runs only when there is a deployed platform to sign in to: the one the
  Kubernetes provider deploys, or ``drill.scratch_url``. Otherwise it is deselected (and
  noted) rather than reported as could-not-verify. A URL that is set but unusable *is*
  could-not-verify.
* ``k8s.*`` run only on the Kubernetes provider (the runbook's cluster steps).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.profile import (
    CHECK_IDS,
    Profile,
    load_profile,
    not_run_reason,
    resolve_profile_path,
)

_PROFILE_KEY = pytest.StashKey[Profile]()
_MARKER = "drill_check"


def _check_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker(_MARKER)
    if marker is None:
        return None
    value = marker.kwargs.get("id", marker.args[0] if marker.args else None)
    return value if isinstance(value, str) else None


def _drill_config(config: pytest.Config) -> Any:
    from harness.plugin.collector import COLLECTOR_KEY

    return config.stash[COLLECTOR_KEY].drill_config()


def _notes(config: pytest.Config) -> list[str] | None:
    from harness.plugin.collector import COLLECTOR_KEY

    collector = config.stash.get(COLLECTOR_KEY, None)
    return None if collector is None else collector.record.notes


def profile_for(config: pytest.Config) -> Profile:
    """The run's platform profile (``drill.profile``, else the built-in reference)."""
    if _PROFILE_KEY not in config.stash:
        from harness.errors import DrillError

        try:
            drill_config = _drill_config(config)
            path = resolve_profile_path(drill_config.drill.profile,
                                        drill_config.sources.get("drill.profile", "default"),
                                        config.invocation_params.dir)
            config.stash[_PROFILE_KEY] = load_profile(path)
        except DrillError as exc:
            raise pytest.UsageError(exc.render()) from exc
    return config.stash[_PROFILE_KEY]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Deselect disabled checks (and signin.deployed without a URL); restore.* first."""
    if not any(_check_id(i) in CHECK_IDS for i in items):
        return
    profile = profile_for(config)
    drill_config = _drill_config(config)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    notes: list[str] = []
    for item in items:
        check_id = _check_id(item)
        reason = not_run_reason(check_id, profile, drill_config) if check_id in CHECK_IDS \
            else None
        if reason:
            dropped.append(item)
            notes.append(reason)
        else:
            keep.append(item)
    keep.sort(key=_running_order)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
    record_notes = _notes(config)
    if record_notes is not None:
        record_notes.append(profile.describe())
        record_notes.extend(notes)


def _stores(item: pytest.Item) -> tuple[str, ...] | None:
    marker = item.get_closest_marker(_MARKER)
    stores = marker.kwargs.get("stores") if marker is not None else None
    return tuple(stores) if isinstance(stores, (list, tuple)) else None


def _running_order(item: pytest.Item) -> int:
    """Checks run while the restore is still going: the first one starts it (it waits for
    the master key only), then those that read nothing restored, then PostgreSQL's (the
    fastest store), the warehouse's, the objects' (the slowest), and last whatever declares
    no stores (it waits for all). Within a group the restore.* check comes first; the sort
    is stable, so the files' order is kept otherwise."""
    check_id = _check_id(item) or ""
    stores = _stores(item)
    if check_id == "restore.master-key":
        return 0
    if stores is None:
        group = 6
    elif "objects" in stores:
        group = 5
    elif "warehouse" in stores:
        group = 4
    elif stores:
        group = 2 if stores == ("postgres",) else 3
    else:
        group = 1
    return group * 2 + (0 if check_id.startswith("restore.") else 1)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name the platform profile in the run's header."""
    try:
        return [profile_for(config).describe()]
    except pytest.UsageError:
        return []


@pytest.fixture(scope="session")
def drill_profile(pytestconfig: pytest.Config) -> Profile:
    """The run's validated platform profile."""
    return profile_for(pytestconfig)


@pytest.fixture(scope="session")
def drill_catalog(drill_config: Any) -> Any:
    """``(source, catalogue)`` of the configured backups (read-only)."""
    from harness.drill import open_catalog

    return open_catalog(drill_config)


@dataclasses.dataclass
class PitrOutcome:
    """A point-in-time recovery: the recovered server, the proof, and the provider that owns
    it (for a pre-upgrade ``pg_upgrade --check`` on the same copy)."""

    endpoint: Any
    proof: Any
    provider: Any


@pytest.fixture(scope="session")
def drill_pitr(drill_config: Any, drill_catalog: Any, scratch_factory: Any) -> Any:
    """The point-in-time recovery (a PitrOutcome), or the error that stopped it.

    It runs on a scratch environment of the configured provider, which owns the recovered
    server and tears it down (or keeps it) with the rest of the run.
    """
    from harness.drill import restore_pitr
    from harness.errors import DrillError

    source, catalog = drill_catalog
    session = scratch_factory(stores=())
    try:
        endpoint, proof = restore_pitr(drill_config, source, catalog, session.provider,
                                       session.run.subdir("staging"))
    except DrillError as exc:
        return exc
    return PitrOutcome(endpoint, proof, session.provider)
