"""consistency.organisations / users / warehouse_freshness on in-memory facts."""

from __future__ import annotations

import datetime as dt

from harness.checks.consistency import (
    WarehouseNewest,
    check_organisations,
    check_users,
    check_warehouse_freshness,
)

T = dt.datetime(2026, 11, 24, 5, tzinfo=dt.timezone.utc)


def test_organisations_used_everywhere_must_exist_in_auth() -> None:
    known = {"org_a", "org_b"}
    assert check_organisations(known, {"agentic.workflow": {"org_a"}, "cortex.x": set()}).ok
    out = check_organisations(known, {"agentic.chat": {"org_a", "org_ghost"},
                                      "cortex.usage": {"org_ghost", "org_gone"}})
    assert not out.ok and out.measured["unknown_ids"] == 2
    assert "agentic.chat: org_ghost" in out.message
    assert "cortex.usage: org_ghost, org_gone" in out.message
    assert "all five from one dump run" in (out.remedy or "")
    assert not check_organisations(set(), {}).ok


def test_an_empty_user_table_reopens_first_run_setup() -> None:
    out = check_users(0)
    assert not out.ok and "first-run setup" in out.message and out.measured == {"users": 0}
    assert check_users(None).measured == {"users": 0}
    assert check_users(7).ok


def newest(at: dt.datetime | None, read: int = 2, missing: tuple[str, ...] = (),
           failed: tuple[str, ...] = ()) -> WarehouseNewest:
    return WarehouseNewest(newest=at, read=read, missing=list(missing), failed=list(failed))


def test_warehouse_and_audit_within_the_skew() -> None:
    ok = check_warehouse_freshness(T, newest(T - dt.timedelta(hours=1)), max_skew_hours=24)
    assert ok.ok and ok.measured["skew_seconds"] == 3600 and ok.measured["tables"] == 2
    stale = check_warehouse_freshness(T, newest(T - dt.timedelta(days=3)), max_skew_hours=24)
    assert not stale.ok and "72.0 h older" in stale.message
    ahead = check_warehouse_freshness(T - dt.timedelta(days=2), newest(T), max_skew_hours=24)
    assert not ahead.ok and "newer" in ahead.message
    assert not check_warehouse_freshness(None, newest(T), max_skew_hours=1).ok
    assert not check_warehouse_freshness(T, newest(None, read=0), max_skew_hours=1).ok


def test_missing_tables_are_left_to_managed_tables_other_errors_fail() -> None:
    partial = check_warehouse_freshness(T, newest(T, read=1, missing=("wh.t2 (gone)",)),
                                        max_skew_hours=24)
    assert partial.ok and "1 table missing from the warehouse left out" in partial.message
    failed = check_warehouse_freshness(T, newest(T, failed=("wh.t1 (timeout)",)),
                                       max_skew_hours=24)
    assert not failed.ok and "wh.t1 (timeout)" in failed.message
