"""Turn termination signals into KeyboardInterrupt so that every teardown path runs.

Python runs ``finally`` blocks and context-manager exits on KeyboardInterrupt but not when
SIGTERM or SIGHUP kill the interpreter outright. CI runners and ``timeout`` send SIGTERM, so
without this a cancelled drill would leave its servers running.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType


class TerminationRequested(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives."""


def _raise(signum: int, frame: FrameType | None) -> None:
    raise TerminationRequested(f"received {signal.Signals(signum).name}")


@contextlib.contextmanager
def teardown_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`TerminationRequested`."""
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[sig] = signal.signal(sig, _raise)
        except ValueError:  # not in the main thread: leave handlers alone
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
