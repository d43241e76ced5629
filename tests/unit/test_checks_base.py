"""Shared check helpers: outcomes, settling into pytest verdicts, sampling, wording."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks.base import (
    CheckFailed,
    Outcome,
    choose,
    coverage,
    hours,
    listing,
    plural,
    quote_mysql,
    run_seed,
    settle,
    warehouse_sql,
)


class FakeMeasure:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.text = ""

    def __call__(self, **values: Any) -> None:
        self.values.update(values)

    def message(self, text: str) -> None:
        self.text = text


def test_settle_records_values_and_passes_or_raises() -> None:
    m = FakeMeasure()
    settle(Outcome.passed("all good", n=3), m)
    assert m.values == {"n": 3} and m.text == "all good"
    m = FakeMeasure()
    with pytest.raises(CheckFailed) as err:
        settle(Outcome.failed("3 rows broken", remedy="restore them", n=3), m)
    assert m.values == {"n": 3} and m.text == ""
    assert err.value.render() == "3 rows broken\n  what to do: restore them"


def test_sampling_is_all_or_seeded() -> None:
    items = list(range(100))
    assert choose(items, 0, 1) == items and choose(items, 500, 1) == items
    a, b = choose(items, 5, 42), choose(items, 5, 42)
    assert a == b and len(set(a)) == 5 and choose(items, 5, 43) != a
    assert coverage(100, 100, 7) == "all 100"
    assert coverage(5, 100, 7) == "a random sample of 5 of 100 (5.0 %, seed 7)"
    assert run_seed(9) == 9 and run_seed(0) > 0


def test_wording_helpers() -> None:
    assert listing(["a", "b"]) == "a, b"
    assert listing([str(i) for i in range(12)], 3) == "0, 1, 2 and 9 more"
    assert plural(1, "table") == "1 table" and plural(2, "entry", "entries") == "2 entries"
    assert hours(42) == "42 s" and hours(600) == "10.0 min" and hours(7200 * 3) == "6.0 h"


def test_warehouse_queries_quote_identifiers() -> None:
    assert quote_mysql("we`ird") == "`we``ird`"
    assert warehouse_sql("SELECT COUNT(*) FROM {table}", "db", "t") == \
        "SELECT COUNT(*) FROM `db`.`t`"
