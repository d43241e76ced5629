"""audit.yesterday: the restored audit log holds the day before the backup, up to its time.

The audit log is the compliance system of record and written continuously, which makes it
the best data-derived RPO probe: ``rpo_seconds`` = backup time - newest restored event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, hours, scalar

if TYPE_CHECKING:
    import psycopg

    from harness.profile import Audit


def as_utc(value: Any) -> dt.datetime | None:
    """A time from the database as aware UTC (naive times and ISO text are taken as UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    return None


@dataclass(frozen=True)
class AuditFacts:
    """What the restored audit log says about the backup's time."""

    window_start: dt.datetime
    window_end: dt.datetime
    events_in_window: int
    newest: dt.datetime | None


def fetch_audit(conn: psycopg.Connection[Any], section: Audit, backup_time: dt.datetime
                ) -> AuditFacts:
    """Count the window's events and find the newest event, per the ``[audit]`` queries."""
    end = backup_time.astimezone(dt.timezone.utc)
    start = end - dt.timedelta(hours=section.window_hours)
    count = scalar(conn, section.window_sql, {"start": start, "end": end},
                   where="[audit] window_sql")
    newest = scalar(conn, section.newest_sql, {}, where="[audit] newest_sql")
    return AuditFacts(window_start=start, window_end=end, events_in_window=int(count or 0),
                      newest=as_utc(newest))


def check_audit(facts: AuditFacts, section: Audit, *, fallback_loss_seconds: float = 0.0
                ) -> Outcome:
    """Events in the window before the backup, and the newest within the RPO of the backup."""
    backup = facts.window_end
    window = f"the {section.window_hours:g} h before the backup time {backup.isoformat()}"
    measured: dict[str, Any] = {"events_in_window": facts.events_in_window,
                                "backup_time": backup.isoformat(),
                                "rpo_limit_seconds": section.rpo_hours * 3600}
    if fallback_loss_seconds:
        measured["fallback_loss_seconds"] = fallback_loss_seconds
    if facts.newest is None:
        return Outcome.failed(
            "the restored audit log is empty: it cannot show yesterday's events",
            remedy="the audit log is the compliance system of record: find out why the backup "
            "holds none (check [audit] newest_sql if the log lives elsewhere)", **measured)
    rpo = (backup - facts.newest).total_seconds()
    measured.update(rpo_seconds=round(rpo, 3), newest_event=facts.newest.isoformat())
    problems = []
    if facts.events_in_window < section.min_events:
        problems.append(f"{facts.events_in_window} audit events in {window} (at least "
                        f"{section.min_events} expected)")
    if rpo > section.rpo_hours * 3600:
        problems.append(f"the newest event ({facts.newest.isoformat()}) is {hours(rpo)} older "
                        f"than the backup, beyond the {section.rpo_hours:g} h RPO")
    if -rpo > section.future_tolerance_seconds:
        problems.append(f"the newest event ({facts.newest.isoformat()}) is {hours(-rpo)} newer "
                        "than the backup time: a clock or the backup's timestamp is wrong")
    fallback = (f"; the drill fell back to an older backup set, losing another "
                f"{hours(fallback_loss_seconds)}" if fallback_loss_seconds else "")
    if problems:
        return Outcome.failed(
            "the restored audit log does not reach the backup time: " + "; ".join(problems)
            + fallback,
            remedy="the dump is older than its name says, or the platform stopped writing "
            "audit events before the backup: check the backup job's schedule and the "
            "platform's audit pipeline", **measured)
    return Outcome.passed(
        f"the restored audit log holds {facts.events_in_window} events in {window}; the newest "
        f"({facts.newest.isoformat()}) is {hours(rpo)} before the backup (RPO limit "
        f"{section.rpo_hours:g} h){fallback}", **measured)
