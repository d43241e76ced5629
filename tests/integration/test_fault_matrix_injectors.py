"""Every injector on the real reference backups, verified with the real tools, fault by fault.

These are the per-fault attribution proofs the drill matrix relies on: the broken copy really
holds the damage the catalogue describes (the edited dump holds the changed row, pg_restore
and zlib refuse the damaged dump, pg_verifybackup refuses the base backup, the posture
checks name the WAL gap...), and the source is never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fixtures.faults as catalogue
from fixtures.faults import DumpEditor, FaultContext, Inputs, tree_digest
from fixtures.faults.content import OTHER_PASSWORD
from fixtures.faults.pitr import commits, pitr_target
from fixtures.faults.warehouse import truncate_rows
from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD
from harness.catalog.catalog import Catalog
from harness.catalog.posture import PostureChecker
from harness.catalog.source import DirectorySource
from harness.config import BackupsConfig, resolve
from harness.crypto import betterauth, dapr, license, masterkey
from harness.errors import RestoreError
from harness.restore.postgres import inspect_dump
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.tools import pgbin
from harness.tools.dumpinfo import read_dump_header
from tests.conftest import private_run_root

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    """A 0755 folder for servers and resources (PostgreSQL runs unprivileged as root)."""
    with private_run_root("sdf-") as root:
        yield root


@pytest.fixture(scope="module")
def editor(work: Path) -> Iterator[DumpEditor]:
    with DumpEditor(work / "pg16", major=16) as ed:
        yield ed


@pytest.fixture(scope="module")
def source_digest(reference: Any) -> Iterator[dict[str, str]]:
    """The reference backups' digest before this module; compared again after it."""
    before = tree_digest(reference.backups)
    yield before
    assert tree_digest(reference.backups) == before, "an injector touched the source"


@pytest.fixture()
def inject(reference: Any, editor: DumpEditor, work: Path, tmp_path: Path,
           source_digest: dict[str, str]) -> Iterator[Any]:
    made: list[FaultContext] = []

    def run(name: str, **extra: Any) -> FaultContext:
        inputs = Inputs(meta=reference.meta, editor=editor, work=work / "env", **extra)
        ctx = catalogue.get(name).inject(reference.backups, tmp_path / name, inputs)
        made.append(ctx)
        return ctx

    yield run
    for ctx in made:
        ctx.close()


def newest(ref: Any) -> str:
    return str(ref.meta["backup_runs"][-1]["stamp"])


def auth_dump(root: Path, run: str, db: str = "auth") -> Path:
    return root / "postgres" / "dumps" / run / f"{db}.dump"


def pg16_tool(name: str) -> str:
    return pgbin.find(16).tool(name)


def master_key(ref: Any) -> bytes:
    text = (ref.backups / "master-key" / "master-key.backup.yaml").read_text()
    return masterkey.load_master_key_backup(text).key


# -- dumps that a restore refuses ---------------------------------------------------------


def pg_restore_to_nowhere(path: Path) -> subprocess.CompletedProcess[str]:
    """Read every byte of a dump the way a restore does (data included), writing nothing."""
    return subprocess.run([pg16_tool("pg_restore"), "-f", os.devnull, str(path)],
                          capture_output=True, text=True, check=False)


def test_truncated_and_flipped_dumps_are_refused_by_pg_restore(reference: Any, inject: Any) -> None:
    run = newest(reference)
    assert pg_restore_to_nowhere(auth_dump(reference.backups, run)).returncode == 0
    cut = inject("dump-truncated")
    proc = pg_restore_to_nowhere(auth_dump(cut.backups, run))
    assert proc.returncode != 0 and "end of file" in proc.stderr
    flipped = inject("dump-bytes-flipped")
    proc = pg_restore_to_nowhere(auth_dump(flipped.backups, run))
    assert proc.returncode != 0 and "could not uncompress data" in proc.stderr
    # The table of contents is intact: the damage is found only by reading the data.
    assert subprocess.run([pg16_tool("pg_restore"), "-l", str(auth_dump(flipped.backups, run))],
                          capture_output=True, check=False).returncode == 0


