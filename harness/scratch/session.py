"""One run's scratch environment, from sweep to teardown, with the keep policy applied."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import TracebackType

from harness import progress
from harness.config import DrillConfig
from harness.records import Phase, utcnow
from harness.scratch.base import SCRATCH_STORES, ScratchProvider
from harness.scratch.endpoints import Endpoints
from harness.scratch.reap import owned_processes, terminate
from harness.scratch.registry import get_provider
from harness.scratch.run import Run, new_run_id, remove_killed_run_directory, run_directory
from harness.scratch.sweep import SweepReport, sweep


class ScratchSession:
    """Create the run, sweep leftovers, start the provider; on close, keep or remove it all.

    ``close(failed=...)`` applies ``scratch.keep``: ``never`` always tears down, ``failed``
    keeps the environment running when the drill failed, ``always`` keeps it. A kept run is
    marked so the automatic sweep leaves it alone; ``scrydon-drill sweep --include-kept``
    removes it.
    """

    def __init__(self, config: DrillConfig, *, run: Run | None = None,
                 stores: tuple[str, ...] = SCRATCH_STORES) -> None:
        self.config = config
        self.run = run
        self.stores = stores
        self.provider: ScratchProvider | None = None
        self.sweep_report: SweepReport | None = None
        self.kept = False
        self._run_dir: Path | None = None  # the folder of a run this session creates
        self.provision_phase: Phase | None = None  # set once the environment is ready

    def open(self) -> Endpoints:
        """Sweep (when configured), create the run directory, provision and wait for ready."""
        cfg = self.config.scratch
        if cfg.sweep_on_start:
            self.sweep_report = sweep(cfg.root or None)
        if self.run is None:
            # The folder is known before it exists: a signal landing inside the creation
            # (or before its result is kept) still finds it removed on close.
            self._run_dir = run_directory(cfg.root or None, new_run_id())
            self.run = Run.create(self._run_dir.parent, self._run_dir.name)
        self.provider = get_provider(cfg.provider)(self.config, self.run, stores=self.stores)
        started = utcnow()
        t0 = time.monotonic()
        try:
            endpoints = self.provider.start()
        except BaseException:
            self.close(failed=True, force_teardown=True)
            raise
        what = ", ".join(self.stores) or "no store"
        progress.finished("scratch", f"provision ({cfg.provider}: {what})",
                          time.monotonic() - t0, True)
        self.provision_phase = Phase(store="scratch", name="provision",
                                     started_at=started.isoformat(),
                                     seconds=round(time.monotonic() - t0, 6),
                                     detail=f"{cfg.provider}: {what} ready")
        return endpoints

    def close(self, *, failed: bool, force_teardown: bool = False) -> None:
        """Tear down (or keep, per policy) everything this session created."""
        keep = self.config.scratch.keep
        if not force_teardown and (keep == "always" or (keep == "failed" and failed)):
            if self.run is not None:
                self.run.mark_kept(f"scratch.keep={keep}, drill {'failed' if failed else 'passed'}")
                self.kept = True
                env_file = self._write_connection_file()
                print(f"scrydon-drill: keeping scratch environment {self.run.run_id} in "
                      f"{self.run.directory}; connection settings in {env_file} (mode 0600); "
                      f"remove it with "
                      f"'scrydon-drill sweep --include-kept --run {self.run.run_id}'",
                      file=sys.stderr)
            return
        try:
            if self.provider is not None:
                self.provider.stop()
        finally:
            if self._run_dir is not None:
                self._remove_run(self._run_dir)

    @staticmethod
    def _remove_run(directory: Path) -> None:
        """Remove an owned run for good: first any process still carrying its mark (one
        started in the instant a signal arrived, which the provider never learned of),
        then its folder."""
        for _ in range(3):  # until a scan finds none (one may start while we kill)
            leftovers = owned_processes({directory.name})
            if not leftovers:
                break
            terminate(leftovers, grace=0)
        try:
            remove_killed_run_directory(directory)
        except OSError as exc:
            # What is left keeps its marker or is empty: the next sweep removes it.
            print(f"scrydon-drill: could not remove the scratch folder {directory}: {exc}; "
                  "the next drill's sweep removes it (or run 'scrydon-drill sweep')",
                  file=sys.stderr)

    def _write_connection_file(self) -> Path | None:
        """Write the kept environment's credentials to a private file (never printed)."""
        if self.provider is None or self.run is None:
            return None
        ep = self.provider.endpoints
        lines = []
        if ep.postgres:
            lines += [f"{k}={v}" for k, v in ep.postgres.env().items()]
        if ep.s3:
            lines += [f"AWS_ENDPOINT_URL={ep.s3.url}", f"AWS_ACCESS_KEY_ID={ep.s3.access_key}",
                      f"AWS_SECRET_ACCESS_KEY={ep.s3.secret_key}"]
        if ep.warehouse:
            lines += [f"MYSQL_HOST={ep.warehouse.host}", f"MYSQL_TCP_PORT={ep.warehouse.port}",
                      f"MYSQL_USER={ep.warehouse.user}", f"MYSQL_PWD={ep.warehouse.password}"]
        path = self.run.directory / "connection.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return path

    def __enter__(self) -> ScratchSession:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(failed=exc_type is not None)
