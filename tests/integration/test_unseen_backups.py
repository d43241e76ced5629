"""Backups the harness has never seen, drilled for real: an operator's own layout served from
S3 with compressed WAL and snapshot files, a hand-edited master-key backup, a sign-in
account that is not an admin, and a run that can only be partly proven.

Each scenario is a copy of the session's reference backups; the drills run in parallel, each
with its own scratch environment. The exit code of each run is part of what is asserted.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures.backup.relayout import relayout
from fixtures.faults import DumpEditor
from harness.crypto import masterkey
from harness.errors import EXIT_FAILED, EXIT_PASSED, EXIT_UNVERIFIED
from harness.evidence.leaks import FRAGMENT, secret_forms
from harness.layout import DEFAULT_LAYOUT, Layout
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed
from harness.scratch.sweep import sweep
from tests.integration.test_catalog_reference import upload_tree
from tests.integration.test_drills import (
    ALL_CHECKS,
    BACKUP_CHECKS,
    DrillRun,
    assert_verdicts,
    copy_backups,
    private_dir,
    run_drills,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATOR_LAYOUT = Layout(
    postgres_dump="pg/{db}/{ts}/{db}.pgdump", base_backup="pg/basebackups/base_{ts}",
    wal_archive="pg/wal_archive", objects_replica="blob-replica/{bucket}/current/{key}",
    warehouse_table="starrocks/{ts}/{database}.{table}.sql.gz",
    warehouse_manifest="starrocks-meta/{ts}/snapshot.json",
    master_key="k8s/secrets/master-key.yaml", timestamp_format="%Y%m%d-%H%M%S",
    dump_timestamp_format="%Y-%m-%d_%H%M", warehouse_timestamp_format="%Y/%m/%d/%H%M%S")
S3_KEYS = {"access": "unseen-ak", "secret": "unseen-secret-key-0123"}
# The drills read the backups with an identity that may only list and read.
READ_ONLY = {"access": "unseen-reader", "secret": "unseen-reader-secret-4567"}


def layout_settings(layout: Layout) -> dict[str, str]:
    return {f"backups.{k}": v for k, v in vars(layout).items() if v}


def malformed_key(copy: Path) -> dict[str, Any]:
    """A tab where a space belongs, as a hand edit leaves it."""
    path = copy / DEFAULT_LAYOUT.master_key
    text = path.read_text()
    backup = masterkey.load_master_key_backup(text)
    path.write_text(text.replace(f"  {backup.data_key}:", f"\t{backup.data_key}:"))
    data_line = next(line for line in text.splitlines() if line.strip().startswith(
        backup.data_key + ":"))
    return {"key": backup.key, "data": data_line.split(":", 1)[1].strip()}


def non_admin(copy: Path, reference: Any, editor: DumpEditor) -> dict[str, Any]:
    """The known admin's role is 'member' in the newest auth dump (their password is right)."""
    stamp = reference.meta["backup_runs"][-1]["stamp"]
    editor.edit(copy / "postgres" / "dumps" / stamp / "auth.dump",
                """UPDATE "user" SET role = 'member' WHERE email = %s""",
                (reference.meta["admin_email"],))
    return {}


def fragments_of(values: list[str | bytes]) -> set[bytes]:
    """Every 8-character piece of the values' raw, base64, base64url and hex spellings."""
    out: set[bytes] = set()
    for value in values:
        for name, form in secret_forms(value).items():
            if name in ("raw", "base64", "base64url", "hex") and len(form) >= FRAGMENT:
                out |= {form[i:i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1)}
    return out


