"""restore.<store>: each store of the restore set came back, or the check says why not.

A failed restore is itself a failing check with the restore engine's full error, so an
operator sees "the auth dump is truncated" rather than a dozen obscure downstream failures.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.checks.base import Outcome, listing, plural

if TYPE_CHECKING:
    from harness.restore.result import RestoreResult

_REMEDY = {
    "postgres": "read the error above; the restore.* checks of the other stores show whether "
                "only PostgreSQL is affected. Restore the previous dump set (drill.fallback) "
                "and repair the backup job",
    "objects": "check the bucket replica (backups.objects_replica) and the replication job",
    "warehouse": "check the warehouse snapshot (backups.warehouse_manifest) and the "
                 "snapshot job; use the previous snapshot if this one is damaged",
    "master-key": "back up the master-key Secret out of band as the runbook says: kubectl "
                  "get secret master-key -n scrydon-platform -o yaml (minus resourceVersion, "
                  "uid, creationTimestamp) > master-key.backup.yaml, stored where "
                  "backups.master_key points",
}


# How the backup catalogue's warnings (RestoreSet.flags) about each store begin.
_FLAG_START = {"postgres": re.compile(r"(newest dump run|the dumps of run)\b"),
               "objects": re.compile(r"objects replica\b"),
               "warehouse": re.compile(r"(no )?warehouse\b"),
               "master-key": re.compile(r"master-key\b")}


def check_restore(result: RestoreResult, store: str, store_seconds: float | None = None
                  ) -> Outcome:
    """Whether ``store`` (postgres, objects, warehouse or master-key) was restored.

    The backup catalogue's warnings about the store's part of the restore set are added to
    the message either way (they explain a failure, and qualify a pass).
    """
    result.wait(store)
    outcome = _check_restore(result, store, store_seconds)
    flags = [f for f in result.restore_set.flags if _FLAG_START[store].match(f)]
    if flags:
        outcome.measured["catalogue_warnings"] = len(flags)
        outcome.message += ("; the backup catalogue noted: " if not outcome.ok
                            else " — but the backup catalogue noted: ") + "; ".join(flags)
    return outcome


def _check_restore(result: RestoreResult, store: str, store_seconds: float | None) -> Outcome:
    seconds = {} if store_seconds is None else {"seconds": round(store_seconds, 3)}
    if store == "master-key":
        return _master_key(result)
    error = result.errors.get(store)
    if error:
        # The engine's errors usually carry their own remedy; do not add a second one.
        remedy = None if "what to do:" in error else _REMEDY[store]
        return Outcome.failed(f"the {store} restore failed: {error.strip()}", remedy=remedy,
                              **seconds)
    if store == "postgres":
        dbs = result.databases
        if not dbs:
            return Outcome.failed("no PostgreSQL database was restored", remedy=_REMEDY[store])
        expected = sorted(result.restore_set.dumps)
        missing = sorted(set(expected) - set(dbs))
        tables = sum(d.tables for d in dbs.values())
        if missing:
            return Outcome.failed(f"databases {listing(missing)} of the restore set were not "
                                  "restored", remedy=_REMEDY[store], databases=len(dbs),
                                  tables=tables, **seconds)
        detail = ", ".join(f"{name} ({d.tables} tables)" for name, d in sorted(dbs.items()))
        return Outcome.passed(
            f"restored {plural(len(dbs), 'database')} from dump run {result.restore_set.run} "
            f"with pg_restore, each checked for every table in its dump: {detail}",
            databases=len(dbs), tables=tables, **seconds)
    if store == "objects":
        objects = result.objects
        if objects is None:
            return Outcome.failed("object storage was not restored", remedy=_REMEDY[store])
        count = sum(objects.buckets.values())
        buckets = ", ".join(f"{b} ({n})" for b, n in sorted(objects.buckets.items()))
        return Outcome.passed(
            f"restored {plural(count, 'object')} ({objects.bytes} bytes) into "
            f"{plural(len(objects.buckets), 'bucket')}, each verified against its MD5 on "
            f"upload: {buckets or 'none'}", objects=count, bytes=objects.bytes,
            buckets=len(objects.buckets), **seconds)
    if store == "warehouse":
        wh = result.warehouse
        if wh is None:
            return Outcome.failed("the warehouse was not restored", remedy=_REMEDY[store])
        rows = sum(wh.tables.values())
        return Outcome.passed(
            f"restored {plural(len(wh.tables), 'table')} ({rows} rows) of warehouse database "
            f"{wh.database}, each file checked against its snapshot MD5 and row count",
            tables=len(wh.tables), rows=rows, **seconds)
    raise ValueError(f"unknown store {store!r}")


def _master_key(result: RestoreResult) -> Outcome:
    key = result.master_key
    if key is None:
        why = result.master_key_error or "no master key was loaded"
        return Outcome.failed(
            f"the master key was not restored: {why}; without it every encrypted secret in "
            "the restored PostgreSQL is unrecoverable", remedy=_REMEDY["master-key"])
    problem = key.kek_problem()
    if problem:
        return Outcome.failed(
            f"the master-key backup ({key.namespace or 'no namespace'}/{key.name}, data key "
            f"'{key.data_key}') loads, but Dapr cannot use it as its AES-256 key: {problem}",
            remedy="fix the Secret's value (32 raw bytes, or their base64) on the source "
            "cluster and back it up again", key_bytes=len(key.key))
    return Outcome.passed(
        f"loaded the master-key Secret backup ({key.namespace or 'no namespace'}/{key.name}, "
        f"data key '{key.data_key}'): a {len(key.key)}-byte AES-256 key as Dapr reads it "
        f"(key name {key.dapr_key_name})", key_bytes=len(key.key))
