"""The fault catalogue without servers: registry, safe copies, file injectors, matrix logic.

Each file-level injector runs on a synthetic backup set laid out like the reference's and is
checked for exactly the damage it claims (and nothing in the source changes). Faults that
need PostgreSQL or MariaDB are covered in tests/integration/test_fault_matrix_injectors.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import zlib
from pathlib import Path

import pytest

import fixtures.faults as catalogue
from fixtures.faults import FaultContext, FaultError, Inputs, copy_backups, tree_digest
from fixtures.faults.base import Expectation
from fixtures.faults.files import compressed_chunks
from fixtures.faults.warehouse import count_rows, parse_inserts, truncate_rows
from harness.crypto import masterkey
from harness.layout import DEFAULT_LAYOUT

DBS = ("auth", "agentic", "analytics", "cortex", "ontology")
ANCHOR = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.timezone.utc)
RUNS = [DEFAULT_LAYOUT.stamp(ANCHOR - dt.timedelta(days=d)) for d in (2, 1, 0)]
KEY = bytes(range(32))
SEG = 1 << 20

# The classes of broken backup the catalogue must cover, one stable name per class.
REQUIRED_CLASSES = {
    "truncated dump": "dump-truncated", "flipped bytes": "dump-bytes-flipped",
    "one dump missing": "dump-missing",
    **{f"{db} dump from an older run": f"dump-skewed-{db}"
       for db in ("auth", "agentic", "analytics", "cortex", "ontology")},
    "set older than the cadence": "set-stale", "missing WAL segment": "wal-segment-missing",
    "WAL ends before the PITR target": "wal-ends-early",
    "base-backup file altered": "basebackup-altered", "master key missing": "masterkey-missing",
    "different master key": "masterkey-different", "key stored as hex": "masterkey-hex",
    "secret ciphertext altered": "secret-ciphertext-altered",
    "KB blob missing": "kb-blob-missing", "KB blob altered": "kb-blob-altered",
    "notebook missing": "notebook-missing", "managed table missing": "warehouse-table-missing",
    "warehouse rows truncated": "warehouse-rows-truncated",
    "audit older than a day": "audit-stale", "license expired": "license-expired",
    "license signature invalid": "license-bad-signature", "admin missing": "admin-missing",
    "admin password changed": "admin-password-changed",
    "organisation missing from auth": "org-missing-from-auth",
    "newer PostgreSQL major": "postgres-newer-major",
    "pgvector absent": "scratch-no-pgvector", "empty user table": "users-empty",
}


# -- a synthetic backup set ---------------------------------------------------------------


def fake_dump(db: str, payload: bytes) -> bytes:
    """Bytes shaped like pg_dump -Fc: a header and TOC text, then one length-prefixed zlib
    chunk of table data (what compressed_chunks looks for)."""
    body = zlib.compress(payload, 6)
    toc = f"PGDMP fake archive of {db}; CREATE TABLE x (a int); ".encode() * 4
    return toc + b"\x00" + len(body).to_bytes(4, "little") + body + b"\x00" * 8


def mysqldump(table: str, rows: list[tuple[int, str]], *, per_statement: int = 1000) -> bytes:
    """Text shaped like mariadb-dump --order-by-primary output of one table."""
    head = (f"-- MariaDB dump\n/*!40101 SET NAMES utf8mb4 */;\nDROP TABLE IF EXISTS `{table}`;\n"
            f"CREATE TABLE `{table}` (\n  `id` bigint(20) NOT NULL,\n  `label` text,\n"
            f"  PRIMARY KEY (`id`)\n);\nLOCK TABLES `{table}` WRITE;\n"
            f"/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;\n")
    body = ""
    for i in range(0, len(rows), per_statement):
        chunk = rows[i:i + per_statement]
        body += f"INSERT INTO `{table}` VALUES\n" + ",\n".join(
            f"({n},'{label}')" for n, label in chunk) + ";\n"
    tail = (f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;\nUNLOCK TABLES;\n\n"
            "-- Dump completed\n")
    return (head + body + tail).encode()


def put(path: Path, data: bytes, when: dt.datetime | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))


def synthetic_backups(root: Path) -> Path:
    """Three daily runs of every store in the default layout (no real dumps)."""
    b = root / "backups"
    for i, run in enumerate(RUNS):
        when = DEFAULT_LAYOUT.parse_stamp(run)
        for db in DBS:
            put(b / DEFAULT_LAYOUT.postgres_dump.format(ts=run, db=db),
                fake_dump(db, f"{db} rows of day {i} ".encode() * 200), when)
        tables = {}
        for t in ("t_a", "t_b"):
            data = mysqldump(t, [(n, f"row {n} day {i}") for n in range(1, 21 + 10 * i)])
            rel = f"scrydon_managed/{t}.sql"
            put(b / "warehouse" / run / rel, data, when)
            tables[t] = {"file": rel, "rows": count_rows(data),
                         "md5": hashlib.md5(data).hexdigest()}  # noqa: S324
        put(b / DEFAULT_LAYOUT.warehouse_manifest.format(ts=run),
            json.dumps({"format": "mysqldump-per-table/v1", "database": "scrydon_managed",
                        "taken_at": when.isoformat(), "tables": tables}).encode(), when)
    base = b / DEFAULT_LAYOUT.base_backup.format(ts=RUNS[0])
    put(base / "PG_VERSION", b"16\n")
    put(base / "backup_label", b"START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n"
        b"CHECKPOINT LOCATION: 0/3000060\nSTART TIMELINE: 1\n")
    put(base / "base" / "1" / "1247", bytes(range(256)) * 64)
    put(base / "base" / "1" / "small", b"tiny")
    for n in range(1, 7):
        put(b / DEFAULT_LAYOUT.wal_archive / f"0000000100000000000000{n:02X}", b"\0" * SEG)
    for bucket, keys in (("scrydon-kb", ["org/o1/kb/k1/doc_a.txt", "org/o1/kb/k1/doc_b.bin"]),
                         ("scrydon-notebooks", ["org/o1/notebooks/notebook-0.py"])):
        for key in keys:
            put(b / "objects" / bucket / key, f"content of {key}".encode() * 20)
    put(b / DEFAULT_LAYOUT.master_key,
        masterkey.dump_master_key_backup(KEY, encode="base64").encode())
    return b


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    return synthetic_backups(tmp_path / "src")


def inject(name: str, source: Path, tmp_path: Path, **inputs: object) -> FaultContext:
    """Inject ``name`` into a copy and prove the source did not change."""
    before = tree_digest(source)
    ctx = catalogue.get(name).inject(source, tmp_path / "copy", Inputs(**inputs))  # type: ignore[arg-type]
    assert tree_digest(source) == before, f"{name} changed the source"
    assert ctx.backups == (tmp_path / "copy").resolve() and ctx.changed
    return ctx


# -- the registry ------------------------------------------------------------------------------


def test_catalogue_covers_every_required_class_once() -> None:
    assert sorted(catalogue.NAMES) == sorted(REQUIRED_CLASSES.values())
    assert len(set(catalogue.NAMES)) == len(catalogue.NAMES)
    assert len(catalogue.NAMES) + len(catalogue.CLUSTER_NAMES) == len(catalogue.REGISTRY)
    assert {catalogue.get(n).category for n in catalogue.CLUSTER_NAMES} == {"cluster"}
    assert not {catalogue.get(n).category for n in catalogue.NAMES} & {"cluster"}
    for name in catalogue.NAMES:
        f = catalogue.get(name)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert f.title and len(f.description) > 40, name
        assert f.category in catalogue.CATEGORIES
        assert f.expected, f"{name} names no check that must catch it"
        for exp in f.expected:
            assert re.fullmatch(r"[a-z_]+\.[a-z_-]+", exp.check), exp.check
            assert exp.message and all(m.strip() for m in exp.message), name
        assert not set(f.must_pass) & set(f.expected_checks)


def test_every_check_the_catalogue_names_is_a_drill_check() -> None:
    from harness.profile import CHECK_IDS

    named = {c for n in catalogue.NAMES for c in (*catalogue.get(n).expected_checks,
                                                   *catalogue.get(n).must_pass)}
    assert named <= set(CHECK_IDS), sorted(named - set(CHECK_IDS))


def test_unknown_fault_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="dump-truncated"):
        catalogue.get("no-such-fault")


def test_expectation_fills_details_and_matches_case_insensitively() -> None:
    exp = Expectation("restore.postgres", ("{database}", "Truncated", "{unknown}"))
    ctx = FaultContext(fault="x", backups=Path("/x"), details={"database": "auth"})
    assert exp.fragments(ctx) == ("auth", "Truncated", "{unknown}")
    assert exp.missing_from("AUTH dump is truncated {unknown}", ctx) == []
    assert exp.missing_from("the cortex dump is fine", ctx) == ["auth", "Truncated",
                                                                "{unknown}"]


def test_context_overrides_and_cleanup(tmp_path: Path) -> None:
    ctx = FaultContext(fault="x", backups=tmp_path)
    ctx.set_config("scratch", "require_pgvector", False)
    ctx.set_config("drill", "pitr_target", "2026-11-24T05:50:17+00:00")
    assert ctx.drill_sets() == ["drill.pitr_target=2026-11-24T05:50:17+00:00",
                                "scratch.require_pgvector=false"]
    res = tmp_path / "resource"
    (res / "bin").mkdir(parents=True)
    ctx.resources.append(res)
    ctx.close()
    assert not res.exists()


# -- never the original --------------------------------------------------------------------


def test_copy_refuses_the_source_itself_or_anything_inside_or_around_it(source: Path,
                                                                        tmp_path: Path) -> None:
    before = tree_digest(source)
    for dst in (source, source / "postgres" / "copy", source.parent, tmp_path):
        with pytest.raises(FaultError):
            copy_backups(source, dst)
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(FaultError, match="exists already"):
        copy_backups(source, existing)
    with pytest.raises(FaultError):
        catalogue.get("dump-truncated").inject(source, source / "x")
    assert tree_digest(source) == before


def test_copy_keeps_content_modes_and_mtimes(source: Path, tmp_path: Path) -> None:
    dst = copy_backups(source, tmp_path / "copy")
    assert tree_digest(dst) == tree_digest(source)


def test_tree_digest_sees_a_mere_touch(source: Path) -> None:
    before = tree_digest(source)
    os.utime(source / DEFAULT_LAYOUT.master_key, (1, 1))
    assert tree_digest(source) != before


# -- file injectors on the synthetic set ----------------------------------------------------


def dump(root: Path, run: str, db: str) -> Path:
    return root / DEFAULT_LAYOUT.postgres_dump.format(ts=run, db=db)


def test_dump_truncated_cuts_the_newest_auth_dump(source: Path, tmp_path: Path) -> None:
    ctx = inject("dump-truncated", source, tmp_path)
    orig, cut = dump(source, RUNS[-1], "auth"), dump(ctx.backups, RUNS[-1], "auth")
    assert cut.read_bytes() == orig.read_bytes()[: int(orig.stat().st_size * 0.6)]
    assert cut.stat().st_mtime == orig.stat().st_mtime
    assert ctx.details["database"] == "auth" and ctx.details["run"] == RUNS[-1]
    assert dump(ctx.backups, RUNS[-2], "auth").read_bytes() == dump(source, RUNS[-2],
                                                                    "auth").read_bytes()


def test_dump_bytes_flipped_breaks_the_compressed_data_only(source: Path,
                                                             tmp_path: Path) -> None:
    ctx = inject("dump-bytes-flipped", source, tmp_path)
    orig = dump(source, RUNS[-1], "auth").read_bytes()
    broken = dump(ctx.backups, RUNS[-1], "auth").read_bytes()
    assert len(broken) == len(orig)
    (start, length), = compressed_chunks(orig)
    diff = [i for i in range(len(orig)) if orig[i] != broken[i]]
    assert diff and start < diff[0] and diff[-1] < start + length
    with pytest.raises(zlib.error):
        zlib.decompress(broken[start:start + length])


def test_compressed_chunks_ignore_lookalikes_in_text() -> None:
    data = b"text \x00\x10\x00\x00\x00\x78\x9c not zlib at all " + fake_dump("auth", b"x" * 500)
    chunks = compressed_chunks(data)
    assert len(chunks) == 1 and zlib.decompress(data[chunks[0][0]:sum(chunks[0])])


def test_dump_missing_removes_one_database_of_the_newest_run(source: Path,
                                                             tmp_path: Path) -> None:
    ctx = inject("dump-missing", source, tmp_path)
    assert not dump(ctx.backups, RUNS[-1], "cortex").exists()
    assert all(dump(ctx.backups, RUNS[-1], db).exists() for db in DBS if db != "cortex")
    assert all(dump(ctx.backups, r, "cortex").exists() for r in RUNS[:-1])


@pytest.mark.parametrize("db", ["auth", "agentic", "analytics", "cortex", "ontology"])
def test_dump_skewed_puts_the_oldest_runs_file_under_todays_name(source: Path, tmp_path: Path,
                                                                  db: str) -> None:
    ctx = inject(f"dump-skewed-{db}", source, tmp_path)
    assert ctx.details["database"] == db
    skewed = dump(ctx.backups, RUNS[-1], db)
    assert skewed.read_bytes() == dump(source, RUNS[0], db).read_bytes()
    assert skewed.stat().st_mtime == dump(source, RUNS[-1], db).stat().st_mtime
    assert ctx.details["from_run"] == RUNS[0]
    others = [d for d in DBS if d != db]
    assert all(dump(ctx.backups, RUNS[-1], d).read_bytes() == dump(source, RUNS[-1], d)
               .read_bytes() for d in others)


def test_set_stale_drops_runs_until_the_newest_is_older_than_the_cadence(
        source: Path, tmp_path: Path) -> None:
    now = ANCHOR + dt.timedelta(hours=1)
    ctx = inject("set-stale", source, tmp_path, now=now)
    left = sorted(p.name for p in (ctx.backups / "postgres" / "dumps").iterdir())
    assert left == RUNS[:1] and ctx.details["dropped"] == RUNS[1:]
    assert sorted(p.name for p in (ctx.backups / "warehouse").iterdir()) == RUNS[:1]
    assert ctx.details["age_hours"] > 26
    with pytest.raises(FaultError, match="no run older"):
        catalogue.get("set-stale").inject(source, tmp_path / "c2",
                                          Inputs(now=ANCHOR - dt.timedelta(days=3)))


def test_wal_segment_missing_opens_a_gap_after_the_base_backup(source: Path,
                                                               tmp_path: Path) -> None:
    ctx = inject("wal-segment-missing", source, tmp_path)
    seg = ctx.details["segment"]
    wal = ctx.backups / DEFAULT_LAYOUT.wal_archive
    assert not (wal / seg).exists() and (source / DEFAULT_LAYOUT.wal_archive / seg).exists()
    names = sorted(p.name for p in wal.iterdir())
    assert seg > "000000010000000000000003" and names[-1] > seg  # inside, not at the end


def test_basebackup_altered_keeps_size_and_changes_content(source: Path,
                                                           tmp_path: Path) -> None:
    ctx = inject("basebackup-altered", source, tmp_path)
    rel = Path(ctx.details["base"]) / ctx.details["path"]
    orig, changed = (source / rel).read_bytes(), (ctx.backups / rel).read_bytes()
    assert len(orig) == len(changed) and orig != changed
    assert ctx.details["path"] == "base/1/1247"  # the small file is never chosen


def key_of(root: Path) -> masterkey.MasterKeyBackup:
    return masterkey.load_master_key_backup((root / DEFAULT_LAYOUT.master_key).read_text())


def test_master_key_faults(source: Path, tmp_path: Path) -> None:
    ctx = inject("masterkey-missing", source, tmp_path / "a")
    assert not (ctx.backups / DEFAULT_LAYOUT.master_key).exists()
    ctx = inject("masterkey-different", source, tmp_path / "b")
    other = key_of(ctx.backups)
    assert len(other.key) == 32 and other.key != KEY and other.kek_problem() is None
    assert other.name == "master-key" and other.namespace == "scrydon-platform"
    ctx = inject("masterkey-hex", source, tmp_path / "c")
    hexed = key_of(ctx.backups)
    assert hexed.raw_value == KEY.hex().encode() and len(hexed.key) == 48
    assert "hex" in (hexed.kek_problem() or "")


def test_object_faults_hit_one_object_each(source: Path, tmp_path: Path) -> None:
    ctx = inject("kb-blob-missing", source, tmp_path / "a")
    assert not (ctx.backups / "objects" / ctx.details["object"]).exists()
    assert ctx.details["key"] == "org/o1/kb/k1/doc_a.txt"
    ctx = inject("kb-blob-altered", source, tmp_path / "b")
    new = (ctx.backups / "objects" / ctx.details["object"]).read_bytes()
    old = (source / "objects" / ctx.details["object"]).read_bytes()
    assert len(new) == len(old) and new != old
    ctx = inject("notebook-missing", source, tmp_path / "c")
    assert ctx.details["object"].startswith("scrydon-notebooks/")
    assert not (ctx.backups / "objects" / ctx.details["object"]).exists()


def manifest(root: Path, run: str) -> dict[str, dict[str, dict[str, object]]]:
    data: dict[str, dict[str, dict[str, object]]] = json.loads(
        (root / DEFAULT_LAYOUT.warehouse_manifest.format(ts=run)).read_text())
    return data


def assert_snapshot_consistent(root: Path, run: str) -> None:
    """Every manifest entry's file exists with the recorded MD5 and row count."""
    for table, entry in manifest(root, run)["tables"].items():
        data = (root / "warehouse" / run / str(entry["file"])).read_bytes()
        assert hashlib.md5(data).hexdigest() == entry["md5"], table  # noqa: S324
        assert count_rows(data) == entry["rows"], table


