"""Three drills at once on one machine, with different configurations and one scratch.root.

No port, folder or server may be shared or taken from another run; each run tears down only
what is its own; a sweep started while they run (each drill also sweeps before it
provisions) leaves every living run alone. All three must pass.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from typing import Any

import psutil
import pytest

from harness.scratch.procinfo import processes_owned_by
from harness.scratch.sweep import sweep
from tests.integration.test_drills import REPO, private_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIGS = {
    "plain": {},
    "fallback": {"drill.fallback": "true"},
    "kept-on-failure": {"scratch.keep": "failed", "scratch.stop_timeout": "5"},
}


def listening_ports(pids: dict[int, str]) -> dict[int, str]:
    """TCP ports listened on by these processes: port -> run id."""
    ports: dict[int, str] = {}
    for pid, rid in pids.items():
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN:
                ports[c.laddr.port] = rid
    return ports


def test_three_drills_at_once_share_nothing_and_all_pass(reference: Any, measure) -> None:
    work = private_dir("scrydon-drill-conc-")
    root = work / "root"
    procs: dict[str, subprocess.Popen[str]] = {}
    port_owners: dict[int, set[str]] = defaultdict(set)
    folders: dict[str, set[str]] = defaultdict(set)
    overlap = 0
    sweeps: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        nonlocal overlap
        swept = False
        while not stop.is_set():
            ids = {p.name for p in root.iterdir()} if root.is_dir() else set()
            owned = processes_owned_by(ids)
            live = set(owned.values())
            overlap = max(overlap, len(live))
            for port, rid in listening_ports(owned).items():
                port_owners[port].add(rid)
            for pid, rid in owned.items():
                try:
                    cwd_files = {f.path for f in psutil.Process(pid).open_files()}
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                for path in cwd_files:
                    if path.startswith(str(root) + "/"):
                        folders[rid].add(path[len(str(root)) + 1:].split("/")[0])
            if len(live) >= 2 and not swept:
                # A sweep while they run: it must leave every living run alone.
                out = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "--root",
                                      str(root)], cwd=REPO, capture_output=True, text=True)
                sweeps.append(out.stdout.strip().splitlines()[0])
                swept = True
            time.sleep(0.3)

    watcher = threading.Thread(target=watch)
    t0 = time.monotonic()
    try:
        for name, sets in CONFIGS.items():
            argv = [sys.executable, "-m", "harness.cli", "drill", "--config",
                    str(reference.drill_config), "--root", str(root),
                    "--set", f"report.dir={work / ('reports-' + name)}"]
            for key, value in sets.items():
                argv += ["--set", f"{key}={value}"]
            env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
            procs[name] = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True,
                                           start_new_session=True)
            if name == "plain":
                watcher.start()
        outputs = {name: p.communicate(timeout=600)[0] for name, p in procs.items()}
    finally:
        stop.set()
        watcher.join(timeout=60)
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    seconds = time.monotonic() - t0
    try:
        codes = {name: p.returncode for name, p in procs.items()}
        shared = {port: rids for port, rids in port_owners.items() if len(rids) > 1}
        crossed = {rid: dirs - {rid} for rid, dirs in folders.items() if dirs - {rid}}
        measure(f"3 concurrent drills in one scratch.root: {seconds:.1f} s, at most {overlap} "
                f"running at once, {len(port_owners)} listening ports seen, shared: "
                f"{len(shared)}; sweep meanwhile: {sweeps[0] if sweeps else 'not run'}; "
                f"exits {codes}")
        for name, code in codes.items():
            assert code == 0, f"{name}:\n{outputs[name][-4000:]}"
        assert overlap >= 2, "the drills never ran at the same time"
        assert sweeps and "left" in sweeps[0] and "active run" in sweeps[0], sweeps
        assert "killed 0 process" in sweeps[0]
        assert shared == {}
        assert crossed == {}
        assert len(port_owners) >= 6  # two servers at least per run were seen listening
        assert list(root.iterdir()) == []
    finally:
        sweep(root, include_kept=True)
        shutil.rmtree(work, ignore_errors=True)
