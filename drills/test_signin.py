"""signin.*: sign in with a known admin account (runbook step 2 of "Verifying a backup").

signin.deployed runs only when ``drill.scratch_url`` is set (see drills/conftest.py): it
signs in to a Scrydon deployed on the restored stores, with the same HTTP calls as
signin.live, which serves the restored auth database with the real better-auth itself.
"""

from __future__ import annotations

import datetime as dt

import pytest

from harness.checks.base import Measure, Outcome, postgres, require_database, settle
from harness.checks.signin import (
    admin_credentials,
    check_admin_offline,
    check_deployed_signin,
    check_live_signin,
    fetch_admin,
)
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="signin.offline", stores=("postgres",),
                         title="Known admin: password verifies, admin role, not banned")
def test_offline(drill_restored: RestoredPlatform, drill_profile: Profile,
                 drill_measure: Measure) -> None:
    """The admin's restored better-auth credential accepts the configured password."""
    creds = admin_credentials(drill_restored.config)
    section = drill_profile.signin
    with postgres(drill_restored, section.database) as conn:
        rows = fetch_admin(conn, section, creds.email)
    settle(check_admin_offline(rows, creds, admin_roles=section.admin_roles,
                               now=dt.datetime.now(dt.timezone.utc)), drill_measure)


@pytest.mark.drill_check(id="signin.live", stores=("postgres",),
                         title="Known admin signs in over HTTP to better-auth on the restore")
def test_live(drill_restored: RestoredPlatform, drill_profile: Profile,
              drill_measure: Measure) -> None:
    """better-auth serving the restored auth database signs the admin in."""
    creds = admin_credentials(drill_restored.config)
    section = drill_profile.signin
    require_database(drill_restored, section.database)
    pg = drill_restored.endpoints.postgres
    assert pg is not None
    settle(check_live_signin(pg.dsn(section.database), creds, timeout=section.timeout_seconds,
                             admin_roles=section.admin_roles,
                             owner=drill_restored.run_id or None), drill_measure)


@pytest.mark.drill_check(id="signin.deployed",
                         title="Known admin signs in to the deployed scratch platform")
def test_deployed(drill_restored: RestoredPlatform, drill_profile: Profile,
                  drill_measure: Measure) -> None:
    """A Scrydon deployed on the restored stores signs the admin in: the platform the
    Kubernetes provider deployed, else drill.scratch_url."""
    creds = admin_credentials(drill_restored.config)
    dep = drill_restored.deployment
    if dep is not None and not dep.url:
        settle(Outcome.failed(
            "the platform deployed on the restored stores cannot be reached: "
            + (dep.url_error or dep.install_error or "its rollout did not finish"),
            remedy="see k8s.rollout and k8s.master-key"), drill_measure)
    if dep is None and drill_restored.deployment_note:
        settle(Outcome.failed(drill_restored.deployment_note), drill_measure)
    settle(check_deployed_signin(drill_restored.platform_url, creds, drill_profile.signin),
           drill_measure)
