"""consistency.*: the restored stores and databases agree with each other.

* organisations: every organisation id used in any database exists in auth's organisations
  (the five databases must restore together: they are joined across);
* users: the user table is not empty (an empty one re-opens Scrydon's first-run setup);
* warehouse_freshness: the warehouse's newest row and the newest audit event are within a
  declared skew (the StarRocks snapshot and the PostgreSQL dump are from the same time).

The blob checks (kb_blobs, notebooks) are in :mod:`harness.checks.objects`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checks.audit import as_utc
from harness.checks.base import Outcome, hours, listing, plural, query, warehouse_sql

if TYPE_CHECKING:
    import psycopg

    from harness.checks.tables import CatalogTable


def fetch_ids(conn: psycopg.Connection[Any], sql: str, *, where: str) -> set[str]:
    """The first column of every row, as strings (NULLs skipped)."""
    rows = query(conn, sql, {}, where=where)
    return {str(v) for r in rows for v in list(r.values())[:1] if v is not None}


def check_organisations(known: set[str], used: Mapping[str, set[str]]) -> Outcome:
    """Every id in ``used`` (reference name -> ids) must be one of ``known``."""
    orphans = {name: sorted(ids - known) for name, ids in used.items() if ids - known}
    orphan_ids = sorted({i for ids in orphans.values() for i in ids})
    measured = {"organisations": len(known), "references": len(used),
                "unknown_ids": len(orphan_ids), "referring_places": len(orphans)}
    if not known:
        return Outcome.failed(
            "the restored auth database has no organisation at all",
            remedy="check [consistency.organisations] sql; if it is right, the backup lost "
            "the organisations", **measured)
    if orphans:
        detail = "; ".join(f"{name}: {listing(ids, 5)}" for name, ids in sorted(orphans.items()))
        return Outcome.failed(
            f"{plural(len(orphan_ids), 'organisation id')} in use "
            f"{'is' if len(orphan_ids) == 1 else 'are'} not in auth's organisations ({detail})",
            remedy="the databases come from different points in time or a database was "
            "restored alone: restore all five from one dump run (the runbook requires it)",
            **measured)
    return Outcome.passed(
        f"every organisation id used in {plural(len(used), 'place')} across the restored "
        f"databases is one of auth's {plural(len(known), 'organisation')}", **measured)


def check_users(count: int | None) -> Outcome:
    """The user table must not be empty."""
    n = int(count or 0)
    if n == 0:
        return Outcome.failed(
            "the restored user table is empty: Scrydon re-opens its first-run setup wizard on "
            "an empty user table, so whoever reaches the restored platform first can create "
            "the initial admin account",
            remedy="do not expose this restore; restore a backup that has the users (the dump "
            "was taken from an empty or wrong database)", users=0)
    return Outcome.passed(
        f"the restored user table holds {plural(n, 'user')}, so the first-run setup stays "
        "closed", users=n)


@dataclass
class WarehouseNewest:
    """The newest row over the managed tables, and the tables that could not be read."""

    newest: dt.datetime | None = None
    read: int = 0
    missing: list[str] = field(default_factory=list)  # reported by managed_tables.open
    failed: list[str] = field(default_factory=list)


def warehouse_newest(connect: Callable[[], Any], tables: Sequence[CatalogTable],
                     newest_sql: str) -> WarehouseNewest:
    """The newest row time over ``tables`` (``newest_sql`` per table)."""
    import pymysql

    from harness.checks.tables import MISSING_CODES

    out = WarehouseNewest()
    conn = connect()
    try:
        for t in tables:
            try:
                with conn.cursor() as cur:
                    cur.execute(warehouse_sql(newest_sql, t.database, t.table))
                    row = cur.fetchone()
            except pymysql.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                target = out.missing if code in MISSING_CODES else out.failed
                target.append(f"{t.qualified} ({exc.args[-1] if exc.args else exc})")
                continue
            out.read += 1
            value = as_utc(row[0] if row else None)
            if value is not None and (out.newest is None or value > out.newest):
                out.newest = value
    finally:
        conn.close()
    return out


def check_warehouse_freshness(audit_newest: dt.datetime | None, warehouse: WarehouseNewest,
                              *, max_skew_hours: float) -> Outcome:
    """The newest warehouse row and the newest audit event must be close in time.

    Tables missing from the warehouse are left out (managed_tables.open fails for them);
    any other query failure fails this check.
    """
    newest = warehouse.newest
    measured: dict[str, Any] = {"tables": warehouse.read, "missing_tables": len(warehouse.missing),
                                "max_skew_seconds": max_skew_hours * 3600}
    if audit_newest is not None:
        measured["audit_newest"] = audit_newest.isoformat()
    if newest is not None:
        measured["warehouse_newest"] = newest.isoformat()
    if warehouse.failed:
        return Outcome.failed(
            f"the newest row could not be read from {plural(len(warehouse.failed), 'table')}: "
            f"{listing(warehouse.failed)}", remedy="query the tables by hand; see "
            "managed_tables.open", **measured)
    if audit_newest is None or newest is None:
        empty = "the audit log" if audit_newest is None else "the managed tables"
        return Outcome.failed(f"{empty} restored empty, so the stores cannot be compared",
                              remedy="see audit.yesterday and managed_tables.open", **measured)
    skew = (audit_newest - newest).total_seconds()
    measured["skew_seconds"] = round(skew, 3)
    older = "older" if skew > 0 else "newer"
    left_out = (f"; {plural(len(warehouse.missing), 'table')} missing from the warehouse left "
                "out (see managed_tables.open)" if warehouse.missing else "")
    text = (f"the warehouse's newest row ({newest.isoformat()}, over "
            f"{plural(warehouse.read, 'managed table')}) is {hours(abs(skew))} {older} than the "
            f"newest audit event ({audit_newest.isoformat()})")
    if abs(skew) > max_skew_hours * 3600:
        return Outcome.failed(
            f"{text}: beyond the declared {max_skew_hours:g} h skew, the warehouse snapshot "
            f"and the PostgreSQL dump are not from the same time{left_out}",
            remedy="restore the warehouse snapshot taken with this dump run (check the "
            "snapshot job's schedule and the restore set's warnings)", **measured)
    return Outcome.passed(f"{text}, within the declared {max_skew_hours:g} h skew{left_out}",
                          **measured)
