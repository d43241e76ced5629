"""The drill suites, run for real (``python -m pytest drills``) on the reference backups.

One healthy run must pass every check. Then copies of the backups are broken, each in the
ways its checks guard against, and the drills must fail exactly those checks with messages
that name what is wrong. Breakages that do not interfere share one copy, and all runs go in
parallel (each has its own scratch environment), to keep this affordable:

* healthy   the reference as built (plus a deployed better-auth for signin.deployed)
* data      admin password changed, license expired, a workflow definition damaged, an
            unknown organisation id in agentic, a master key of another cluster
* stores    a KB blob deleted and another altered, a notebook deleted, a warehouse table
            dropped from the snapshot, one secret's ciphertext tampered with
* setup     master key stored as hex, the user table emptied, the last 30 h of audit deleted
* restore   every store fails to restore (truncated dump, no replica, altered warehouse file,
            no master-key backup)
* profile   healthy backups, a profile with impossible thresholds, disabled checks and a
            query the restored schema rejects, and an unreachable drill.scratch_url

``reference.backups`` is never modified (checked at the end).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD
from harness.config import resolve
from harness.crypto import betterauth, license, masterkey
from harness.scratch.local import LocalProvider
from harness.scratch.run import Run
from harness.scratch.sweep import sweep

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 420
PARALLEL = 3
AMCHECK_MISSING = "lacks contrib's amcheck"
ALL_CHECKS = {
    "restore.postgres", "restore.objects", "restore.warehouse", "restore.master-key",
    "signin.offline", "signin.live", "workflow.open", "kb.documents", "managed_tables.open",
    "audit.yesterday", "secrets.decrypt", "license.valid", "consistency.organisations",
    "consistency.kb_blobs", "consistency.notebooks", "consistency.warehouse_freshness",
    "consistency.users", "integrity.amcheck"}
# Checks on the backup source itself (posture, base backup): always run; their verdicts are
# asserted here where a scenario states them, and fault by fault in the fault matrix.
BACKUP_CHECKS = {
    "integrity.basebackup", "posture.dump-freshness", "posture.dump-retention",
    "posture.dump-completeness", "posture.wal-continuity", "posture.wal-retention",
    "posture.warehouse-retention", "posture.objects-replica", "posture.master-key"}


# -- helpers ------------------------------------------------------------------------------------


def private_dir(prefix: str) -> Path:
    """A 0755 temporary folder (the scratch PostgreSQL runs as another user)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def copy_backups(src: Path, dst: Path) -> Path:
    """Copy the backups; the base backup and WAL archive (never modified here) are linked."""
    def link_or_copy(s: str, d: str) -> None:
        rel = Path(s).relative_to(src).as_posix()
        if rel.startswith(("postgres/base/", "postgres/wal/")):
            try:
                os.link(s, d)
                return
            except OSError:
                pass
        shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=link_or_copy)
    return dst


class DumpEditor:
    """Restores a dump into a private PostgreSQL, runs SQL on it, and dumps it back."""

    def __init__(self, endpoint: Any) -> None:
        self.pg = endpoint

    def edit(self, dump: Path, database: str, statements: list[tuple[str, tuple[Any, ...]]]
             ) -> list[list[tuple[Any, ...]]]:
        """Apply ``statements`` to the dump's data; returns each statement's rows."""
        env = {**os.environ, **self.pg.env()}
        with psycopg.connect(**self.pg.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
            conn.execute(f'CREATE DATABASE "{database}"')
        subprocess.run([self.pg.tool("pg_restore"), "--no-owner", "--exit-on-error", "-d",
                        database, str(dump)], env=env, check=True, capture_output=True)
        results = []
        with psycopg.connect(**self.pg.conninfo(database), autocommit=True) as conn:
            for sql, params in statements:
                cur = conn.execute(sql, params)  # type: ignore[arg-type]
                results.append(cur.fetchall() if cur.description else [])
        tmp = dump.with_suffix(".edited")
        subprocess.run([self.pg.tool("pg_dump"), "-Fc", "-Z", "6", "-f", str(tmp), "-d",
                        database], env=env, check=True, capture_output=True)
        os.replace(tmp, dump)
        return results


@dataclasses.dataclass
class DrillRun:
    """One ``pytest drills`` subprocess and its evidence."""

    name: str
    returncode: int
    output: str
    seconds: float
    evidence: dict[str, Any]
    facts: dict[str, Any]
    folder: Path | None = None  # the report folder the run wrote

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["id"]: c for c in self.evidence.get("checks", [])}

    def verdicts(self) -> dict[str, str]:
        return {cid: c["verdict"] for cid, c in self.checks.items()}

    def message(self, check_id: str) -> str:
        return self.checks[check_id]["message"]

    def explain(self) -> str:
        lines = [f"{cid}: {c['verdict']}: {c['message'][:300]}" for cid, c in self.checks.items()]
        return "\n".join(lines) + "\n--- output tail ---\n" + self.output[-3000:]


