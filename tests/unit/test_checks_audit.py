"""audit.yesterday: window, RPO and clock sanity on in-memory facts."""

from __future__ import annotations

import dataclasses
import datetime as dt

from harness.checks.audit import AuditFacts, as_utc, check_audit
from harness.profile import load_profile

SECTION = load_profile().audit
BACKUP = dt.datetime(2026, 11, 24, 5, 42, 43, tzinfo=dt.timezone.utc)


def facts(events: int, newest: dt.datetime | None) -> AuditFacts:
    return AuditFacts(window_start=BACKUP - dt.timedelta(hours=24), window_end=BACKUP,
                      events_in_window=events, newest=newest)


def test_as_utc() -> None:
    assert as_utc(None) is None and as_utc("not a time") is None and as_utc(3) is None
    assert as_utc("2026-11-24T05:00:00Z") == dt.datetime(2026, 11, 24, 5, tzinfo=dt.timezone.utc)
    assert as_utc(dt.datetime(2026, 11, 24, 5)) == dt.datetime(2026, 11, 24, 5,
                                                               tzinfo=dt.timezone.utc)
    cet = dt.timezone(dt.timedelta(hours=1))
    assert as_utc(dt.datetime(2026, 11, 24, 6, tzinfo=cet)).hour == 5  # type: ignore[union-attr]


def test_recent_events_pass_and_measure_rpo() -> None:
    out = check_audit(facts(24, BACKUP - dt.timedelta(seconds=183)), SECTION)
    assert out.ok and out.measured["rpo_seconds"] == 183.0
    assert "24 events in the 24 h before the backup time" in out.message
    fallback = check_audit(facts(24, BACKUP - dt.timedelta(seconds=5)), SECTION,
                           fallback_loss_seconds=86400)
    assert fallback.ok and fallback.measured["fallback_loss_seconds"] == 86400
    assert "fell back to an older backup set" in fallback.message


def test_no_events_yesterday_or_stale_newest_event_fails() -> None:
    out = check_audit(facts(0, BACKUP - dt.timedelta(hours=30)), SECTION)
    assert not out.ok and out.measured["rpo_seconds"] == 30 * 3600
    assert "0 audit events in the 24 h before" in out.message
    assert "30.0 h older than the backup, beyond the 24 h RPO" in out.message
    tight = dataclasses.replace(SECTION, rpo_hours=0.01)
    assert not check_audit(facts(5, BACKUP - dt.timedelta(minutes=3)), tight).ok


def test_events_from_the_future_and_an_empty_log_fail() -> None:
    out = check_audit(facts(3, BACKUP + dt.timedelta(hours=2)), SECTION)
    assert not out.ok and "newer than the backup time" in out.message
    assert check_audit(facts(3, BACKUP + dt.timedelta(seconds=60)), SECTION).ok
    empty = check_audit(facts(0, None), SECTION)
    assert not empty.ok and "empty" in empty.message and "rpo_seconds" not in empty.measured
