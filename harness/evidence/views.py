"""Derived views of a run record shared by the report writers (pure functions)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from harness.records import VERDICTS, CheckResult, RunRecord

VERDICT_LABEL = {"pass": "PASS", "fail": "FAIL", "could-not-verify": "COULD NOT VERIFY"}
_ORDER = {"fail": 0, "could-not-verify": 1, "pass": 2}


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 time as an aware datetime (naive times are taken as UTC); None stays None."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def verdict_of(record: RunRecord) -> str:
    """The record's overall verdict (computed when the record does not carry one yet)."""
    return record.verdict or record.overall_verdict(allow_unverified=record.allow_unverified)


def run_failed(record: RunRecord) -> bool:
    """Whether the run as a whole failed: the drill did not pass or the run itself had errors."""
    return verdict_of(record) != "pass" or bool(record.run_errors)


def ordered_checks(record: RunRecord) -> list[CheckResult]:
    """Checks with failures first, then could-not-verify, then passes (stable otherwise)."""
    return sorted(record.checks, key=lambda c: _ORDER.get(c.verdict, 0))


def counts(record: RunRecord) -> dict[str, int]:
    """Number of checks per verdict (every verdict present, possibly 0)."""
    out = {v: 0 for v in VERDICTS}
    for check in record.checks:
        out[check.verdict] = out.get(check.verdict, 0) + 1
    return out


def duration_seconds(record: RunRecord) -> float | None:
    """Wall-clock seconds from start to finish of the run."""
    start, end = parse_time(record.started_at), parse_time(record.finished_at)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def backup_time(record: RunRecord) -> dt.datetime | None:
    """The restore set's backup time, else the newest time among the lineage items."""
    if record.backup_time:
        return parse_time(record.backup_time)
    times = [t for t in (parse_time(i.taken_at) for i in record.lineage) if t is not None]
    return max(times) if times else None


def backup_age_seconds(record: RunRecord) -> float | None:
    """How old the restored backup was when the run started."""
    taken, start = backup_time(record), parse_time(record.started_at)
    if taken is None or start is None:
        return None
    return (start - taken).total_seconds()


@dataclass(frozen=True)
class Objective:
    """A measured recovery objective against its target."""

    name: str  # "RTO" | "RPO"
    measured: float | None
    target: float | None

    @property
    def status(self) -> str:
        """met | missed | not measured | no target."""
        if self.measured is None:
            return "not measured"
        if self.target is None:
            return "no target"
        return "met" if self.measured <= self.target else "missed"


def objectives(record: RunRecord) -> list[Objective]:
    """RTO and RPO, measured and targeted."""
    return [Objective("RTO", record.rto_seconds, record.targets.rto_seconds),
            Objective("RPO", record.rpo_seconds, record.targets.rpo_seconds)]


def fmt_seconds(value: float | None) -> str:
    """Seconds for people: ``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``, ``3 d 4 h``."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v < 10:
        return f"{sign}{v:.2f} s"
    if v < 60:
        return f"{sign}{v:.1f} s"
    if v < 3600:
        return f"{sign}{int(v // 60)} min {int(v % 60):02d} s"
    if v < 86400:
        return f"{sign}{int(v // 3600)} h {int(v % 3600 // 60):02d} min"
    return f"{sign}{int(v // 86400)} d {int(v % 86400 // 3600)} h"


def fmt_size(size: int | None) -> str:
    """Bytes for people (binary units)."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_measured(measured: dict[str, object]) -> str:
    """Measured values as ``key=value`` pairs; ``*_seconds`` values are shown as durations."""
    parts = []
    for key, value in measured.items():
        if key.endswith("_seconds") and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            parts.append(f"{key}={value:g} ({fmt_seconds(float(value))})")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def headline(record: RunRecord) -> str:
    """One line saying how the run ended, the failure first."""
    verdict = verdict_of(record)
    n = counts(record)
    total = len(record.checks)
    if record.interrupted and verdict != "fail":
        text = (f"INTERRUPTED: the run was stopped after {n['pass']} of {total} checks passed; "
                "nothing is proven")
    elif not record.checks:
        text = "COULD NOT VERIFY: no drill check ran"
    elif verdict == "fail":
        text = f"FAIL: {n['fail']} of {total} checks failed"
        if n["could-not-verify"]:
            text += f", {n['could-not-verify']} could not be verified"
    elif verdict == "could-not-verify":
        text = f"COULD NOT VERIFY: {n['could-not-verify']} of {total} checks could not be verified"
    else:
        text = f"PASS: {n['pass']} of {total} checks passed"
        if n["could-not-verify"]:
            text += f", {n['could-not-verify']} not verified (accepted by allow_unverified)"
    if record.run_errors:
        text += f" — and the run failed: {record.run_errors[0]}"
    return text
