"""One way to wait: poll a probe until it answers, with a deadline, never forever.

Every wait of the harness (a server becoming ready, a tool printing its ready line, a
warehouse job finishing) goes through :func:`wait_until`. "Alive" is checked apart from
"ready": when the thing waited for has died, waiting stops at once. A probe may fail while
the service is still coming up, but only with the exceptions the caller names as transient;
anything else is a real failure and propagates immediately instead of at the deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    """The deadline passed; ``last_error`` is the last transient failure of the probe."""

    def __init__(self, seconds: float, last_error: str) -> None:
        self.seconds = seconds
        self.last_error = last_error
        super().__init__(f"not ready after {seconds:.0f} s"
                         + (f" (last probe: {last_error})" if last_error else ""))


class Died(Exception):
    """The process (or job) waited for ended before it was ready."""


def wait_until(probe: Callable[[], T | None], *, timeout: float,
               transient: tuple[type[BaseException], ...] = (OSError,),
               alive: Callable[[], bool] | None = None, interval: float = 0.05,
               max_interval: float = 0.5, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """Call ``probe`` until it returns something other than None or False; return that.

    ``alive`` (when given) is asked before each probe: False raises :class:`Died` at once.
    Exceptions of the ``transient`` types mean "not yet"; others propagate. After
    ``timeout`` seconds :class:`WaitTimeout` is raised. The interval grows from
    ``interval`` to ``max_interval``.
    """
    deadline = clock() + timeout
    delay = interval
    last_error = ""
    while True:
        if alive is not None and not alive():
            raise Died(last_error)
        try:
            result = probe()
        except transient as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if result is not None and result is not False:
                return result
        if clock() >= deadline:
            raise WaitTimeout(timeout, last_error)
        sleep(delay)
        delay = min(delay * 1.5, max_interval)


def tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
