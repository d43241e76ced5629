"""The contract every scratch provider implements (local processes, containers, Kubernetes,
external stores).

A provider is built as ``Provider(config, run)``: the whole drill configuration and the run
whose id marks everything it creates (and, optionally, ``stores=``: which of the three stores
to provision; none for an environment that only runs a point-in-time recovery).
``start()`` provisions the stores and waits until each
is ready (cleaning up whatever it started if any part fails), ``endpoints`` says how to reach
them, ``stop()`` removes everything it created and is safe to call twice. ``versions()`` and
``logs(store)`` are all the evidence ever reads of a provider. ``recover_postgres`` runs a
point-in-time recovery where the drill runs, owned and torn down like the other servers.
``sweep(dead_run_ids)`` removes, for the provider's own kind of resource, what killed runs
left behind, and only what carries one of their ids (:meth:`owns`). Providers of an
*external* environment never delete what they did not create.
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from harness.config import DrillConfig
from harness.errors import ScratchError
from harness.scratch.endpoints import Endpoints, PostgresEndpoint
from harness.scratch.run import Run
from harness.tools.pitr import PitrResult

#: The stores a scratch environment can hold.
SCRATCH_STORES = ("postgres", "objects", "warehouse")
#: The label every container, network, volume and namespace of a run carries.
RUN_LABEL = "io.scrydon-drill.run"


@dataclass
class SweepReport:
    """What a sweep found and did."""

    root: Path
    removed_dirs: list[Path] = field(default_factory=list)
    killed: dict[int, str] = field(default_factory=dict)  # pid -> run id
    removed: list[str] = field(default_factory=list)  # containers, namespaces, ...
    skipped_active: list[str] = field(default_factory=list)
    skipped_kept: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One human-readable paragraph."""
        parts = [f"sweep of {self.root}: removed {len(self.removed_dirs)} folder(s), "
                 f"killed {len(self.killed)} process(es)"]
        if self.removed:
            parts.append(f"removed {len(self.removed)} other resource(s)")
        if self.skipped_active:
            parts.append(f"left {len(self.skipped_active)} active run(s) alone")
        if self.skipped_kept:
            parts.append(f"left {len(self.skipped_kept)} kept run(s) alone "
                         "(scrydon-drill sweep --include-kept removes them)")
        if self.errors:
            parts.append("errors: " + "; ".join(self.errors))
        return ", ".join(parts)


@dataclass
class Timings:
    """Seconds spent per phase, keyed ``"<store>.<phase>"`` (e.g. ``postgres.ready``)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        """Record (or accumulate) one phase's duration."""
        self.seconds[key] = self.seconds.get(key, 0.0) + value


class ScratchProvider(abc.ABC):
    """Base class of scratch providers."""

    #: Registry name (``local``, ``containers``, ...).
    name: ClassVar[str] = ""

    def __init__(self, config: DrillConfig, run: Run, *,
                 stores: tuple[str, ...] = SCRATCH_STORES) -> None:
        self.config = config
        self.run = run
        self.stores = stores
        self.timings = Timings()
        self._started = False

    @abc.abstractmethod
    def start(self) -> Endpoints:
        """Provision the stores, wait until ready, return their endpoints.

        On any failure, everything already started is stopped before the error propagates.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Tear down everything this provider created. Idempotent."""

    @property
    @abc.abstractmethod
    def endpoints(self) -> Endpoints:
        """Endpoints of the running environment."""

    def describe(self) -> dict[str, str]:
        """Addresses and kinds for the run record (no secrets)."""
        return {"provider": self.name}

    def versions(self) -> dict[str, str]:
        """Versions of the servers the stores run on, for the evidence."""
        ep = self.endpoints
        out: dict[str, str] = {}
        if ep.postgres is not None:
            out["postgres"] = ep.postgres.version
        if ep.warehouse is not None:
            out["warehouse"] = f"{ep.warehouse.kind} {ep.warehouse.version}".strip()
        return out

    def logs(self, store: str) -> str:
        """The end of a store's server log ("" when there is none to show)."""
        return ""

    def recover_postgres(self, base: Path, wal: Path, target: dt.datetime
                         ) -> tuple[PostgresEndpoint, PitrResult]:
        """Recover PostgreSQL from the base backup folder ``base`` and the WAL archive
        folder ``wal`` to ``target``, promoted; the server is stopped with the provider."""
        raise ScratchError(f"the {self.name} provider cannot run a point-in-time recovery",
                           remedy="run PITR drills on the local, containers or kubernetes "
                                  "provider")

    @classmethod
    def owns(cls, labels: Mapping[str, str], run_ids: Iterable[str]) -> bool:
        """Whether a resource with ``labels`` was created by one of ``run_ids``."""
        return labels.get(RUN_LABEL, "") in set(run_ids)

    @classmethod
    def sweep(cls, dead_runs: Mapping[str, Path], report: SweepReport) -> None:
        """Remove this provider's resources of runs whose owner is gone (run id -> run
        folder) and note them in ``report``. Nothing unlabelled is ever touched.

        The default has nothing to remove: a provider creating nothing of its own (the
        external one) leaves no leftover."""
        return

    def __enter__(self) -> ScratchProvider:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
