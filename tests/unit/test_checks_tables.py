"""managed_tables.open on in-memory catalogue rows and probes."""

from __future__ import annotations

import dataclasses

from harness.checks.tables import CatalogTable, TableProbe, check_managed_tables, p95
from harness.profile import load_profile

SECTION = load_profile().managed_tables
T1 = CatalogTable("mt_1", "sales", "wh", "t1", "Active", 40)
T2 = CatalogTable("mt_2", "orders", "wh", "t2", "Active", 10)


def test_p95_nearest_rank() -> None:
    assert p95([]) == 0.0 and p95([3.0]) == 3.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0
    assert p95([0.1] * 19 + [9.0]) == 0.1 and p95([0.1] * 18 + [9.0, 9.0]) == 9.0


def test_all_tables_present_with_rows_and_fast_pass() -> None:
    probes = [TableProbe(T1, rows=40, seconds=[0.01, 0.02, 0.01]),
              TableProbe(T2, rows=12, seconds=[0.01, 0.01, 0.03])]
    out = check_managed_tables([T1, T2], probes, SECTION)
    assert out.ok and "query p95 0.030 s within the 2 s limit" in out.message
    assert out.measured["rows"] == 52 and out.measured["queries"] == 6


def test_missing_short_failing_and_slow_tables_fail() -> None:
    probes = [TableProbe(T1, missing=True, error="Table 'wh.t1' doesn't exist"),
              TableProbe(T2, rows=3, seconds=[2.5, 2.6, 2.7])]
    out = check_managed_tables([T1, T2], probes, SECTION)
    assert not out.ok
    assert "1 table missing from the warehouse: sales (wh.t1)" in out.message
    assert "orders (wh.t2: 3 rows, catalogued 10)" in out.message
    assert "query p95 2.700 s exceeds the 2 s limit" in out.message
    err = check_managed_tables([T1], [TableProbe(T1, error="timeout")], SECTION)
    assert not err.ok and "failing their query: sales (wh.t1: timeout)" in err.message


def test_no_active_table_fails_below_the_minimum() -> None:
    out = check_managed_tables([dataclasses.replace(T1, state="Archived")], [], SECTION)
    assert not out.ok and "0 Active managed tables (of 1 catalogued)" in out.message