def assert_verdicts(run: DrillRun, failing: set[str], *, present: set[str] = ALL_CHECKS,
                    unverified: frozenset[str] | set[str] = frozenset(),
                    backup_failing: set[str] | None = None) -> None:
    """Exactly ``failing`` fail, ``unverified`` are could-not-verify, the rest of ``present``
    pass; integrity.amcheck may be could-not-verify where the server lacks amcheck. The
    backup-source checks must be present too; with ``backup_failing`` given, exactly those
    of them fail."""
    got = run.verdicts()
    assert set(got) == present | BACKUP_CHECKS, f"checks run: {sorted(got)}\n{run.explain()}"
    if backup_failing is None:
        got = {k: v for k, v in got.items() if k not in BACKUP_CHECKS}
    else:
        failing = failing | backup_failing
    for cid, verdict in got.items():
        if cid in failing:
            expected = "fail"
        elif cid in unverified:
            expected = "could-not-verify"
        elif cid == "integrity.amcheck" and verdict == "could-not-verify":
            assert AMCHECK_MISSING in run.message(cid), run.explain()
            continue
        else:
            expected = "pass"
        assert verdict == expected, f"{cid} is {verdict}, expected {expected}\n{run.explain()}"


# -- breaking copies ----------------------------------------------------------------------------


def stamp_of(reference: Any) -> tuple[str, dt.datetime]:
    last = reference.meta["backup_runs"][-1]
    return last["stamp"], dt.datetime.fromisoformat(last["taken_at"])


def master_key_of(backups: Path) -> bytes:
    text = (backups / "master-key" / "master-key.backup.yaml").read_text()
    return masterkey.load_master_key_backup(text).key


def break_data(copy: Path, reference: Any, editor: DumpEditor) -> dict[str, Any]:
    """Wrong admin password, expired license, damaged workflow, unknown org, foreign key."""
    stamp, at = stamp_of(reference)
    dumps = copy / "postgres" / "dumps" / stamp
    expired = license.make_license_bundle(
        license.generate_signing_key(), org=reference.meta["organisations"][0],
        tier="enterprise", exp=at - dt.timedelta(days=10), jti="lic_expired")
    editor.edit(dumps / "auth.dump", "auth", [
        ('UPDATE "account" SET password = %s WHERE "providerId" = \'credential\' AND "userId" = '
         '(SELECT id FROM "user" WHERE email = %s)',
         (betterauth.hash_password("not-the-drill-password"), reference.meta["admin_email"])),
        ("UPDATE platform_config SET license_bundle = %s", (expired,)),
    ])
    (workflow,), _ = editor.edit(dumps / "agentic.dump", "agentic", [
        ("UPDATE workflow SET definition = jsonb_build_object('name', name) "
         "WHERE id = (SELECT min(id) FROM workflow) RETURNING id, name", ()),
        ("INSERT INTO chat (id, organization_id, title, created_at) "
         "VALUES ('chat_ghost', 'org_ghost', 'Ghost', now())", ()),
    ])
    (copy / "master-key" / "master-key.backup.yaml").write_text(
        masterkey.dump_master_key_backup(os.urandom(32)))
    return {"workflow_id": workflow[0], "workflow_name": workflow[1]}


