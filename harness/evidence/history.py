"""The index of past runs (a directory or a bucket) and the RTO/RPO trend drawn from it.

Each run adds one small JSON document, ``<run-id>.json``, so concurrent runs never write the
same file and a bucket needs no read-modify-write. Run ids sort by time.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from harness.evidence.storage import EvidenceStoreError, S3Options, is_s3, join_key, split_s3
from harness.evidence.views import counts, run_failed, verdict_of
from harness.records import RunRecord

# RTO "regresses" when it exceeds the median of the recent runs by this factor...
REGRESSION_FACTOR = 1.2
# ...and by at least this many seconds, so jitter on second-long drills raises no alarm.
REGRESSION_MIN_SECONDS = 5.0
REGRESSION_BASELINE_RUNS = 5
# Entries read beyond the limit, so runs started within the same second still sort right.
_SLACK = 10


@dataclass(frozen=True)
class HistoryEntry:
    """What the trend needs to know about one past run."""

    run_id: str
    started_at: str
    verdict: str
    failed: bool
    kind: str = "drill"
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    rto_target_seconds: float | None = None
    rpo_target_seconds: float | None = None
    checks: int = 0
    checks_failed: int = 0

    @classmethod
    def from_record(cls, record: RunRecord) -> HistoryEntry:
        """The history entry of a finished run."""
        n = counts(record)
        return cls(run_id=record.run_id, started_at=record.started_at,
                   verdict=verdict_of(record), failed=run_failed(record), kind=record.kind,
                   rto_seconds=record.rto_seconds, rpo_seconds=record.rpo_seconds,
                   rto_target_seconds=record.targets.rto_seconds,
                   rpo_target_seconds=record.targets.rpo_seconds,
                   checks=len(record.checks), checks_failed=n["fail"])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        """Rebuild an entry, ignoring fields a newer version may have added."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Trend:
    """RTO/RPO of the recent runs (oldest first, the current run last) and any warning."""

    entries: list[HistoryEntry]
    warning: str | None


def trend(record: RunRecord, history: list[HistoryEntry], limit: int = 20) -> Trend:
    """The trend ending with ``record``; warns when its RTO regresses against recent runs."""
    previous = sorted((e for e in history if e.run_id != record.run_id), key=_order)
    current = HistoryEntry.from_record(record)
    entries = [*previous[-(max(limit, 1) - 1):], current] if limit > 1 else [current]
    warning = None
    baseline = [e.rto_seconds for e in previous if e.rto_seconds is not None and not e.failed]
    baseline = baseline[-REGRESSION_BASELINE_RUNS:]
    if record.rto_seconds is not None and baseline:
        median = statistics.median(baseline)
        if (record.rto_seconds > median * REGRESSION_FACTOR
                and record.rto_seconds - median >= REGRESSION_MIN_SECONDS):
            warning = (f"RTO regressed: this run took {record.rto_seconds:.1f} s to recover, "
                       f"{record.rto_seconds / median:.1f}x the median of the last "
                       f"{len(baseline)} passing runs ({median:.1f} s); look at the phase "
                       "timeline for the step that slowed down")
    return Trend(entries=entries, warning=warning)


def _order(entry: HistoryEntry) -> tuple[str, str]:
    # Run ids sort by time to the second only; the start time orders runs within a second.
    return (entry.started_at, entry.run_id)


class HistoryStore(Protocol):
    """Where history entries live."""

    location: str

    def load(self, limit: int) -> list[HistoryEntry]:
        """The newest ``limit`` entries, oldest first."""
        ...

    def add(self, entry: HistoryEntry) -> None:
        """Store one entry."""
        ...


class DirectoryHistory:
    """History entries as ``<dir>/<run-id>.json``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)

    def load(self, limit: int) -> list[HistoryEntry]:
        """The newest ``limit`` entries, oldest first; unreadable files are skipped."""
        if not self.path.is_dir():
            return []
        entries = []
        for file in sorted(self.path.glob("*.json"))[-(limit + _SLACK):]:
            try:
                entries.append(HistoryEntry.from_dict(json.loads(file.read_text("utf-8"))))
            except (ValueError, TypeError, OSError):
                continue  # a broken entry must not stop a drill's report
        return sorted(entries, key=_order)[-limit:]

    def add(self, entry: HistoryEntry) -> None:
        """Write the entry (creating the directory)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / f"{entry.run_id}.json").write_text(
                json.dumps(asdict(entry), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise EvidenceStoreError(f"cannot write the history entry: {exc}",
                                     path=str(self.path),
                                     remedy="check evidence.history_dir") from exc


class S3History:
    """History entries as objects ``<prefix>/<run-id>.json`` in a bucket."""

    def __init__(self, uri: str, options: S3Options) -> None:
        self.bucket, self.prefix = split_s3(uri)
        self.options = options
        self.location = uri

    def load(self, limit: int) -> list[HistoryEntry]:
        """The newest ``limit`` entries, oldest first."""
        client = self.options.client()
        keys: list[str] = []
        try:
            paginator = client.get_paginator("list_objects_v2")
            prefix = join_key(self.prefix) + "/" if self.prefix else ""
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(o["Key"] for o in page.get("Contents", [])
                            if o["Key"].endswith(".json"))
            entries = []
            for key in sorted(keys)[-(limit + _SLACK):]:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                try:
                    entries.append(HistoryEntry.from_dict(json.loads(body)))
                except (ValueError, TypeError):
                    continue
            return sorted(entries, key=_order)[-limit:]
        except Exception as exc:  # noqa: BLE001 - botocore raises many types
            raise EvidenceStoreError(f"cannot read the run history from {self.location}: "
                                     f"{type(exc).__name__}: {exc}",
                                     remedy="check evidence.history_dir and the S3 settings"
                                     ) from exc

    def add(self, entry: HistoryEntry) -> None:
        """Upload the entry."""
        try:
            self.options.client().put_object(
                Bucket=self.bucket, Key=join_key(self.prefix, f"{entry.run_id}.json"),
                Body=(json.dumps(asdict(entry), indent=2) + "\n").encode(),
                ContentType="application/json")
        except Exception as exc:  # noqa: BLE001
            raise EvidenceStoreError(f"cannot write the history entry to {self.location}: "
                                     f"{type(exc).__name__}: {exc}",
                                     remedy="check evidence.history_dir and the S3 settings"
                                     ) from exc


def open_history(location: str, options: S3Options | None = None) -> HistoryStore:
    """A history store for a directory path or an ``s3://`` URI."""
    if is_s3(location):
        return S3History(location, options or S3Options())
    return DirectoryHistory(location)
