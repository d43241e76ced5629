"""What every drill check shares: its outcome, sampling, queries and access to restored stores.

A check function returns an :class:`Outcome` (ok, message, measured values) or raises
:class:`~harness.checks.verdict.CouldNotVerify`. The drill suites turn an outcome into the
pytest verdict with :func:`settle`: measured values are recorded either way, a failure is
raised as :class:`CheckFailed` carrying the operator's message.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from harness.errors import DrillError, could_not_verify

if TYPE_CHECKING:
    import psycopg

    from harness.restore.result import RestoredPlatform, RestoreResult

T = TypeVar("T")
# How many ids/names a message lists before "and N more".
SHOW = 10
RESTORED_STORES = ("postgres", "objects", "warehouse", "master-key")


@dataclass
class Outcome:
    """The result of one check: whether it passed, what was found, what was measured."""

    ok: bool
    message: str
    measured: dict[str, Any] = field(default_factory=dict)
    remedy: str | None = None

    @classmethod
    def passed(cls, message: str, **measured: Any) -> Outcome:
        """A passing outcome."""
        return cls(True, message, dict(measured))

    @classmethod
    def failed(cls, message: str, *, remedy: str | None = None, **measured: Any) -> Outcome:
        """A failing outcome; ``remedy`` says what to do."""
        return cls(False, message, dict(measured), remedy)


class CheckFailed(DrillError):
    """A drill check found the restored platform wrong (the ``fail`` verdict)."""


class Measure(Protocol):
    """The ``drill_measure`` fixture's interface as used here."""

    def __call__(self, **values: Any) -> None: ...  # noqa: D102

    def message(self, text: str) -> None: ...  # noqa: D102


def settle(outcome: Outcome, measure: Measure) -> None:
    """Record ``outcome`` on the current drill check: measured values, then pass or fail."""
    measure(**outcome.measured)
    if outcome.ok:
        measure.message(outcome.message)
        return
    raise CheckFailed(outcome.message, remedy=outcome.remedy)


# -- wording ----------------------------------------------------------------------------------


def listing(items: Sequence[Any], show: int = SHOW) -> str:
    """``a, b, c and 4 more``."""
    items = [str(i) for i in items]
    if len(items) <= show:
        return ", ".join(items)
    return f"{', '.join(items[:show])} and {len(items) - show} more"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 table`` / ``3 tables``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def hours(seconds: float) -> str:
    """A duration for people: ``42 s``, ``12.5 min``, ``3.2 h``."""
    if abs(seconds) < 120:
        return f"{seconds:.0f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# -- sampling ---------------------------------------------------------------------------------


def run_seed(configured: int) -> int:
    """The profile's seed, or a fresh one when it is 0."""
    return configured or secrets.randbelow(2**31 - 2) + 1


def choose(items: Sequence[T], size: int, seed: int) -> list[T]:
    """All of ``items`` when ``size`` is 0 or covers them, else a seeded random sample."""
    if size <= 0 or size >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), size)


def coverage(checked: int, total: int, seed: int) -> str:
    """How much a check covered, for its message."""
    if checked >= total:
        return f"all {total}"
    pct = 100.0 * checked / total if total else 0.0
    return f"a random sample of {checked} of {total} ({pct:.1f} %, seed {seed})"


# -- queries ----------------------------------------------------------------------------------