@pytest.fixture(scope="module")
def runs(reference: Any) -> Iterator[dict[str, DrillRun]]:
    work = private_dir("scrydon-drill-unseen-")
    helpers = private_dir("scrydon-drill-unseen-h-")
    seaweed = LocalSeaweed(Run.create(helpers), name="backups", access_key=S3_KEYS["access"],
                           secret_key=S3_KEYS["secret"],
                           readers={READ_ONLY["access"]: READ_ONLY["secret"]})
    try:
        seaweed.start()
        seaweed.wait_ready(60)
        relaid = work / "relaid"
        relayout(reference.backups, DEFAULT_LAYOUT, relaid, OPERATOR_LAYOUT, compress_wal="gz",
                 compress_tables=True)
        client: Any = seaweed.endpoint.client()
        client.create_bucket(Bucket="dr-backups")
        upload_tree(client, "dr-backups", "scrydon/prod", relaid)
        # The same layout with its newest auth dump cut short: the drill must fall back.
        broken = work / "relaid-broken"
        shutil.copytree(relaid, broken)
        newest = sorted((broken / "pg" / "auth").iterdir())[-1] / "auth.pgdump"
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
        upload_tree(client, "dr-backups", "scrydon/broken", broken)
        s3_source = {"backups.s3_endpoint": seaweed.endpoint.url,
                     "backups.s3_access_key": READ_ONLY["access"],
                     "backups.s3_secret_key": READ_ONLY["secret"],
                     **layout_settings(OPERATOR_LAYOUT)}
        facts = {"key": malformed_key(copy_backups(reference.backups, work / "key"))}
        with DumpEditor(helpers / "ed") as editor:
            facts["admin"] = non_admin(copy_backups(reference.backups, work / "admin"),
                                       reference, editor)
        plan: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
            "operator-s3": ({"backups.source": "s3://dr-backups/scrydon/prod", **s3_source},
                            {"endpoint": seaweed.endpoint.url}),
            "s3-fallback": ({"backups.source": "s3://dr-backups/scrydon/broken",
                                      "drill.fallback": "true", **s3_source}, {}),
            "malformed-key": ({"backups.source": str(work / "key")}, facts["key"]),
            "non-admin": ({"backups.source": str(work / "admin")}, facts["admin"]),
            "unverified": ({"drill.scratch_url": "http://127.0.0.1:9"}, {}),
        }

        def run(name: str) -> DrillRun:
            sets, run_facts = plan[name]
            return run_drills(name, reference.drill_config, work, sets=sets, facts=run_facts)

        with ThreadPoolExecutor(2) as pool:
            yield dict(zip(plan, pool.map(run, plan), strict=True))
    finally:
        seaweed.stop()
        sweep(helpers, include_kept=True)
        shutil.rmtree(helpers, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_an_operator_layout_on_s3_with_compressed_files_drills_green(
        runs: dict[str, DrillRun], measure: Any) -> None:
    run = runs["operator-s3"]
    measure(f"drill of the operator layout on S3 (gzip WAL and snapshot files): "
            f"{run.seconds:.1f} s, exit {run.returncode}")
    assert_verdicts(run, set(), backup_failing=set())
    assert run.returncode == EXIT_PASSED, run.explain()
    wal = run.message("posture.wal-continuity")
    assert "is continuous" in wal and "pg_waldump reads every record" in wal
    assert "blob-replica" in run.message("posture.objects-replica")
    lineage = {item["name"]: item["location"] for item in run.evidence["lineage"]}
    assert lineage["auth"].startswith("s3://dr-backups/scrydon/prod/pg/auth/")


def test_the_read_only_identity_really_cannot_write(runs: dict[str, DrillRun]) -> None:
    """The drills above read the source with this identity; the source refuses it any write,
    so a drill that tried one would have failed."""
    from harness.scratch.endpoints import S3Endpoint

    client: Any = S3Endpoint(url=runs["operator-s3"].facts["endpoint"],
                             access_key=READ_ONLY["access"],
                             secret_key=READ_ONLY["secret"]).client()
    listed = client.list_objects_v2(Bucket="dr-backups", Prefix="scrydon/prod/")
    key = listed["Contents"][0]["Key"]
    assert client.get_object(Bucket="dr-backups", Key=key)["Body"].read() is not None
    attempts = {"put": lambda: client.put_object(Bucket="dr-backups", Key="probe", Body=b"x"),
                "delete": lambda: client.delete_object(Bucket="dr-backups", Key=key),
                "copy": lambda: client.copy_object(Bucket="dr-backups", Key=key + ".copy",
                                                   CopySource={"Bucket": "dr-backups",
                                                               "Key": key}),
                "create bucket": lambda: client.create_bucket(Bucket="probe-bucket")}
    for what, attempt in attempts.items():
        with pytest.raises(Exception) as info:
            attempt()
        assert "AccessDenied" in str(info.value), f"{what}: {info.value}"


def test_fallback_on_s3_with_a_read_only_identity(runs: dict[str, DrillRun]) -> None:
    run = runs["s3-fallback"]
    assert_verdicts(run, set())
    notes = " ".join(run.evidence["notes"])
    assert "instead: effective RPO loss" in notes, notes


def test_a_targeted_restore_with_a_read_only_identity(runs: dict[str, DrillRun],
                                                      reference: Any) -> None:
    import subprocess
    import sys

    root = private_dir("scrydon-drill-unseen-t-")
    try:
        argv = [sys.executable, "-m", "harness.cli", "restore", "--config",
                str(reference.drill_config), "--root", str(root), "--keep", "never",
                "--table", "auth.audit_log",
                "--set", "backups.source=s3://dr-backups/scrydon/prod",
                "--set", f"backups.s3_endpoint={runs['operator-s3'].facts['endpoint']}",
                "--set", f"backups.s3_access_key={READ_ONLY['access']}",
                "--set", f"backups.s3_secret_key={READ_ONLY['secret']}"]
        for key, value in layout_settings(OPERATOR_LAYOUT).items():
            argv += ["--set", f"{key}={value}"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        sweep(root, include_kept=True)
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "restored auth.audit_log:" in proc.stdout
    assert READ_ONLY["secret"] not in proc.stdout + proc.stderr


def test_a_malformed_key_backup_fails_without_leaking_a_fragment(
        runs: dict[str, DrillRun]) -> None:
    run = runs["malformed-key"]
    assert_verdicts(run, {"restore.master-key", "secrets.decrypt"},
                    backup_failing={"posture.master-key"})
    message = run.message("restore.master-key")
    assert "not valid YAML (at line" in message and "column 1" in message
    assert run.returncode == EXIT_FAILED
    pieces = fragments_of([run.facts["key"], run.facts["data"],
                           base64.b64decode(run.facts["data"])])
    texts = {"drill output": run.output.encode(), "evidence": json.dumps(run.evidence).encode()}
    assert run.folder is not None
    folder = run.folder
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            texts[str(path.relative_to(folder))] = path.read_bytes()
    assert {"evidence.json", "junit.xml", "report.html", "summary.md"} <= set(texts)
    for name, data in texts.items():
        hits = [p for p in pieces if p in data]
        assert not hits, f"{name} holds {len(hits)} piece(s) of the master key"


def test_signin_live_requires_an_admin(runs: dict[str, DrillRun]) -> None:
    run = runs["non-admin"]
    assert_verdicts(run, {"signin.offline", "signin.live"})
    assert "not an admin: its role is 'member'" in run.message("signin.offline")
    assert "password does not verify" not in run.message("signin.offline")
    assert "the session's user is not an admin: its role is 'member'" in \
        run.message("signin.live")
    assert run.returncode == EXIT_FAILED


def test_a_run_that_can_only_partly_be_proven_exits_2(runs: dict[str, DrillRun]) -> None:
    run = runs["unverified"]
    assert_verdicts(run, set(), present=ALL_CHECKS | {"signin.deployed"},
                    unverified={"signin.deployed"}, backup_failing=set())
    assert run.returncode == EXIT_UNVERIFIED, run.explain()
    assert set(run.verdicts()) >= BACKUP_CHECKS
    assert run.folder is not None and (run.folder / "summary.md").exists()
