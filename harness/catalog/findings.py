"""What a posture check finds, and the report that collects the findings."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import DrillError

ERROR = "error"
WARNING = "warning"
SHOWN = 5  # how many names a message lists before "and N more"


@dataclass
class Finding:
    """The outcome of one posture check.

    ``severity`` is what a failure of this check means: ``error`` (the backups do not meet
    the baseline) or ``warning`` (they cannot be shown to meet it yet, or it matters less).
    """

    id: str
    ok: bool
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    # Why the check could not look at the backups (an unreachable source): not a verdict on
    # them, so its exit code is the error's. Not part of the serialised finding.
    cause: DrillError | None = field(default=None, repr=False, compare=False)


@dataclass
class PostureReport:
    """Every posture finding for one backup source at one point in time."""

    source: str
    checked_at: dt.datetime
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed with severity ``error``."""
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        """Failed checks of severity ``error``."""
        return [f for f in self.findings if not f.ok and f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        """Failed checks of severity ``warning``."""
        return [f for f in self.findings if not f.ok and f.severity == WARNING]

    def finding(self, check_id: str) -> Finding:
        """The finding of one check; KeyError if it was not run."""
        found = self.get(check_id)
        if found is None:
            raise KeyError(check_id)
        return found

    def get(self, check_id: str) -> Finding | None:
        """The finding of one check, or None if it was not run."""
        return next((f for f in self.findings if f.id == check_id), None)

    def render(self) -> str:
        """A plain-text summary, one line per check."""
        head = (f"backup posture of {self.source} at {self.checked_at.isoformat()}: "
                + ("OK" if self.ok else f"{len(self.errors)} error(s)")
                + (f", {len(self.warnings)} warning(s)" if self.warnings else ""))
        lines = [head]
        for f in self.findings:
            mark = "ok  " if f.ok else ("FAIL" if f.severity == ERROR else "WARN")
            lines.append(f"  [{mark}] {f.id}: {f.message}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for reports."""
        return {"source": self.source, "checked_at": self.checked_at.isoformat(),
                "ok": self.ok, "findings": [{k: v for k, v in asdict(f).items() if k != "cause"}
                             for f in self.findings]}


def listing(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
