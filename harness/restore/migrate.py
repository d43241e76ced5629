"""A pre-upgrade rehearsal: the target version's migrations applied to the restored copy.

The folder holds one subfolder per database (``auth/``, ``agentic/``, …) of ``.sql`` files,
applied in name order, each in its own transaction and timed. The first failure stops the
rehearsal (the upgrade would stop there too) and is reported with the file and PostgreSQL's
message; the databases keep what committed before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.records import DATABASES, Phase, utcnow
from harness.scratch.endpoints import PostgresEndpoint


@dataclass
class MigrationStep:
    """One migration file's outcome."""

    database: str
    file: str
    seconds: float
    error: str = ""


@dataclass
class MigrationReport:
    """What the rehearsal applied, in order, and where it stopped."""

    folder: str
    steps: list[MigrationStep] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)

    @property
    def failed(self) -> MigrationStep | None:
        """The step that failed, if one did."""
        return next((s for s in self.steps if s.error), None)


def migration_files(folder: Path) -> list[tuple[str, Path]]:
    """``(database, file)`` in the order they apply: databases in the platform's order,
    files by name. Unknown subfolders are a configuration error (a typo would skip them)."""
    if not folder.is_dir():
        raise ConfigError(f"the migrations folder {folder} does not exist",
                          path=str(folder), remedy="set upgrade.migrations to a folder of "
                          "<database>/<name>.sql files")
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in DATABASES)
    if unknown:
        raise ConfigError(f"the migrations folder {folder} has subfolders that are not "
                          f"databases of the platform: {', '.join(unknown)}", path=str(folder),
                          remedy=f"name them after the databases: {', '.join(DATABASES)}")
    return [(db, f) for db in DATABASES for f in sorted((folder / db).glob("*.sql"))]


def apply_migrations(folder: Path, server: PostgresEndpoint) -> MigrationReport:
    """Apply every migration of ``folder`` to the restored databases on ``server``."""
    import psycopg

    report = MigrationReport(folder=str(folder))
    for db, path in migration_files(folder):
        started = utcnow()
        t0 = time.monotonic()
        error = ""
        try:
            with psycopg.connect(**server.conninfo(db), connect_timeout=10) as conn:
                with conn.transaction():
                    conn.execute(path.read_text(encoding="utf-8"))  # type: ignore[arg-type]
        except psycopg.Error as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        seconds = round(time.monotonic() - t0, 6)
        name = f"{db}/{path.name}"
        report.steps.append(MigrationStep(db, path.name, seconds, error))
        report.phases.append(Phase(store="upgrade", name=f"migrate {name}",
                                   started_at=started.isoformat(), seconds=seconds,
                                   ok=not error,
                                   detail=f"failed: {error}" if error else "applied"))
        if error:
            break
    return report
