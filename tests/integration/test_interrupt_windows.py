"""Ctrl-C or SIGTERM in the narrow moments of a scratch set-up leaves nothing behind.

The drill's own teardown (not the next run's sweep) must remove everything of an
interrupted run: the moments tested here are those where the harness has started something
it does not know of yet — a run folder being created, a one-shot installer's bootstrap
server, a server process whose handle was never returned.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.config import resolve
from harness.errors import ServerStartError
from harness.scratch import run as run_module
from harness.scratch import session as session_module
from harness.scratch.procinfo import is_alive
from harness.scratch.reap import owned_processes
from harness.scratch.run import Run
from harness.scratch.servers import run_as
from harness.scratch.session import ScratchSession
from tests.conftest import spawn_marked

pytestmark = pytest.mark.integration


def config(run_root: Path):
    return resolve(environ={}, arguments={"scratch": {"root": str(run_root)}})


def leftovers(run_root: Path) -> list[str]:
    """Run folders under the root and processes of any run: all an interruption may leave."""
    found = [f"folder {p.name}: {sorted(x.name for x in p.iterdir())}"
             for p in run_root.iterdir()] if run_root.is_dir() else []
    rids = {p.name for p in run_root.iterdir()} if run_root.is_dir() else set()
    return found + [f"process {pid} of {rid}" for pid, rid in owned_processes(rids).items()]


def test_an_interruption_while_the_run_folder_is_created_removes_it(run_root: Path,
                                                                    monkeypatch) -> None:
    def interrupted(self: Run, **updates: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Run, "write_marker", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Run.create(run_root)
    assert list(run_root.iterdir()) == []


def test_an_interruption_right_after_the_run_folder_exists_is_torn_down(run_root: Path,
                                                                        monkeypatch) -> None:
    """The signal lands after the folder is made, before the session holds the Run."""
    real = Run.create

    def create_then_interrupt(*args: object, **kwargs: object) -> Run:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(session_module.Run, "create", create_then_interrupt)
    session = ScratchSession(config(run_root), stores=())
    with pytest.raises(KeyboardInterrupt):
        session.open()
    assert len(list(run_root.iterdir())) == 1  # the moment really came after the folder
    session.close(failed=True)
    assert leftovers(run_root) == []


def descendants(pid: int) -> set[int]:
    """``pid``'s children, their children and so on (read from /proc)."""
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # it has just exited
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | descendants(child)
    return found


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.mark.parametrize(("store", "bootstrap"), [("postgres", "postgres"),
                                                  ("warehouse", "mariadbd")])
def test_an_interruption_during_the_installer_stops_its_bootstrap_server(
        run_root: Path, store: str, bootstrap: str, measure) -> None:
    """initdb and mariadb-install-db each run a bootstrap server of their own; interrupted
    while it runs, the installer and that server are gone when the set-up gives up (killing
    the installer alone left the server writing into the folder being removed)."""
    main = threading.main_thread().ident
    assert main is not None
    tree: dict[int, str] = {}
    stop = threading.Event()

    def interrupt_during_bootstrap() -> None:
        while not stop.is_set():
            for folder in run_root.iterdir() if run_root.is_dir() else []:
                for pid in owned_processes({folder.name}):
                    below = descendants(pid)
                    if any(comm(p) == bootstrap for p in below):
                        tree.update({p: comm(p) for p in {pid} | below})
                        signal.pthread_kill(main, signal.SIGINT)
                        return
            time.sleep(0.002)

    watcher = threading.Thread(target=interrupt_during_bootstrap, daemon=True)
    session = ScratchSession(config(run_root), stores=(store,))
    watcher.start()
    alive: dict[int, str] = {}
    try:
        with pytest.raises(KeyboardInterrupt):
            session.open()
        alive = {pid: name for pid, name in tree.items() if is_alive(pid)}
    finally:
        stop.set()
        watcher.join()
        session.close(failed=True)  # also when the test fails: no server outlives it
    assert tree, f"the interruption did not come while {bootstrap} bootstrapped"
    measure(f"{store}: interrupted while {', '.join(sorted(set(tree.values())))} ran; "
            f"alive when the set-up gave up: {alive}; left after teardown: "
            f"{leftovers(run_root)}")
    assert alive == {}
    assert leftovers(run_root) == []


def test_a_process_of_the_run_the_provider_never_learned_of_goes_with_the_session(
        run_root: Path) -> None:
    """A server spawned in the instant a signal arrived carries the run's mark but no
    handle: closing the session stops it before removing the folder."""
    session = ScratchSession(config(run_root), stores=())
    session.open()
    assert session.run is not None
    stray = spawn_marked(session.run.run_id)
    try:
        session.close(failed=True)
        survivors = owned_processes({session.run.run_id})
        assert survivors == {}, (f"the stray process {stray.pid} survived: " + "; ".join(
            f"{pid} {Path(f'/proc/{pid}/stat').read_text(errors='replace')[:80]}"
            for pid in survivors if Path(f"/proc/{pid}/stat").exists()))
        assert stray.poll() is not None
        assert leftovers(run_root) == []
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


def test_an_installer_that_hangs_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    rid = run_module.new_run_id()
    log = tmp_path / "install.log"
    with pytest.raises(ServerStartError) as err:
        run_as(["sh", "-c", "sleep 300 & sleep 300"], None, run_id=rid, timeout=0.5,
               what="probe-install", log=log)
    assert "probe-install did not finish within 0.5 s" in str(err.value)
    assert str(log) in str(err.value)
    assert owned_processes({rid}) == {}, "the installer's child outlived it"
    assert os.path.exists(log)
