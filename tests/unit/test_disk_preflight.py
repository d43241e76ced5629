"""The free-disk estimate before a restore: what it counts, and that it refuses with numbers."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from pathlib import Path

import pytest

from harness.catalog.model import Artifact, RestoreSet, WarehouseSnapshot
from harness.errors import EXIT_NOT_STARTED, ScratchError
from harness.restore import environment
from harness.restore.environment import SERVER_ALLOWANCE, check_free_disk, disk_needed

MiB = 1024 * 1024
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


def art(store: str, name: str, size: int) -> Artifact:
    return Artifact(store=store, name=name, location=f"/b/{name}", relpath=name, taken_at=NOW,
                    size=size)


def restore_set() -> RestoreSet:
    return RestoreSet(
        backup_time=NOW, run="r1",
        dumps={"auth": art("postgres-dump", "auth.dump", 10 * MiB),
               "cortex": art("postgres-dump", "cortex.dump", 5 * MiB)},
        warehouse=WarehouseSnapshot(run="r1", taken_at=NOW, manifest=None,
                                    tables={"t": art("warehouse", "t.sql", 20 * MiB)}),
        objects_root="/b/objects", master_key=None,
        objects=[art("objects", f"o{i}", 100 * MiB) for i in range(3)])


def test_the_estimate_counts_each_store_by_its_expansion_and_the_servers() -> None:
    need = disk_needed(restore_set(), servers_here=True, staged=False)
    assert need == {"postgres": 60 * MiB, "objects": int(330 * MiB), "warehouse": 40 * MiB,
                    "servers": SERVER_ALLOWANCE}
    # Servers elsewhere (containers, a cluster): only a remote source's downloads land here.
    assert disk_needed(restore_set(), servers_here=False, staged=True) == {
        "staged downloads": 335 * MiB}
    assert disk_needed(restore_set(), servers_here=False, staged=False) == {}


def test_too_little_room_is_refused_with_the_numbers(monkeypatch, tmp_path: Path) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(environment.shutil, "disk_usage",
                        lambda _p: usage(10_000 * MiB, 9_200 * MiB, 800 * MiB))
    with pytest.raises(ScratchError) as err:
        check_free_disk(restore_set(), tmp_path / "not" / "yet", servers_here=True,
                        staged=False)
    assert err.value.exit_code == EXIT_NOT_STARTED
    text = str(err.value)
    assert "800.0 MiB free" in text and "needs about 942.0 MiB" in text
    assert "objects 330.0 MiB" in text
    monkeypatch.setattr(environment.shutil, "disk_usage",
                        lambda _p: usage(10_000 * MiB, 9_000 * MiB, 1_000 * MiB))
    assert sum(check_free_disk(restore_set(), tmp_path, servers_here=True,
                               staged=False).values()) == 942 * MiB