def break_stores(copy: Path, reference: Any, editor: DumpEditor) -> dict[str, Any]:
    """KB blobs deleted/altered, a notebook deleted, a warehouse table gone, a secret tampered."""
    stamp, _ = stamp_of(reference)
    docs = sorted((copy / "objects" / "scrydon-kb").rglob("doc_*"))
    deleted, altered = docs[0], docs[1]
    deleted.unlink()
    data = bytearray(altered.read_bytes())
    data[0] ^= 0xFF
    altered.write_bytes(bytes(data))
    notebook = sorted((copy / "objects" / "scrydon-notebooks").rglob("*.py"))[0]
    notebook.unlink()
    snapshot = copy / "warehouse" / stamp
    manifest = json.loads((snapshot / "snapshot.json").read_text())
    table = sorted(manifest["tables"])[-1]
    (snapshot / manifest["tables"].pop(table)["file"]).unlink()
    (snapshot / "snapshot.json").write_text(json.dumps(manifest, indent=2))
    ((secret,),) = editor.edit(copy / "postgres" / "dumps" / stamp / "auth.dump", "auth", [
        ("UPDATE secret SET ciphertext = set_byte(ciphertext, length(ciphertext) - 1, "
         "get_byte(ciphertext, length(ciphertext) - 1) # 1) "
         "WHERE id = (SELECT min(id) FROM secret) RETURNING id", ()),
    ])
    return {"deleted_doc": deleted.name.split(".")[0], "altered_doc": altered.name.split(".")[0],
            "notebook": notebook.relative_to(copy / "objects").as_posix(), "table": table,
            "secret": secret[0]}


def break_setup(copy: Path, reference: Any, editor: DumpEditor) -> dict[str, Any]:
    """The master key stored as hex, no users, no audit events in the last 30 hours."""
    stamp, at = stamp_of(reference)
    key = master_key_of(copy)
    (copy / "master-key" / "master-key.backup.yaml").write_text(
        masterkey.dump_master_key_backup(key, encode="hex"))
    editor.edit(copy / "postgres" / "dumps" / stamp / "auth.dump", "auth", [
        ('DELETE FROM "user"', ()),
        ('DELETE FROM audit_log WHERE "createdAt" > %s', (at - dt.timedelta(hours=30),)),
    ])
    return {}


