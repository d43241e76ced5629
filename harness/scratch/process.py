"""A server run as a child process: start, alive vs. ready, deadline, log tail, stop.

"Alive" (the process has not exited) is checked apart from "ready" (the service answers), so
a server that crashes at start fails at once with its log attached instead of after a timeout.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ServerStartError
from harness.records import OWNER_ENV
from harness.scratch.procinfo import members_of_group
from harness.tools.wait import Died, WaitTimeout, tail, wait_until

ReadyCheck = Callable[[], bool]


@dataclass
class ServerProcess:
    """One server process owned by a run.

    ``stop_signal`` is what asks the server to shut down (SIGINT for PostgreSQL's fast
    shutdown, SIGTERM otherwise); after ``stop_timeout`` seconds the whole process group gets
    SIGKILL. The process is started in its own session so that its children die with it.
    """

    name: str
    argv: Sequence[str]
    run_id: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    popen: subprocess.Popen[bytes] | None = None
    started_at: float | None = None
    ready_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return self.popen.pid if self.popen else None

    def start(self) -> None:
        """Spawn the process with the run's owner mark in its environment."""
        env = dict(os.environ)
        env.update(self.env)
        env[OWNER_ENV] = self.run_id
        kwargs: dict[str, Any] = {}
        if self.user and os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
            env["HOME"] = pw.pw_dir
            env["USER"] = self.user
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        if self.user and os.geteuid() == 0:
            pw = pwd.getpwnam(self.user)
            os.chown(self.log_path, pw.pw_uid, pw.pw_gid)
        try:
            self.popen = subprocess.Popen(  # noqa: S603 - argv is built by the harness
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.cwd) if self.cwd else None,
                env=env,
                start_new_session=True,
                **kwargs,
            )
        except OSError as exc:
            raise ServerStartError(
                f"{self.name}: could not execute {self.argv[0]}: {exc}",
                path=str(self.argv[0]),
                remedy="check that the server is installed (see README, 'Set-up')",
            ) from exc
        finally:
            log.close()
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, check: ReadyCheck, timeout: float,
                   transient: tuple[type[BaseException], ...] = (OSError,)) -> float:
        """Poll ``check`` until it returns True; return the seconds it took.

        ``transient`` are the exceptions a probe raises while the server is still coming up;
        anything else fails at once. Raises :class:`ServerStartError` with the log tail as
        soon as the process exits, or when ``timeout`` seconds pass without success.
        """
        assert self.popen is not None and self.started_at is not None
        popen = self.popen
        try:
            wait_until(check, timeout=timeout, transient=transient,
                       alive=lambda: popen.poll() is None)
        except Died as exc:
            raise ServerStartError(
                f"{self.name} exited with code {popen.returncode} before it was ready",
                path=str(self.log_path),
                remedy="read the log below; a port clash or a bad data directory is typical",
                detail=tail(self.log_path)) from exc
        except WaitTimeout as exc:
            raise ServerStartError(
                f"{self.name} is running but was not ready after {timeout:.0f} s"
                + (f" (last probe: {exc.last_error})" if exc.last_error else ""),
                path=str(self.log_path),
                remedy="raise scratch.ready_timeout on a slow machine, or read the log",
                detail=tail(self.log_path)) from exc
        self.ready_seconds = time.monotonic() - self.started_at
        return self.ready_seconds

    def stop(self) -> float:
        """Ask the server to stop, escalate to SIGKILL after the deadline; return seconds taken."""
        if self.popen is None:
            return 0.0
        t0 = time.monotonic()
        if self.popen.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self.popen.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=30)
        # Children that outlived the leader go too; once the leader is reaped its group id
        # could in theory be reused, so only processes carrying our owner mark are killed.
        for pid in members_of_group(self.popen.pid, self.run_id):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return time.monotonic() - t0

    def _signal_group(self, sig: int) -> None:
        assert self.popen is not None
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
