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


# The signals received inside the current teardown_on_signals block: whoever catches the
# KeyboardInterrupt (pytest does, at any moment of its start) may lose it, this does not.
_received: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise TerminationRequested(f"received {signal.Signals(signum).name}")


def interrupted() -> bool:
    """True when SIGINT, SIGTERM or SIGHUP arrived inside the current block."""
    return bool(_received)


@contextlib.contextmanager
def teardown_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`TerminationRequested` and SIGINT
    :class:`KeyboardInterrupt`, each remembered (see :func:`interrupted`)."""
    previous = {}
    if signal.getsignal(signal.SIGTERM) is not _raise:  # the outermost block starts afresh
        _received.clear()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            previous[sig] = signal.signal(sig, _raise)
        except ValueError:  # not in the main thread: leave handlers alone
            pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def forget_caught_interrupts() -> None:
    """Keep an interrupt the harness caught from turning the exit into a death by SIGINT.

    CPython marks a KeyboardInterrupt as unhandled whenever it leaves code run from a string
    (``exec``: dataclass and named-tuple methods are made so), even when an outer ``except``
    catches it; a program started with ``python -m`` then ends by killing itself with SIGINT
    after a clean shutdown, and its exit status is "killed by signal 2" instead of the 130
    the drill chose. Called just before exiting, this clears that mark (CPython 3.11's
    ``_Py_UnhandledKeyboardInterrupt``); where the mark does not exist, nothing is done.
    """
    try:
        import ctypes

        flag = ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
    except (ImportError, ValueError, AttributeError):
        return
    flag.value = 0
