"""restore.<store> and the "needs a restored store" guard, on in-memory restore results."""

from __future__ import annotations

import datetime as dt
import os
from types import SimpleNamespace

import pytest

from harness.catalog.model import RestoreSet
from harness.checks.base import CheckFailed, require_restored, restore_failures
from harness.checks.restore import check_restore
from harness.crypto import masterkey
from harness.restore.objects import ObjectsRestore
from harness.restore.postgres import DatabaseRestore
from harness.restore.result import RestoreResult
from harness.restore.warehouse import WarehouseRestore

KEY = bytes(range(32))


def restore_set() -> RestoreSet:
    return RestoreSet(backup_time=dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc),
                      run="2026-11-24T000000Z", dumps={"auth": None, "agentic": None},  # type: ignore[dict-item]
                      warehouse=None, objects_root=None, master_key=None)


def healthy() -> RestoreResult:
    r = RestoreResult(restore_set=restore_set())
    r.databases = {"auth": DatabaseRestore("auth", 12), "agentic": DatabaseRestore("agentic", 8)}
    r.objects = ObjectsRestore(buckets={"kb": 3}, bytes=100)
    r.warehouse = WarehouseRestore(database="wh", tables={"t1": 40, "t2": 2})
    r.master_key = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(KEY))
    return r


def test_every_store_passes_with_what_it_restored() -> None:
    r = healthy()
    pg = check_restore(r, "postgres", 1.5)
    assert pg.ok and pg.measured == {"databases": 2, "tables": 20, "seconds": 1.5}
    assert "agentic (8 tables), auth (12 tables)" in pg.message
    assert check_restore(r, "objects").measured["objects"] == 3
    wh = check_restore(r, "warehouse")
    assert wh.ok and wh.measured == {"tables": 2, "rows": 42}
    mk = check_restore(r, "master-key")
    assert mk.ok and "32-byte" in mk.message and KEY.hex() not in mk.message
    assert restore_failures(r, ("postgres", "objects", "warehouse", "master-key")) == []


@pytest.mark.parametrize("store", ["postgres", "objects", "warehouse"])
def test_a_failed_store_fails_with_the_restore_error(store: str) -> None:
    r = healthy()
    r.errors[store] = f"[{store}] the thing broke\n  what to do: fix it"
    out = check_restore(r, store)
    assert not out.ok and "the thing broke" in out.message and "what to do: fix it" in out.message
    assert out.remedy is None
    assert restore_failures(r, (store,)) == [f"the {store} restore failed ([{store}] the thing "
                                             "broke)"]
    r.errors[store] = f"{store} exploded"
    assert check_restore(r, store).remedy


def test_a_database_missing_from_the_set_fails_postgres() -> None:
    r = healthy()
    del r.databases["agentic"]
    out = check_restore(r, "postgres")
    assert not out.ok and "agentic" in out.message


def test_master_key_missing_or_unusable() -> None:
    r = healthy()
    r.master_key, r.master_key_error = None, "no master-key backup was found in the backup source"
    out = check_restore(r, "master-key")
    assert not out.ok and "no master-key backup was found" in out.message
    assert "kubectl get secret master-key" in (out.remedy or "")
    r.master_key = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(KEY, encode="hex"))
    out = check_restore(r, "master-key")
    assert not out.ok and "hex" in out.message and out.measured["key_bytes"] == 48


def test_require_restored_names_every_failed_store() -> None:
    r = healthy()
    r.errors["postgres"] = "[postgres] pg_restore of database 'auth' failed\n  detail: x"
    r.master_key, r.master_key_error = None, "bad yaml"
    platform = SimpleNamespace(result=r)
    require_restored(platform, "objects")  # type: ignore[arg-type]
    with pytest.raises(CheckFailed) as err:
        require_restored(platform, "postgres", "objects", "master-key")  # type: ignore[arg-type]
    text = err.value.render()
    assert "pg_restore of database 'auth' failed" in text and "bad yaml" in text
    assert "objects restore" not in text
    assert "restore.<store>" in (err.value.remedy or "")


def test_the_key_never_appears_in_an_outcome() -> None:
    key = os.urandom(32)
    r = healthy()
    r.master_key = masterkey.load_master_key_backup(masterkey.dump_master_key_backup(key))
    out = check_restore(r, "master-key")
    assert key.hex() not in out.message and str(out.measured) == "{'key_bytes': 32}"


def test_catalogue_warnings_about_the_store_are_quoted() -> None:
    r = healthy()
    r.restore_set.flags.append("master-key backup not found at /b/master-key/x.yaml: encrypted "
                               "secrets in the restored databases cannot be decrypted without it")
    r.restore_set.flags.append("warehouse snapshot s1 is 7.0 h older than the dump run")
    r.master_key, r.master_key_error = None, "no master-key backup was found in the backup source"
    out = check_restore(r, "master-key")
    assert not out.ok and "master-key backup not found at /b/master-key/x.yaml" in out.message
    assert "warehouse" not in out.message
    wh = check_restore(r, "warehouse")
    assert wh.ok and "but the backup catalogue noted: warehouse snapshot s1" in wh.message
    assert wh.measured["catalogue_warnings"] == 1
    assert "catalogue_warnings" not in check_restore(r, "postgres").measured
