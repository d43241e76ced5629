"""Every layout the configuration accepts round-trips (hypothesis over generated layouts).

The reference backups are laid out again under a generated layout — placeholders in any
order, fixed folders anywhere, ``{db}`` or ``{ts}`` twice, a timestamp format per store,
compressed WAL — and the catalogue must find in the copy exactly the members it finds in the
original, choose the same restore set, and plan a restore that yields the same databases,
object keys and warehouse tables. Three such layouts are restored for real.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from fixtures.backup.relayout import catalog_of, relayout
from fixtures.fingerprint import objects_fingerprint, postgres_fingerprint, warehouse_fingerprint
from harness.catalog.catalog import Catalog
from harness.config import resolve
from harness.errors import ConfigError
from harness.layout import DEFAULT_LAYOUT, Layout
from harness.restore.engine import RestoreEngine
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from tests.conftest import private_run_root

pytestmark = [pytest.mark.integration]

EXAMPLES = int(os.environ.get("SCRYDON_DRILL_TEST_LAYOUT_EXAMPLES", "60"))
WORDS = ("backups", "prod", "daily", "eu-1", "nightly", "v2", "sr", "copy")
FORMATS = ("%Y-%m-%dT%H%M%SZ", "%Y%m%d%H%M%S", "%Y/%m/%d/%H%M%S", "%Y-%m-%d_%H-%M-%S",
           "%Y-%m-%d", "%Y.%j.%H%M")
SEPARATORS = ("-", "_", ".", "@")


@st.composite
def path_of(draw: st.DrawFn, root: str, tokens: list[str], suffix: str) -> str:
    """A path under ``root`` holding ``tokens`` (placeholders and words) in a drawn order,
    split into one to three segments, never two placeholders side by side."""
    order = draw(st.permutations(tokens))
    cuts = draw(st.lists(st.integers(1, max(1, len(order) - 1)), max_size=2, unique=True))
    segments: list[list[str]] = []
    start = 0
    for cut in sorted(cuts) + [len(order)]:
        if cut > start:
            segments.append(list(order[start:cut]))
            start = cut
    rendered = [draw(st.sampled_from(SEPARATORS)).join(seg) for seg in segments]
    extra = draw(st.lists(st.sampled_from(WORDS), max_size=2))
    where = draw(st.integers(0, len(rendered)))
    folders = [root, *rendered[:where], *extra, *rendered[where:]]
    return "/".join(folders) + suffix


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    """A layout an operator might use (the stores under roots of their own)."""
    ts = "{ts}"
    dump_tokens = [ts, "{db}"] + draw(st.sampled_from([[], ["{db}"], ["{ts}"], ["pgdump"]]))
    dump = draw(path_of("pg", dump_tokens, draw(st.sampled_from([".dump", ".pgdump", ""]))))
    if dump.endswith("}"):
        dump += ".dump"  # a placeholder at the end would swallow the file's suffix
    base = draw(path_of("basebackups", [ts] + draw(st.sampled_from([[], ["base"]])), ""))
    wal = "/".join(["wal", *draw(st.lists(st.sampled_from(WORDS), max_size=2))])
    objects = draw(st.sampled_from([
        "replica/{bucket}/{key}", "replica/{bucket}/objects/{key}", "replica/{bucket}.r/{key}",
        "replica/x/{bucket}/{key}", "replica/{bucket}/a/b/{key}"]))
    table_tokens = [ts, "{table}"] + draw(st.sampled_from([[], ["{database}"], ["tbl"]]))
    table = draw(path_of("wh", table_tokens, ".sql"))
    manifest_root = draw(st.sampled_from(["wh", "wh-meta"]))
    manifest = draw(path_of(manifest_root, [ts], "")) + "/" + draw(
        st.sampled_from(["snapshot.json", "manifest.json"]))
    key = draw(st.sampled_from(["keys/master-key.backup.yaml", "secrets/mk/master.yaml"]))
    own = st.sampled_from(["", *FORMATS])
    layout = Layout(postgres_dump=dump, base_backup=base, wal_archive=wal,
                    objects_replica=objects, warehouse_table=table,
                    warehouse_manifest=manifest, master_key=key,
                    timestamp_format=draw(st.sampled_from(FORMATS)),
                    dump_timestamp_format=draw(own), base_timestamp_format=draw(own),
                    warehouse_timestamp_format=draw(own))
    try:
        layout.compile()
    except ConfigError:
        assume(False)  # e.g. a table pattern that would also match the manifest
    return layout


def inventory(cat: Catalog) -> dict[str, Any]:
    """What the catalogue finds, by identity (inode) rather than by name."""
    def ino(rel: str) -> int:
        return os.stat(cat.source.location(rel)).st_ino

    runs = cat.dump_runs()
    return {
        "dumps": [(i, db, ino(a.relpath)) for i, r in enumerate(runs)
                  for db, a in sorted(r.dumps.items())],
        "base": [sorted(ino(e.relpath) for e in cat.files_of(b)) for b in cat.base_backups()],
        "wal": sorted(a.name.split(".")[0] for a in cat.wal_files()),
        "objects": sorted((a.name, ino(a.relpath)) for a in cat.objects()),
        "warehouse": [(s.manifest and ino(s.manifest.relpath),
                       sorted((t, ino(a.relpath)) for t, a in s.tables.items()))
                      for s in cat.warehouse_snapshots()],
        "master_key": [ino(a.relpath) for a in cat.master_keys()],
    }


def plan(cat: Catalog) -> dict[str, Any]:
    """The restore the engine would do: databases, object keys and tables, by identity."""
    rs = cat.choose_restore_set()
    assert rs.warehouse is not None and rs.base_backup is not None
    def ino(location: str) -> int:
        return os.stat(location).st_ino
    return {
        "databases": {db: ino(a.location) for db, a in rs.dumps.items()},
        "objects": sorted((a.name, ino(a.location)) for a in rs.objects),
        "tables": {t: ino(a.location) for t, a in rs.warehouse.tables.items()},
        "manifest": ino(rs.warehouse.manifest.location) if rs.warehouse.manifest else None,
        "base": sorted(ino(cat.source.location(e.relpath)) for e in cat.files_of(rs.base_backup)),
        "backup_time": rs.backup_time.date(),
    }


@pytest.fixture(scope="module")
def original(reference: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    cat = catalog_of(reference.backups, DEFAULT_LAYOUT)
    return inventory(cat), plan(cat)


# No shrinking: each example copies a backup set; a failure prints its layout as drawn.
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
@given(layout=layouts(), compress=st.sampled_from([None, None, "gz", "zst", "lz4", "xz"]))
def test_every_accepted_layout_round_trips(layout: Layout, compress: str | None,
                                           reference: Any,
                                           original: tuple[dict[str, Any], dict[str, Any]]
                                           ) -> None:
    work = Path(tempfile.mkdtemp(prefix="scrydon-drill-layout-"))
    try:
        relayout(reference.backups, DEFAULT_LAYOUT, work, layout, compress_wal=compress)
        cat = catalog_of(work, layout)
        found = inventory(cat)
        expected_inventory, expected_plan = original
        for store in ("dumps", "base", "objects", "warehouse", "master_key"):
            assert found[store] == expected_inventory[store], (store, layout)
        assert found["wal"] == expected_inventory["wal"], layout
        assert plan(cat) == expected_plan, layout
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("layout", [
    Layout(postgres_dump="pg/{db}/{ts}/{db}.pgdump", base_backup="pg/base-{ts}",
           wal_archive="pg/wal/archive", objects_replica="replica/{bucket}/objects/{key}",
           warehouse_table="starrocks/{database}/{table}/{ts}.sql",
           warehouse_manifest="starrocks-manifests/{ts}/manifest.json",
           master_key="keys/master-key.backup.yaml", timestamp_format="%Y%m%d%H%M%S",
           dump_timestamp_format="%Y-%m-%d_%H-%M-%S", warehouse_timestamp_format="%Y/%m/%d/%H%M%S"),
    Layout(postgres_dump="{ts}_dumps/{db}.{ts}.dump", base_backup="base/{ts}",
           wal_archive="wal", objects_replica="replica/{bucket}.r/{key}",
           warehouse_table="wh/{ts}/tbl-{table}.sql", warehouse_manifest="wh/{ts}/snapshot.json",
           master_key="mk.yaml", timestamp_format="%Y-%m-%d"),
], ids=["separate-trees", "day-stamps"])
def test_a_relaid_set_restores_the_same_content(layout: Layout, reference: Any) -> None:
    last = reference.meta["backup_runs"][-1]["stamp"]
    expected = reference.fingerprint(last)
    with private_run_root("sdl-") as root:
        work = root / "backups"
        relayout(reference.backups, DEFAULT_LAYOUT, work, layout, compress_wal="gz")
        rs = catalog_of(work, layout).choose_restore_set()
        cfg = resolve(environ={}, arguments={"scratch": {"root": str(root)}})
        with LocalProvider(cfg, Run.create(root)) as provider:
            ep = provider.endpoints
            result = RestoreEngine(ep).restore(rs)
            assert result.ok, result.errors
            assert {db: postgres_fingerprint(ep.postgres.conninfo(db))
                    for db in expected["postgres"]} == expected["postgres"]
            assert objects_fingerprint(ep.s3.client(), ["scrydon-kb", "scrydon-notebooks"]) \
                == expected["objects"]
            conn = ep.warehouse.connect()
            try:
                assert warehouse_fingerprint(conn, "scrydon_managed") == expected["warehouse"]
            finally:
                conn.close()


def test_patterns_that_cannot_round_trip_are_refused_when_the_config_loads() -> None:
    cases = {
        "postgres_dump": ("dumps/{db}{ts}.dump", "side by side"),
        "objects_replica": ("{bucket}/{key}", "also matches"),
        "warehouse_table": ("warehouse/{ts}/{table}", "also matches"),
        "timestamp_format": ("%H%M", "cannot date a backup"),
        "dump_timestamp_format": ("%Y-%m", "cannot date a backup"),
        "base_backup": ("postgres/base/{ts}/{db}", "unknown placeholder {db}"),
        "wal_archive": ("postgres/base", "contains the base backups"),
    }
    for key, (value, why) in cases.items():
        with pytest.raises(ConfigError) as err:
            resolve(environ={}, arguments={"backups": {key: value}})
        assert why in err.value.message and f"backups.{key}" in err.value.message, (key, err.value)