def test_newer_major_dump_is_refused_by_a_pg16_server(reference: Any, editor: DumpEditor,
                                                      work: Path, tmp_path: Path) -> None:
    with DumpEditor(work / "pg18", major=18) as ed18:
        ctx = catalogue.get("postgres-newer-major").inject(
            reference.backups, tmp_path / "pg18", Inputs(editor18=ed18))
    path = auth_dump(ctx.backups, newest(reference))
    header = read_dump_header(path)
    assert header.server_major == header.pg_dump_major == 18 and header.dbname == "auth"
    assert ctx.drill_sets() == ["scratch.postgres_version=16"]
    with pytest.raises(RestoreError) as err:
        inspect_dump("auth", path, editor.endpoint)
    assert "PostgreSQL 18" in str(err.value) and "PostgreSQL 16" in str(err.value)


def test_scratch_without_pgvector_is_a_real_pg16_lacking_the_extension(inject: Any) -> None:
    ctx = inject("scratch-no-pgvector")
    bindir = Path(ctx.env[pgbin.EXTRA_BINDIRS_ENV])
    inst = pgbin._probe(bindir, "test")  # noqa: SLF001 - the probe the provider runs
    assert inst is not None and inst.major == 16 and not inst.has_pgvector
    assert "scratch.require_pgvector=false" in ctx.drill_sets()
    ctx.close()
    assert not bindir.exists()


# -- content faults: real dumps of a changed database ----------------------------------------


