"""Timing of restore phases, recorded as run-record phases."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from harness.evidence.record import Phase, utcnow


class PhaseClock:
    """Collects timed phases from several threads."""

    def __init__(self) -> None:
        self.phases: list[Phase] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def phase(self, store: str, name: str, detail: str = "") -> Iterator[Phase]:
        """Time the block; the phase is recorded (``ok=False`` if the block raised)."""
        started = utcnow()
        t0 = time.monotonic()
        record = Phase(store=store, name=name, started_at=started.isoformat(), seconds=0.0,
                       detail=detail)
        try:
            yield record
        except BaseException:
            record.ok = False
            raise
        finally:
            record.seconds = round(time.monotonic() - t0, 3)
            with self._lock:
                self.phases.append(record)

    def total(self, store: str | None = None) -> float:
        """Sum of phase durations (of one store, or all)."""
        return sum(p.seconds for p in self.phases if store is None or p.store == store)