def break_restore(copy: Path, reference: Any) -> dict[str, Any]:
    """Every store fails: truncated dump, no replica, altered snapshot file, no key backup."""
    stamp, _ = stamp_of(reference)
    dump = copy / "postgres" / "dumps" / stamp / "auth.dump"
    data = dump.read_bytes()
    dump.unlink()
    dump.write_bytes(data[: len(data) // 2])
    shutil.rmtree(copy / "objects")
    table_file = sorted((copy / "warehouse" / stamp).rglob("*.sql"))[0]
    with table_file.open("a") as fh:
        fh.write("-- altered after the snapshot\n")
    (copy / "master-key" / "master-key.backup.yaml").unlink()
    return {"table_file": table_file.name}


PROFILE_E = """\
[profile]
name = "impossible-thresholds"
extends = "reference"

[sampling]
seed = 1234

[checks]
disabled = ["integrity.amcheck", "consistency.notebooks"]

[workflow]
names = ["No Such Workflow"]

[kb]
sample_size = 2

[managed_tables]
p95_limit_seconds = 0.000000001

[audit]
rpo_hours = 0.001

[license]
min_days_left = 400

[consistency.warehouse_freshness]
max_skew_hours = 0.0001

[consistency.users]
sql = "SELECT count(*) FROM no_such_table"
"""


# -- running --------------------------------------------------------------------------------------


def run_drills(name: str, config: Path, work: Path, *, sets: dict[str, str],
               facts: dict[str, Any], extra: list[str] | None = None) -> DrillRun:
    """``python -m pytest drills`` in a subprocess with its own scratch root and reports."""
    root = private_dir(f"scrydon-drill-{name}-")
    reports = work / f"reports-{name}"
    argv = [sys.executable, "-m", "pytest", "drills", "-p", "no:cacheprovider", "-q", "-rA",
            "--drill-config", str(config), "--drill-set", f"scratch.root={root}",
            "--drill-set", f"report.dir={reports}",
            "--junitxml", str(work / f"junit-{name}.xml")]
    for key, value in sets.items():
        argv += ["--drill-set", f"{key}={value}"]
    argv += extra or []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
    # mariadb-install-db instances bootstrapping at once collide on temporary-table files in
    # a shared /tmp; each run gets its own.
    env["TMPDIR"] = str(root / "tmp")
    (root / "tmp").mkdir()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        output += f"\n[killed after {RUN_TIMEOUT} s]"
    finally:
        sweep(root, include_kept=True)
        shutil.rmtree(root, ignore_errors=True)
    found = sorted(reports.glob("*/evidence.json"))
    evidence = json.loads(found[-1].read_text()) if found else {}
    return DrillRun(name=name, returncode=proc.returncode, output=output,
                    seconds=time.monotonic() - t0, evidence=evidence, facts=facts,
                    folder=found[-1].parent if found else None)


@dataclasses.dataclass
class Deployed:
    """A better-auth server on its own PostgreSQL with the admin signed up: a stand-in for
    a Scrydon deployed on the restored stores."""

    url: str


def deployed_platform(stack: ExitStack, reference: Any, root: Path) -> Deployed:
    from harness.tools import betterauth_node as ba

    cfg = resolve(environ={}, arguments={"scratch": {"root": str(root),
                                                     "require_pgvector": False}})
    provider = LocalProvider(cfg, Run.create(str(root)), role="deployed",
                             stores=("postgres",), postgres_major=15)
    stack.callback(provider.stop)
    pg = provider.start().postgres
    assert pg is not None
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE auth")
    ba.migrate(pg.dsn("auth"))
    admin = tomllib.loads(reference.drill_config.read_text())["admin"]
    ba.signup(pg.dsn("auth"), admin["email"], admin["password"], "Drill Admin")
    with psycopg.connect(pg.dsn("auth"), autocommit=True) as conn:  # the platform's admin
        conn.execute('UPDATE "user" SET role = %s WHERE email = %s', ("admin", admin["email"]))
    server = stack.enter_context(ba.serve(pg.dsn("auth")))
    return Deployed(url=server.base_url)


@pytest.fixture(scope="module")
def drills(reference: Any) -> Iterator[dict[str, DrillRun]]:
    """Prepare the broken copies, then run every drill in parallel."""
    before = tree_hashes(reference.backups)
    work = private_dir("scrydon-drill-drills-")
    helpers = private_dir("scrydon-drill-helpers-")
    runs: dict[str, DrillRun] = {}
    try:
        copies = {name: copy_backups(reference.backups, work / name)
                  for name in ("data", "stores", "setup", "restore")}
        facts: dict[str, dict[str, Any]] = {}
        with ExitStack() as stack:
            cfg = resolve(environ={}, arguments={"scratch": {"root": str(helpers)}})
            # The editor runs the dumps' own major version (a dump restores only into it or newer).
            major = int(reference.meta["postgres"].split()[1].split(".")[0])
            editor_provider = LocalProvider(cfg, Run.create(str(helpers)), role="editor",
                                            stores=("postgres",), postgres_major=major)
            try:
                editor = DumpEditor(editor_provider.start().postgres)
                facts["data"] = break_data(copies["data"], reference, editor)
                facts["stores"] = break_stores(copies["stores"], reference, editor)
                facts["setup"] = break_setup(copies["setup"], reference, editor)
            finally:
                editor_provider.stop()
            facts["restore"] = break_restore(copies["restore"], reference)
            deployed = deployed_platform(stack, reference, helpers)
            profile = work / "impossible.toml"
            profile.write_text(PROFILE_E)
            plan: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
                "healthy": ({"drill.scratch_url": deployed.url}, {}),
                "profile": ({"drill.profile": str(profile),
                             "drill.scratch_url": "http://127.0.0.1:9"}, {}),
                **{name: ({"backups.source": str(path)}, facts[name])
                   for name, path in copies.items()},
            }

            def run(name: str) -> DrillRun:
                sets, run_facts = plan[name]
                return run_drills(name, reference.drill_config, work, sets=sets, facts=run_facts)

            with ThreadPoolExecutor(PARALLEL) as pool:
                runs = dict(zip(plan, pool.map(run, plan), strict=True))
        yield runs
    finally:
        sweep(helpers, include_kept=True)
        shutil.rmtree(helpers, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    assert tree_hashes(reference.backups) == before, "the reference backups were modified"


# -- the tests ----------------------------------------------------------------------------------


def record(measure: Callable[[str], None], run: DrillRun) -> None:
    verdicts = list(run.verdicts().values())
    measure(f"drill run '{run.name}': {run.seconds:.1f} s, {len(verdicts)} checks: "
            + ", ".join(f"{verdicts.count(v)} {v}" for v in ("pass", "fail", "could-not-verify")))


def test_the_healthy_reference_passes_every_check(drills: dict[str, DrillRun],
                                                  measure: Callable[[str], None]) -> None:
    run = drills["healthy"]
    record(measure, run)
    assert_verdicts(run, set(), present=ALL_CHECKS | {"signin.deployed"}, backup_failing=set())
    assert "the deployed Scrydon" in run.message("signin.deployed")
    audit = run.checks["audit.yesterday"]["measured"]
    assert 30 <= audit["rpo_seconds"] <= 300 and run.evidence["rpo_seconds"] == audit["rpo_seconds"]
    assert run.checks["kb.documents"]["measured"]["coverage_percent"] == 100.0
    assert run.checks["secrets.decrypt"]["measured"]["decrypted"] == 4
    assert any("platform profile 'reference'" in n for n in run.evidence["notes"])
    amcheck = run.checks["integrity.amcheck"]["verdict"]
    assert run.returncode == (0 if amcheck == "pass" else 2), run.explain()  # 2: unverified only
    password = DEFAULT_ADMIN_PASSWORD
    assert password not in run.output and password not in json.dumps(run.evidence)


def declared_stores() -> dict[str, tuple[str, ...] | None]:
    """check id -> the stores its drill_check marker declares (None: it declares none)."""
    import importlib

    out: dict[str, tuple[str, ...] | None] = {}
    for path in sorted((REPO / "drills").glob("test_*.py")):
        module = importlib.import_module(f"drills.{path.stem}")
        for value in vars(module).values():
            for mark in getattr(value, "pytestmark", []):
                if mark.name == "drill_check":
                    stores = mark.kwargs.get("stores")
                    out[mark.kwargs["id"]] = None if stores is None else tuple(stores)
    return out


def test_the_evidence_times_each_step_and_rto_ends_at_verification(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    """Provisioning, each store's restore and each check are phases of their own; no check
    absorbs the provisioning before it or the teardown after it; RTO excludes teardown."""
    ev = drills["healthy"].evidence

    def span(p: dict[str, Any]) -> tuple[float, float]:
        start = dt.datetime.fromisoformat(p["started_at"]).timestamp()
        return start, start + float(p["seconds"])

    phases = ev["phases"]
    provisions = [p for p in phases if (p["store"], p["name"]) == ("scratch", "provision")]
    restores = [p for p in phases if p["store"] in ("postgres", "objects", "warehouse")]
    checks = [p for p in phases if p["store"] == "checks"]
    (teardown,) = [p for p in phases if p["name"] == "teardown"]
    assert provisions and restores and checks
    assert "postgres, objects, warehouse ready" in provisions[0]["detail"]
    restored_at = max(span(p)[1] for p in restores)
    assert span(provisions[0])[1] <= min(span(p)[0] for p in restores) + 0.001
    # No check starts before the stores it declares were restored (all of them when it
    # declares none), none runs into teardown...
    ready = {store: max(span(p)[1] for p in phases if p["store"] == store)
             for store in ("master-key", "postgres", "objects", "warehouse")}
    declared = declared_stores()
    for check in checks:
        needs = declared.get(check["name"])
        for store in (ready if needs is None else needs):
            assert span(check)[0] >= ready[store] - 0.001, (check["name"], store)
    assert max(span(p)[1] for p in checks) <= span(teardown)[0] + 0.001
    # ...and the checks that can do run while the slower stores are still restoring.
    overlapping = [p["name"] for p in checks if span(p)[0] < restored_at]
    assert "restore.master-key" in overlapping and len(overlapping) >= 2, overlapping
    verified_at = max(span(p)[1] for p in checks)
    first = min(span(p)[0] for p in phases)
    assert ev["rto_seconds"] == pytest.approx(verified_at - first, abs=0.01)
    assert ev["rto_seconds"] < span(teardown)[1] - first
    measure(f"healthy drill: {len(overlapping)} checks ran while stores were still restoring; "
            f"provisioned in {provisions[0]['seconds']:.1f} s, restored "
            f"{restored_at - span(provisions[0])[1]:.1f} s later, RTO {ev['rto_seconds']:.1f} s, "
            f"teardown {teardown['seconds']:.1f} s (not in RTO)")


def test_damaged_platform_data_fails_the_checks_that_guard_it(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    run = drills["data"]
    record(measure, run)
    assert_verdicts(run, {"signin.offline", "signin.live", "license.valid", "workflow.open",
                          "consistency.organisations", "secrets.decrypt"})
    assert "does not verify against the restored better-auth credential hash" in \
        run.message("signin.offline")
    assert "HTTP 401 (INVALID_EMAIL_OR_PASSWORD)" in run.message("signin.live")
    assert "expired on" in run.message("license.valid")
    facts = run.facts
    assert f"{facts['workflow_name']} ({facts['workflow_id']}): definition lacks steps" in \
        run.message("workflow.open")
    assert "agentic.chat: org_ghost" in run.message("consistency.organisations")
    assert "4 of 4 encrypted secrets do not decrypt" in run.message("secrets.decrypt")
    assert "not the key they were encrypted with" in run.message("secrets.decrypt")
    assert any("signin.deployed was not run" in n for n in run.evidence["notes"])
    assert run.returncode == 1


def test_lost_or_altered_objects_tables_and_ciphertext_fail(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    run = drills["stores"]
    record(measure, run)
    assert_verdicts(run, {"kb.documents", "consistency.kb_blobs", "consistency.notebooks",
                          "managed_tables.open", "secrets.decrypt"},
                    backup_failing={"posture.objects-replica"})
    facts = run.facts
    kb = run.message("kb.documents")
    assert f"missing from the restored object store: {facts['deleted_doc']}" in kb
    assert f"{facts['altered_doc']} (" in kb and "SHA-256" in kb
    assert f"without its object: {facts['deleted_doc']}" in run.message("consistency.kb_blobs")
    assert facts["notebook"] in run.message("consistency.notebooks")
    assert "missing from the warehouse: " in run.message("managed_tables.open")
    assert facts["table"] in run.message("managed_tables.open")
    secrets_message = run.message("secrets.decrypt")
    assert f"1 row ({facts['secret']})" in secrets_message
    assert "modified or corrupted" in secrets_message
    assert "1 table missing from the warehouse left out" in \
        run.message("consistency.warehouse_freshness")


def test_hex_key_empty_users_and_stale_audit_fail(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    run = drills["setup"]
    record(measure, run)
    assert_verdicts(run, {"restore.master-key", "secrets.decrypt", "consistency.users",
                          "signin.offline", "signin.live", "audit.yesterday",
                          "consistency.warehouse_freshness"})
    assert "64-character hex key" in run.message("restore.master-key")
    assert "hex" in run.message("secrets.decrypt")
    assert "first-run setup" in run.message("consistency.users")
    assert "no user with the admin e-mail" in run.message("signin.offline")
    audit = run.message("audit.yesterday")
    assert "0 audit events in the 24 h before" in audit and "beyond the 24 h RPO" in audit
    assert run.checks["audit.yesterday"]["measured"]["rpo_seconds"] > 30 * 3600
    assert "not from the same time" in run.message("consistency.warehouse_freshness")


def test_a_store_that_does_not_restore_fails_its_check_and_every_dependent(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    run = drills["restore"]
    record(measure, run)
    assert_verdicts(run, ALL_CHECKS)
    assert "auth" in run.message("restore.postgres")
    assert "no object replica" in run.message("restore.objects")
    assert run.facts["table_file"].removesuffix(".sql") in run.message("restore.warehouse")
    assert "MD5" in run.message("restore.warehouse")
    assert "no master-key backup" in run.message("restore.master-key")
    assert "master-key backup not found at" in run.message("restore.master-key")
    for cid in ALL_CHECKS - {c for c in ALL_CHECKS if c.startswith("restore.")}:
        assert "this check needs what did not restore" in run.message(cid), run.explain()
    assert "the postgres restore failed" in run.message("signin.offline")


def test_profile_thresholds_and_disabled_checks_come_from_the_profile(
        drills: dict[str, DrillRun], measure: Callable[[str], None]) -> None:
    run = drills["profile"]
    record(measure, run)
    present = (ALL_CHECKS - {"integrity.amcheck", "consistency.notebooks"}) | {"signin.deployed"}
    assert_verdicts(run, {"workflow.open", "managed_tables.open", "audit.yesterday",
                          "license.valid", "consistency.warehouse_freshness"},
                    present=present, unverified={"signin.deployed", "consistency.users"})
    assert "workflows named No Such Workflow do not exist" in run.message("workflow.open")
    assert "exceeds the 1e-09 s limit" in run.message("managed_tables.open")
    assert "beyond the 0.001 h RPO" in run.message("audit.yesterday")
    assert "at least 400 are required" in run.message("license.valid")
    assert "cannot reach http://127.0.0.1:9" in run.message("signin.deployed")
    assert ("the profile's [consistency.users] sql failed on the restored database: relation "
            '"no_such_table" does not exist') in run.message("consistency.users")
    kb = run.checks["kb.documents"]
    assert "a random sample of 2 of 10" in kb["message"] and kb["measured"]["seed"] == 1234
    notes = "\n".join(run.evidence["notes"])
    assert "integrity.amcheck was not run" in notes and "impossible-thresholds" in notes
