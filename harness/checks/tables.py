"""managed_tables.open: every active catalogued table is in the warehouse, answers a query
fast enough (p95 against Scrydon's SLO) and holds at least the catalogued rows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checks.base import Outcome, listing, plural, query, warehouse_sql

if TYPE_CHECKING:
    import psycopg

    from harness.profile import ManagedTables

# MySQL/StarRocks error codes meaning "this table or database is not there".
MISSING_CODES = {1146: "no such table", 1049: "no such database", 1051: "no such table"}


@dataclass(frozen=True)
class CatalogTable:
    """One managed table as the catalogue describes it."""

    id: str
    name: str
    database: str
    table: str
    state: str
    row_count: int

    @property
    def qualified(self) -> str:
        """``database.table`` in the warehouse."""
        return f"{self.database}.{self.table}"


@dataclass
class TableProbe:
    """What querying one table in the warehouse gave."""

    table: CatalogTable
    rows: int | None = None
    seconds: list[float] = field(default_factory=list)
    missing: bool = False
    error: str | None = None


def fetch_catalogue(conn: psycopg.Connection[Any], section: ManagedTables) -> list[CatalogTable]:
    """The managed-table catalogue per ``[managed_tables] catalog_sql``."""
    rows = query(conn, section.catalog_sql, {}, where="[managed_tables] catalog_sql",
                 columns=("id", "name", "warehouse_database", "warehouse_table", "state",
                          "row_count"))
    return [CatalogTable(id=str(r["id"]), name=str(r["name"]),
                         database=str(r["warehouse_database"]), table=str(r["warehouse_table"]),
                         state=str(r["state"]), row_count=int(r["row_count"] or 0))
            for r in rows]


def probe_tables(connect: Callable[[], Any], tables: Sequence[CatalogTable],
                 section: ManagedTables) -> list[TableProbe]:
    """Run ``query_sql`` ``repeats`` times on each table, timing every run."""
    import pymysql

    probes = []
    conn = connect()
    try:
        for t in tables:
            probe = TableProbe(table=t)
            sql = warehouse_sql(section.query_sql, t.database, t.table)
            for _ in range(section.repeats):
                t0 = time.perf_counter()
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        row = cur.fetchone()
                except pymysql.MySQLError as exc:
                    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
                    probe.missing = code in MISSING_CODES
                    probe.error = str(exc.args[1] if len(exc.args) > 1 else exc)
                    break
                probe.seconds.append(time.perf_counter() - t0)
                probe.rows = int(row[0]) if row and row[0] is not None else 0
            probes.append(probe)
    finally:
        conn.close()
    return probes


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def check_managed_tables(catalogue: Sequence[CatalogTable], probes: Sequence[TableProbe],
                         section: ManagedTables) -> Outcome:
    """Whether every probed table exists, answered, has its rows, within the p95 limit."""
    timings = [s for p in probes for s in p.seconds]
    q95 = p95(timings)
    missing = [f"{p.table.name} ({p.table.qualified})" for p in probes if p.missing]
    errors = [f"{p.table.name} ({p.table.qualified}: {p.error})" for p in probes
              if p.error and not p.missing]
    short = [f"{p.table.name} ({p.table.qualified}: {p.rows} rows, catalogued "
             f"{p.table.row_count})" for p in probes
             if p.rows is not None and p.rows < p.table.row_count]
    measured: dict[str, Any] = {
        "catalogued": len(catalogue), "tables": len(probes), "missing": len(missing),
        "failed": len(errors), "short": len(short), "queries": len(timings),
        "p95_seconds": round(q95, 4), "max_seconds": round(max(timings, default=0.0), 4),
        "p95_limit_seconds": section.p95_limit_seconds,
        "rows": sum(p.rows or 0 for p in probes)}
    states = "/".join(section.states)
    if len(probes) < section.min_tables:
        return Outcome.failed(
            f"the restored catalogue has {plural(len(probes), states + ' managed table')} "
            f"(of {len(catalogue)} catalogued); at least {section.min_tables} expected",
            remedy="check [managed_tables] catalog_sql and states; if they are right, the "
            "backup lost the catalogue", **measured)
    problems = []
    if missing:
        problems.append(f"{plural(len(missing), 'table')} missing from the warehouse: "
                        f"{listing(missing)}")
    if errors:
        problems.append(f"{plural(len(errors), 'table')} failing their query: {listing(errors)}")
    if short:
        problems.append(f"{plural(len(short), 'table')} with fewer rows than catalogued: "
                        f"{listing(short)}")
    if timings and q95 > section.p95_limit_seconds:
        problems.append(f"query p95 {q95:.3f} s exceeds the {section.p95_limit_seconds:g} s limit")
    what = (f"opened {plural(len(probes), states + ' managed table')} of the catalogue in the "
            f"warehouse ({section.repeats} timed queries each)")
    if problems:
        return Outcome.failed(
            f"{what}: " + "; ".join(problems),
            remedy="restore the missing tables from their snapshot (StarRocks RESTORE ... ON "
            "(table)) and query every table after a restore: FINISHED is not proof", **measured)
    return Outcome.passed(
        f"{what}: every table exists, answers, and holds at least its catalogued rows "
        f"({measured['rows']} rows in all); query p95 {q95:.3f} s within the "
        f"{section.p95_limit_seconds:g} s limit", **measured)