def test_warehouse_table_missing_leaves_a_self_consistent_snapshot(source: Path,
                                                                   tmp_path: Path) -> None:
    ctx = inject("warehouse-table-missing", source, tmp_path)
    table = ctx.details["table"]
    assert table not in manifest(ctx.backups, RUNS[-1])["tables"]
    assert not (ctx.backups / "warehouse" / RUNS[-1] / "scrydon_managed" / f"{table}.sql").exists()
    assert_snapshot_consistent(ctx.backups, RUNS[-1])


def test_warehouse_rows_truncated_updates_the_manifest_like_a_real_snapshot(
        source: Path, tmp_path: Path) -> None:
    ctx = inject("warehouse-rows-truncated", source, tmp_path)
    entry = manifest(ctx.backups, RUNS[-1])["tables"][ctx.details["table"]]
    assert entry["rows"] == ctx.details["rows_after"] == ctx.details["rows_before"] // 2
    assert_snapshot_consistent(ctx.backups, RUNS[-1])


def test_content_faults_ask_for_a_dump_editor(source: Path, tmp_path: Path) -> None:
    for name in ("admin-missing", "license-expired", "users-empty"):
        with pytest.raises(FaultError, match="DumpEditor"):
            catalogue.get(name).inject(source, tmp_path / name)
    with pytest.raises(FaultError, match="PostgreSQL 18"):
        catalogue.get("postgres-newer-major").inject(source, tmp_path / "pg18")


# -- warehouse text surgery -------------------------------------------------------------------


def test_truncate_rows_respects_quotes_escapes_and_statement_splits() -> None:
    tricky = ["a),(b", "it''s", "back\\'slash", "semi;colon", "paren (x)", "line\\nbreak"]
    rows = [(n, tricky[n % len(tricky)]) for n in range(1, 26)]
    data = mysqldump("t", rows, per_statement=7)
    assert [len(s.rows) for s in parse_inserts(data)] == [7, 7, 7, 4]
    assert count_rows(data) == 25
    for keep in (1, 7, 8, 14, 24, 25):
        assert truncate_rows(data, keep) == mysqldump("t", rows[:keep], per_statement=7), keep
    with pytest.raises(ValueError):
        truncate_rows(data, 0)
    with pytest.raises(ValueError):
        truncate_rows(data, 26)


def test_truncate_rows_handles_single_line_extended_inserts() -> None:
    data = (b"LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES (1,'a'),(2,'b'),(3,'c');\n"
            b"UNLOCK TABLES;\n")
    assert truncate_rows(data, 2) == (b"LOCK TABLES `t` WRITE;\nINSERT INTO `t` VALUES "
                                      b"(1,'a'),(2,'b');\nUNLOCK TABLES;\n")
