"""How backups are laid out in backup storage (a directory or an S3 prefix).

The default layout is the one the reference backup producer writes; a user's own layout is
described with the same patterns in the drill config. ``{ts}`` stands for the backup run's
timestamp in ``timestamp_format``, ``{db}`` for a database name, ``{bucket}``/``{key}`` for
an object, ``{database}``/``{table}`` for a warehouse table.

Default layout::

    postgres/dumps/{ts}/{db}.dump          pg_dump -Fc of each of the five databases, daily
    postgres/base/{ts}/                    pg_basebackup -Fp with backup_manifest (SHA-256)
    postgres/wal/<segment>                 continuous WAL archive (archive_command)
    objects/{bucket}/{key}                 replica of every bucket; never deletes
    warehouse/{ts}/{database}/{table}.sql  per-table snapshot (MariaDB stand-in for StarRocks)
    warehouse/{ts}/snapshot.json           tables, row counts and MD5 of each snapshot file
    master-key/master-key.backup.yaml      the master-key Secret as the runbook captures it
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

TIMESTAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"


@dataclass(frozen=True)
class Layout:
    """Patterns locating each store's backups, relative to the backup root."""

    postgres_dump: str = "postgres/dumps/{ts}/{db}.dump"
    base_backup: str = "postgres/base/{ts}"
    wal_archive: str = "postgres/wal"
    objects_replica: str = "objects/{bucket}/{key}"
    warehouse_table: str = "warehouse/{ts}/{database}/{table}.sql"
    warehouse_manifest: str = "warehouse/{ts}/snapshot.json"
    master_key: str = "master-key/master-key.backup.yaml"
    timestamp_format: str = TIMESTAMP_FORMAT

    def stamp(self, at: dt.datetime) -> str:
        """Render a backup time in this layout's timestamp format (UTC)."""
        return at.astimezone(dt.timezone.utc).strftime(self.timestamp_format)

    def parse_stamp(self, text: str) -> dt.datetime:
        """Parse a timestamp written by :meth:`stamp` (UTC)."""
        return dt.datetime.strptime(text, self.timestamp_format).replace(tzinfo=dt.timezone.utc)


DEFAULT_LAYOUT = Layout()
