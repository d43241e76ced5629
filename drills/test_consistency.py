"""consistency.*: the restored stores and databases agree with each other."""

from __future__ import annotations

import pytest

from harness.checks.audit import as_utc
from harness.checks.base import (
    Measure,
    postgres,
    require_restored,
    s3_client,
    scalar,
    settle,
    warehouse_connector,
)
from harness.checks.consistency import (
    check_organisations,
    check_users,
    check_warehouse_freshness,
    fetch_ids,
    warehouse_newest,
)
from harness.checks.objects import check_index_objects, fetch_index, list_objects
from harness.checks.tables import fetch_catalogue
from harness.profile import Profile
from harness.restore.result import RestoredPlatform


@pytest.mark.drill_check(id="consistency.organisations", stores=("postgres",),
                         title="Organisation ids used in every database exist in auth")
def test_organisations(drill_restored: RestoredPlatform, drill_profile: Profile,
                       drill_measure: Measure) -> None:
    """No database refers to an organisation that auth does not have."""
    section = drill_profile.consistency.organisations
    with postgres(drill_restored, section.database) as conn:
        known = fetch_ids(conn, section.sql, where="[consistency.organisations] sql")
    used: dict[str, set[str]] = {}
    for i, ref in enumerate(section.references):
        with postgres(drill_restored, ref.database) as conn:
            used[ref.name] = fetch_ids(
                conn, ref.sql, where=f"[consistency.organisations] references[{i}] ({ref.name})")
    settle(check_organisations(known, used), drill_measure)


@pytest.mark.drill_check(id="consistency.kb_blobs", stores=("postgres", "objects"),
                         title="Every knowledge-base document has its blob")
def test_kb_blobs(drill_restored: RestoredPlatform, drill_profile: Profile,
                  drill_measure: Measure) -> None:
    """Every row of the document index points at an object of the indexed size."""
    section = drill_profile.kb
    require_restored(drill_restored, "postgres", "objects")
    client = s3_client(drill_restored)
    with postgres(drill_restored, section.database) as conn:
        index = fetch_index(conn, section.index_sql, where="[kb] index_sql", with_sha256=False)
    objects = list_objects(client, {doc.bucket for doc in index})
    settle(check_index_objects(index, objects, what="knowledge-base document",
                               minimum=section.min_documents), drill_measure)


@pytest.mark.drill_check(id="consistency.notebooks", stores=("postgres", "objects"),
                         title="Every notebook has its object")
def test_notebooks(drill_restored: RestoredPlatform, drill_profile: Profile,
                   drill_measure: Measure) -> None:
    """Every row of the notebook index points at an object of the indexed size."""
    section = drill_profile.consistency.notebooks
    require_restored(drill_restored, "postgres", "objects")
    client = s3_client(drill_restored)
    with postgres(drill_restored, section.database) as conn:
        index = fetch_index(conn, section.index_sql, where="[consistency.notebooks] index_sql",
                            with_sha256=False)
    objects = list_objects(client, {doc.bucket for doc in index})
    settle(check_index_objects(index, objects, what="notebook", minimum=section.min_notebooks),
           drill_measure)


@pytest.mark.drill_check(id="consistency.warehouse_freshness", stores=("postgres", "warehouse"),
                         title="Warehouse and audit log are from the same time")
def test_warehouse_freshness(drill_restored: RestoredPlatform, drill_profile: Profile,
                             drill_measure: Measure) -> None:
    """The newest warehouse row and the newest audit event are within the declared skew."""
    tables_section, audit = drill_profile.managed_tables, drill_profile.audit
    require_restored(drill_restored, "postgres", "warehouse")
    connect = warehouse_connector(drill_restored)
    with postgres(drill_restored, tables_section.database) as conn:
        tables = [t for t in fetch_catalogue(conn, tables_section)
                  if t.state in tables_section.states]
    with postgres(drill_restored, audit.database) as conn:
        audit_newest = as_utc(scalar(conn, audit.newest_sql, {}, where="[audit] newest_sql"))
    section = drill_profile.consistency.warehouse_freshness
    newest = warehouse_newest(connect, tables, section.newest_sql)
    settle(check_warehouse_freshness(audit_newest, newest,
                                     max_skew_hours=section.max_skew_hours), drill_measure)


@pytest.mark.drill_check(id="consistency.users", stores=("postgres",),
                         title="User table not empty (first-run setup stays closed)")
def test_users(drill_restored: RestoredPlatform, drill_profile: Profile,
               drill_measure: Measure) -> None:
    """An empty user table would re-open Scrydon's first-run setup."""
    section = drill_profile.consistency.users
    with postgres(drill_restored, section.database) as conn:
        count = scalar(conn, section.sql, {}, where="[consistency.users] sql")
    settle(check_users(count), drill_measure)
