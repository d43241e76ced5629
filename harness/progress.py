"""Progress of long steps for the person (or CI log) watching a drill.

Every timed phase reports when it ends, with the time since the run began; transfers report
bytes done of the total. On a terminal the current step is one live line rewritten in place;
elsewhere (CI logs) plain lines are written, transfers at most every 10 % so logs stay short.
Nothing is reported until a sink is installed (the CLI and the pytest plugin install one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Receives one line of text and whether it replaces the previous live line.
Sink = Callable[[str, bool], None]

_lock = threading.Lock()
_state: dict[str, object] = {"sink": None, "t0": time.monotonic(), "live": False}
_last_percent: dict[str, int] = {}


def install(sink: Sink | None, *, live: bool = False) -> None:
    """Send progress to ``sink`` (None: stop reporting); ``live`` when it is a terminal."""
    with _lock:
        _state.update(sink=sink, t0=time.monotonic(), live=live)
        _last_percent.clear()


def _emit(text: str, transient: bool) -> None:
    with _lock:
        sink = _state["sink"]
        if not callable(sink):
            return
        elapsed = time.monotonic() - float(_state["t0"])  # type: ignore[arg-type]
        live = bool(_state["live"])
        if transient and not live:
            return
        sink(f"[{elapsed:7.1f}s] {text}", transient and live)


def started(store: str, name: str) -> None:
    """A step began (shown only as a live line on a terminal)."""
    _emit(f"{store}: {name} …", True)


def finished(store: str, name: str, seconds: float, ok: bool) -> None:
    """A step ended."""
    _emit(f"{store}: {name} {'done' if ok else 'FAILED'} in {seconds:.2f} s", False)


def transfer(what: str, done: int, total: int, *, unit: str = "objects",
             moved_bytes: int | None = None) -> None:
    """``done`` of ``total`` items moved for ``what`` (and the bytes so far); plain lines at
    10 % steps."""
    percent = int(done * 100 / total) if total else 100
    text = f"{what}: {done} of {total} {unit} ({percent} %)" + (
        f", {_mib(moved_bytes)}" if moved_bytes is not None else "")
    with _lock:
        live = bool(_state["live"])
        step = percent // 10
        if not live:
            if _last_percent.get(what, -1) >= step:
                return
            _last_percent[what] = step
    _emit(text, live and done < total)
    if live and done >= total:
        _emit(text, False)


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"
