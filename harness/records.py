"""The records every layer shares: the run record, its lineage, phases and check results.

These are plain data at the bottom of the harness: the catalogue produces lineage, the
restore engine and the providers produce phases, the pytest plugin and the posture command
fill a :class:`RunRecord`, and the evidence writers only read one. The record holds no secret:
configuration is stored redacted and credentials never enter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from harness import progress

SCHEMA_VERSION = "1.0"

#: The environment variable every process a run starts carries, naming the run: how the sweep
#: recognises the leftovers of a killed run (and nothing else).
OWNER_ENV = "SCRYDON_DRILL_OWNER"

#: The five databases of a Scrydon deployment; they must restore together.
DATABASES: tuple[str, ...] = ("auth", "agentic", "analytics", "cortex", "ontology")

Verdict = Literal["pass", "fail", "could-not-verify"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "could-not-verify")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class LineageItem:
    """One backup artefact the restore used: which store, which file or object, which run."""

    store: str  # postgres | wal | basebackup | objects | warehouse | master-key
    name: str  # e.g. "auth" for a database dump, a bucket name, "master-key"
    location: str  # path or s3:// URI
    taken_at: str | None  # ISO 8601 time of the backup
    size: int | None
    sha256: str | None
    backup_run: str | None = None  # the backup run's id/timestamp the artefact belongs to


@dataclass
class Phase:
    """One timed step of the drill (provision, restore, check, teardown), per store."""

    store: str  # postgres | objects | warehouse | master-key | scratch | checks
    name: str  # e.g. "provision", "restore", "verify", "teardown"
    started_at: str  # ISO 8601
    seconds: float
    ok: bool = True
    detail: str = ""


class PhaseClock:
    """Times steps into a list of phases; safe to use from several threads at once."""

    def __init__(self, phases: list[Phase] | None = None) -> None:
        self.phases: list[Phase] = [] if phases is None else phases
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def phase(self, store: str, name: str, detail: str = "") -> Iterator[Phase]:
        """Time the block and append its phase, failed or not.

        A block that raises is recorded with ``ok=False`` (and the exception's type as detail
        when none was set), then the exception propagates unchanged.
        """
        started = utcnow()
        t0 = time.monotonic()
        step = Phase(store=store, name=name, started_at=started.isoformat(), seconds=0.0,
                     detail=detail)
        progress.started(store, name)
        try:
            yield step
        except BaseException as exc:
            step.ok = False
            step.detail = step.detail or f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            step.seconds = round(time.monotonic() - t0, 6)
            with self._lock:
                self.phases.append(step)
            progress.finished(store, name, step.seconds, step.ok)

    def total(self, store: str | None = None) -> float:
        """Sum of phase durations (of one store, or all)."""
        return sum(p.seconds for p in self.phases if store is None or p.store == store)


@dataclass
class CheckResult:
    """The verdict of one drill check."""

    id: str  # stable id, e.g. "signin.offline"
    title: str
    verdict: Verdict
    message: str  # what was checked, what was found, what to do
    measured: dict[str, Any] = field(default_factory=dict)  # e.g. {"rpo_seconds": 3600}
    controls: list[str] = field(default_factory=list)  # e.g. ["ISO27001:A.8.13", "NIST:CP-4"]
    seconds: float = 0.0
    nodeid: str = ""  # pytest node id


@dataclass
class Targets:
    """Objectives the run is measured against (seconds)."""

    rto_seconds: float | None = None
    rpo_seconds: float | None = None


@dataclass
class RunRecord:
    """The complete record of one drill run."""

    run_id: str
    started_at: str
    finished_at: str | None = None
    verdict: Verdict | None = None
    kind: str = "drill"  # drill | demo | selftest | posture
    host: dict[str, str] = field(default_factory=dict)  # hostname, os, python, user
    versions: dict[str, str] = field(default_factory=dict)  # harness, postgres, seaweedfs, ...
    environment: dict[str, str] = field(default_factory=dict)  # provider description
    config: dict[str, Any] = field(default_factory=dict)  # redacted
    backup_time: str | None = None  # the restore set's backup time
    lineage: list[LineageItem] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    targets: Targets = field(default_factory=Targets)
    rto_seconds: float | None = None  # measured: provision start -> restored and verified
    rpo_seconds: float | None = None  # measured: backup time - newest restored event
    notes: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION
    # Problems of the run itself rather than of a check (publishing failed, a secret leaked
    # into an artefact, pytest was interrupted): each makes the run fail, none makes it pass.
    run_errors: list[str] = field(default_factory=list)
    allow_unverified: bool = False  # whether could-not-verify checks were accepted
    # Stopped by Ctrl-C or SIGTERM before every check ran: whatever did pass proves too little.
    interrupted: bool = False
    # Every control cited by a check: id -> {"framework", "ref", "title", "description"}.
    control_catalog: dict[str, dict[str, str]] = field(default_factory=dict)
    config_sources: dict[str, str] = field(default_factory=dict)  # non-default values only

    @contextlib.contextmanager
    def phase(self, store: str, name: str, detail: str = "") -> Iterator[Phase]:
        """Time a step of the drill into :attr:`phases` (see :meth:`PhaseClock.phase`)."""
        with PhaseClock(self.phases).phase(store, name, detail) as step:
            yield step

    def overall_verdict(self, *, allow_unverified: bool = False) -> Verdict:
        """Fail beats could-not-verify beats pass; no checks at all, or an interrupted run, is
        could-not-verify (never a pass)."""
        verdicts = {c.verdict for c in self.checks}
        if "fail" in verdicts:
            return "fail"
        if self.interrupted or not self.checks:
            return "could-not-verify"
        if "could-not-verify" in verdicts and not allow_unverified:
            return "could-not-verify"
        return "pass"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """Rebuild a record from :meth:`to_dict` output."""
        data = {k: v for k, v in data.items() if not k.startswith("$")}  # "$schema"
        data["lineage"] = [LineageItem(**x) for x in data.get("lineage", [])]
        data["phases"] = [Phase(**x) for x in data.get("phases", [])]
        data["checks"] = [CheckResult(**x) for x in data.get("checks", [])]
        data["targets"] = Targets(**data.get("targets", {}))
        return cls(**data)