def query(conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any], *, where: str,
          columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Run one of the profile's queries and return its rows as dicts.

    A query the restored database rejects, or one without the columns the check reads, is
    could-not-verify: the profile does not match the restored schema (or the backup lacks
    what the profile says the platform has), so the check cannot be carried out.
    """
    import psycopg

    try:
        cur = conn.execute(sql, dict(params))
        rows = cur.fetchall() if cur.description else []
        names = [d.name for d in cur.description or []]
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        could_not_verify(
            f"the profile's {where} failed on the restored database: {first}",
            remedy=f"check {where} in the platform profile against the restored schema; if "
            "the table or column should exist, the backup is incomplete")
    missing = [c for c in columns if c not in names]
    if missing:
        could_not_verify(
            f"the profile's {where} returns the columns {', '.join(names) or '(none)'}; the "
            f"check reads {', '.join(columns)}",
            remedy=f"alias the columns in {where} (… AS {missing[0]})")
    return [dict(zip(names, row, strict=True)) for row in rows]


def scalar(conn: psycopg.Connection[Any], sql: str, params: Mapping[str, Any], *,
           where: str) -> Any:
    """The first column of the first row of a profile query (None without rows)."""
    import psycopg

    try:
        cur = conn.execute(sql, dict(params))
        row = cur.fetchone() if cur.description else None
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        could_not_verify(
            f"the profile's {where} failed on the restored database: {first}",
            remedy=f"check {where} in the platform profile against the restored schema")
    return None if row is None else row[0]


def quote_mysql(name: str) -> str:
    """A MySQL/StarRocks identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def warehouse_sql(template: str, database: str, table: str) -> str:
    """A profile warehouse query with ``{table}`` replaced by the quoted database.table."""
    return template.replace("{table}", f"{quote_mysql(database)}.{quote_mysql(table)}")


# -- the restored platform ----------------------------------------------------------------


def restore_failures(result: RestoreResult, stores: Sequence[str]) -> list[str]:
    """One line per store among ``stores`` that did not restore (waiting, first, for a
    restore still running in the background to finish with them)."""
    result.wait(*stores)
    out = []
    for store in stores:
        if store == "master-key":
            if result.master_key is None:
                why = result.master_key_error or "no master key was loaded"
                out.append(f"the master key was not restored ({why.splitlines()[0]})")
            continue
        error = result.errors.get(store)
        if error:
            out.append(f"the {store} restore failed ({error.strip().splitlines()[0]})")
        elif store == "objects" and result.objects is None:
            out.append("object storage was not restored")
        elif store == "warehouse" and result.warehouse is None:
            out.append("the warehouse was not restored")
        elif store == "postgres" and not result.databases:
            out.append("no PostgreSQL database was restored")
    return out


def require_restored(platform: RestoredPlatform, *stores: str) -> None:
    """Fail the current check with the restore error when a store it needs did not restore."""
    problems = restore_failures(platform.result, stores)
    if problems:
        raise CheckFailed(
            "this check needs what did not restore: " + "; ".join(problems),
            remedy="fix the restore first: the restore.<store> checks give the full error")


def require_database(platform: RestoredPlatform, database: str) -> None:
    """Fail when PostgreSQL did not restore; could-not-verify when the profile names a
    database outside the restore set."""
    require_restored(platform, "postgres")
    if database not in platform.result.databases:
        could_not_verify(
            f"the profile reads database '{database}', which is not part of the restore set "
            f"(restored: {', '.join(sorted(platform.result.databases))})",
            remedy="name a restored database in the platform profile, or add it to "
            "backups.databases")


@contextlib.contextmanager
def postgres(platform: RestoredPlatform, database: str) -> Iterator[psycopg.Connection[Any]]:
    """A read-only connection to a restored database (fails when PostgreSQL did not restore)."""
    import psycopg

    require_database(platform, database)
    pg = platform.endpoints.postgres
    assert pg is not None
    try:
        conn = psycopg.connect(pg.dsn(database), autocommit=True, connect_timeout=10,
                               options="-c default_transaction_read_only=on")
    except psycopg.Error as exc:
        could_not_verify(f"cannot connect to the restored database '{database}': {exc}",
                         remedy="check the scratch PostgreSQL server's log")
    try:
        yield conn
    finally:
        conn.close()


def s3_client(platform: RestoredPlatform) -> Any:
    """A client of the restored object store (fails when objects did not restore)."""
    require_restored(platform, "objects")
    assert platform.endpoints.s3 is not None
    return platform.endpoints.s3.client()


def warehouse_connector(platform: RestoredPlatform) -> Callable[[], Any]:
    """Opens connections to the restored warehouse (fails when it did not restore)."""
    require_restored(platform, "warehouse")
    wh = platform.endpoints.warehouse
    assert wh is not None

    def connect() -> Any:
        try:
            return wh.connect()
        except Exception as exc:  # noqa: BLE001 - any driver error means unreachable here
            could_not_verify(f"cannot connect to the restored warehouse: {exc}",
                             remedy="check the scratch warehouse server's log")

    return connect