def query(editor: DumpEditor, path: Path, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return editor.query(path, sql, params)


def test_edited_dumps_are_real_pg_dumps_keeping_the_backup_time(reference: Any, inject: Any,
                                                                editor: DumpEditor) -> None:
    ctx = inject("users-empty")
    run = newest(reference)
    old, new = auth_dump(reference.backups, run), auth_dump(ctx.backups, run)
    header = read_dump_header(new)
    assert header.dbname == "auth" and header.pg_dump_major == 16
    assert new.stat().st_mtime == old.stat().st_mtime
    assert query(editor, new, 'SELECT count(*) FROM "user"') == [(0,)]
    assert query(editor, new, "SELECT count(*) FROM account") == [(0,)]
    before = query(editor, old, "SELECT count(*) FROM audit_log")
    assert query(editor, new, "SELECT count(*) FROM audit_log") == before


def test_admin_missing_and_password_changed(reference: Any, inject: Any,
                                            editor: DumpEditor) -> None:
    run, email = newest(reference), reference.meta["admin_email"]
    gone = inject("admin-missing")
    users = 'SELECT count(*) FROM "user" WHERE email = %s'
    assert query(editor, auth_dump(gone.backups, run), users, (email,)) == [(0,)]
    assert query(editor, auth_dump(reference.backups, run), users, (email,)) == [(1,)]
    changed = inject("admin-password-changed")
    (stored,), = query(editor, auth_dump(changed.backups, run),
                       'SELECT a.password FROM account a JOIN "user" u ON u.id = a."userId" '
                       "WHERE u.email = %s AND a.\"providerId\" = 'credential'", (email,))
    assert betterauth.verify_password(stored, OTHER_PASSWORD)
    assert not betterauth.verify_password(stored, DEFAULT_ADMIN_PASSWORD)


def bundle(editor: DumpEditor, path: Path) -> str:
    (text,), = query(editor, path, "SELECT license_bundle FROM platform_config WHERE id = 1")
    return str(text)


def test_license_faults(reference: Any, inject: Any, editor: DumpEditor) -> None:
    run = newest(reference)
    issuer = license.generate_signing_key(reference.meta["seed"])
    now = dt.datetime.now(dt.timezone.utc)
    license.verify_license_bundle(bundle(editor, auth_dump(reference.backups, run)), now=now,
                                  trusted_public_key=issuer)
    expired = inject("license-expired")
    with pytest.raises(license.LicenseExpired) as err:
        # Signed by the reference's own issuer key: only the expiry is wrong.
        license.verify_license_bundle(bundle(editor, auth_dump(expired.backups, run)), now=now,
                                      trusted_public_key=issuer)
    assert err.value.report is not None and err.value.report.days_left < 0
    tampered = inject("license-bad-signature")
    with pytest.raises(license.LicenseSignatureInvalid):
        license.verify_license_bundle(bundle(editor, auth_dump(tampered.backups, run)), now=now)


def test_org_missing_from_auth_is_still_used_elsewhere(reference: Any, inject: Any,
                                                       editor: DumpEditor) -> None:
    ctx = inject("org-missing-from-auth")
    run, org = newest(reference), ctx.details["org"]
    assert org in reference.meta["organisations"]
    assert query(editor, auth_dump(ctx.backups, run),
                 "SELECT count(*) FROM organization WHERE id = %s", (org,)) == [(0,)]
    assert query(editor, auth_dump(ctx.backups, run, "agentic"),
                 "SELECT count(*) > 0 FROM workflow WHERE organization_id = %s",
                 (org,)) == [(True,)]
    licensed = json.loads(bundle(editor, auth_dump(ctx.backups, run)))
    import jwt

    assert jwt.decode(licensed["jwt"], options={"verify_signature": False})["scrydon.org"] != org


def test_audit_stale_leaves_nothing_of_the_last_day(reference: Any, inject: Any,
                                                    editor: DumpEditor) -> None:
    ctx = inject("audit-stale")
    run = newest(reference)
    backup_time = dt.datetime.fromisoformat(reference.meta["backup_runs"][-1]["taken_at"])
    (newest_event,), = query(editor, auth_dump(ctx.backups, run),
                             'SELECT max("createdAt") FROM audit_log')
    assert backup_time - newest_event > dt.timedelta(hours=30)
    (count,), = query(editor, auth_dump(ctx.backups, run), "SELECT count(*) FROM audit_log")
    assert count > 0 and ctx.details["deleted"] > 0


def test_secret_ciphertext_altered_fails_authentication_with_the_right_key(
        reference: Any, inject: Any, editor: DumpEditor) -> None:
    ctx = inject("secret-ciphertext-altered")
    rows = query(editor, auth_dump(ctx.backups, newest(reference)),
                 "SELECT id, ciphertext FROM secret ORDER BY id")
    key = master_key(reference)
    for sid, blob in rows:
        if sid == ctx.details["secret"]:
            with pytest.raises((dapr.SegmentAuthFailed, dapr.HeaderMacMismatch)):
                dapr.decrypt(bytes(blob), key)
        else:
            assert dapr.decrypt(bytes(blob), key)


def test_master_key_faults_against_the_real_ciphertexts(reference: Any, inject: Any,
                                                        editor: DumpEditor) -> None:
    (blob,), = query(editor, auth_dump(reference.backups, newest(reference)),
                     "SELECT ciphertext FROM secret ORDER BY id LIMIT 1")
    different = inject("masterkey-different")
    key = masterkey.load_master_key_backup(
        (different.backups / "master-key" / "master-key.backup.yaml").read_text())
    with pytest.raises(dapr.KeyUnwrapFailed):
        dapr.decrypt(bytes(blob), key.key)
    hexed = inject("masterkey-hex")
    key = masterkey.load_master_key_backup(
        (hexed.backups / "master-key" / "master-key.backup.yaml").read_text())
    assert key.raw_value.decode() == master_key(reference).hex()
    with pytest.raises(dapr.DaprCryptoError):
        dapr.decrypt(bytes(blob), key.key)


# -- PITR: base backup and WAL -------------------------------------------------------------


def test_altered_base_backup_fails_pg_verifybackup(reference: Any, inject: Any) -> None:
    ctx = inject("basebackup-altered")
    base = ctx.backups / ctx.details["base"]
    proc = subprocess.run([pg16_tool("pg_verifybackup"), "-n", str(base)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode != 0 and "checksum mismatch" in proc.stderr
    assert ctx.details["path"] in proc.stderr


def posture(root: Path, now: dt.datetime | None = None) -> PostureChecker:
    cat = Catalog(DirectorySource(root), BackupsConfig(source=str(root)))
    return PostureChecker(cat, now=now)


def test_posture_names_the_missing_segment_the_stale_set_and_the_missing_dump(
        reference: Any, inject: Any) -> None:
    assert posture(reference.backups).wal_checks()[0].ok
    gap = inject("wal-segment-missing")
    finding = posture(gap.backups).wal_checks()[0]
    assert not finding.ok and gap.details["segment"] in finding.message
    stale = inject("set-stale")
    finding = posture(stale.backups).dump_freshness()
    assert not finding.ok and "h old" in finding.message
    missing = inject("dump-missing")
    finding = posture(missing.backups).dump_completeness()
    assert not finding.ok and "cortex" in finding.message


def test_archive_ending_early_cannot_reach_the_target_the_clean_archive_reaches(
        reference: Any, inject: Any, work: Path) -> None:
    target = pitr_target(reference.backups)
    ctx = inject("wal-ends-early")
    assert ctx.drill_sets() == [f"drill.pitr_target={target.isoformat()}"]
    assert commits(ctx.backups)[-1].at < target < commits(reference.backups)[-1].at
    cfg = resolve(environ={})
    base = sorted((reference.backups / "postgres" / "base").iterdir())[-1]
    with LocalProvider(cfg, Run.create(work), stores=()) as provider:
        _, proof = provider.recover_postgres(base, reference.backups / "postgres" / "wal",
                                             target)
        assert proof.promoted and "recovery stopping before commit" in proof.stopped
    with LocalProvider(cfg, Run.create(work), stores=()) as provider, \
            pytest.raises(RestoreError, match="ends before the recovery target"):
        provider.recover_postgres(ctx.backups / "postgres" / "base" / base.name,
                                  ctx.backups / "postgres" / "wal", target)


# -- warehouse -----------------------------------------------------------------------------------


def test_truncated_snapshot_is_what_mariadb_dump_writes_of_the_truncated_table(
        reference: Any, inject: Any, work: Path) -> None:
    ctx = inject("warehouse-rows-truncated")
    run, table = newest(reference), ctx.details["table"]
    orig = reference.backups / "warehouse" / run / "scrydon_managed" / f"{table}.sql"
    keep = ctx.details["rows_after"]
    cfg = resolve(environ={}, arguments={"scratch": {"root": str(work)}})
    with LocalProvider(cfg, Run.create(work), stores=("warehouse",)) as wh_env:
        wh = wh_env.endpoints.warehouse
        assert wh is not None
        conn: Any = wh.connect()
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE scrydon_managed CHARACTER SET utf8mb4")
        conn.close()
        client = shutil.which("mariadb") or "mysql"
        login = ["--no-defaults", "-h", wh.host, "-P", str(wh.port), "-u", wh.user]
        env = {"MYSQL_PWD": wh.password, "PATH": os.environ["PATH"]}
        with orig.open("rb") as fh:
            subprocess.run([client, *login, "scrydon_managed"], stdin=fh, env=env, check=True)
        conn = wh.connect("scrydon_managed")
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM `{table}` WHERE id > %s", (keep,))
        conn.close()
        dump_bin = shutil.which("mariadb-dump") or "mysqldump"
        real = subprocess.run([dump_bin, *login, "--single-transaction", "--skip-dump-date",
                               "--order-by-primary", "--default-character-set=utf8mb4",
                               "scrydon_managed", table], env=env, capture_output=True,
                              check=True).stdout
    ours = (ctx.backups / "warehouse" / run / "scrydon_managed" / f"{table}.sql").read_bytes()
    assert ours == truncate_rows(orig.read_bytes(), keep)
    assert ours == real
