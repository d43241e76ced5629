"""No secret of a run in anything the run leaves behind, whole or in 8-character pieces.

Two drills read their backups from S3 with a known secret key, sign their evidence with a
known Ed25519 key and publish it: one healthy, one failing (a wrong admin password, the
scratch environment kept on failure so its server logs stay). While each runs, the
passwords the harness generates for its scratch servers are read from the environment of
the tools it starts (pg_restore's PGPASSWORD, the warehouse client's MYSQL_PWD). Then the
terminal output, every file of the report folders, the published copies, the history and
the kept run folder's logs are searched for every spelling of every secret (raw, JSON, HTML
and URL escapes, base64, base64url, hex) and for every 8-character piece of the raw, base64
and hex spellings. The kept run's ``connection.env`` (mode 0600) is the one file meant to
hold credentials and is left out of the search.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures.reference.build import DEFAULT_ADMIN_PASSWORD
from harness.crypto import masterkey
from harness.evidence.leaks import FRAGMENT, secret_forms
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed
from harness.scratch.sweep import sweep
from tests.integration.test_drills import REPO, private_dir
from tests.integration.test_environment_faults import serve_on_s3

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE_KEYS = {"access": "e2e-reader", "secret": "Src3tKey-e2e-9f8d7c6b5a4"}
SCRATCH_S3_SECRET = "Scr4tchS3-e2e-1a2b3c4d5e"
WRONG_PASSWORD = "Wr0ngAdm1n-e2e-pa55word"
CAPTURED_ENV = ("PGPASSWORD", "MYSQL_PWD", "AWS_SECRET_ACCESS_KEY")


def pieces_of(secret: str | bytes) -> set[bytes]:
    """Whole spellings, and 8-character pieces of the raw, base64 and hex spellings."""
    forms = secret_forms(secret)
    out = {f for f in forms.values() if len(f) >= FRAGMENT}
    for name in ("raw", "base64", "base64url", "hex", "HEX"):
        form = forms.get(name, b"")
        out |= {form[i:i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1)}
    return out


def capture_passwords(drill: subprocess.Popen[bytes], found: set[str],
                      stop: threading.Event) -> None:
    """Read the generated passwords from the environment of the tools the drill starts."""
    while not stop.is_set() and drill.poll() is None:
        try:
            children = psutil.Process(drill.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                env = child.environ()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            found.update(env[k] for k in CAPTURED_ENV if env.get(k))
        time.sleep(0.003)


def run(work: Path, name: str, config: Path, sets: dict[str, str]) -> tuple[int, bytes, set[str]]:
    argv = [sys.executable, "-m", "harness.cli", "drill", "--config", str(config),
            "--root", str(work / f"root-{name}"), "--set", f"report.dir={work / 'reports'}"]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRYDON_DRILL_")}
    log = work / f"{name}.out"
    captured: set[str] = set()
    stop = threading.Event()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    watcher = threading.Thread(target=capture_passwords, args=(proc, captured, stop))
    watcher.start()
    try:
        proc.wait(timeout=600)
    finally:
        stop.set()
        watcher.join()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, log.read_bytes(), captured


def test_no_secret_of_a_healthy_or_failing_drill_is_left_anywhere(reference: Any,
                                                                   measure) -> None:
    work = private_dir("scrydon-drill-e2e-")
    helpers = work / "helpers"
    seaweed = LocalSeaweed(Run.create(helpers), name="backups",
                           access_key=SOURCE_KEYS["access"], secret_key=SOURCE_KEYS["secret"])
    try:
        serve_on_s3(seaweed, "e2e-backups", "prod", reference.backups)
        signing = Ed25519PrivateKey.generate()
        pem = signing.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        key_file = work / "signing.pem"
        key_file.write_bytes(pem)
        key_file.chmod(0o600)
        common = {"backups.source": "s3://e2e-backups/prod",
                  "backups.s3_endpoint": seaweed.endpoint.url,
                  "backups.s3_access_key": SOURCE_KEYS["access"],
                  "backups.s3_secret_key": SOURCE_KEYS["secret"],
                  "scratch.s3_secret_key": SCRATCH_S3_SECRET,
                  "evidence.sign_key_file": str(key_file),
                  "evidence.publish_to": str(work / "published")}
        healthy = run(work, "healthy", reference.drill_config, common)
        failing = run(work, "failing", reference.drill_config,
                      {**common, "admin.password": WRONG_PASSWORD, "scratch.keep": "failed"})
        assert healthy[0] == 0, healthy[1][-3000:].decode(errors="replace")
        assert failing[0] == 1, failing[1][-3000:].decode(errors="replace")
        generated = healthy[2] | failing[2]
        # Both runs restored PostgreSQL and the warehouse: their passwords must have been seen.
        assert len(generated - {SCRATCH_S3_SECRET}) >= 4, "generated passwords not captured"

        backup = masterkey.load_master_key_backup(
            (reference.backups / "master-key" / "master-key.backup.yaml").read_text())
        raw_private = signing.private_bytes(serialization.Encoding.Raw,
                                            serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
        pem_body = b"".join(pem.splitlines()[1:-1])
        secrets: dict[str, str | bytes] = {
            "master key": backup.key, "master-key Secret value": backup.raw_value,
            "admin password": DEFAULT_ADMIN_PASSWORD, "wrong admin password": WRONG_PASSWORD,
            "source S3 secret": SOURCE_KEYS["secret"], "scratch S3 secret": SCRATCH_S3_SECRET,
            "signing key": raw_private, "signing key PEM": pem_body,
            **{f"generated password {i}": p for i, p in enumerate(sorted(generated))}}
        texts: dict[str, bytes] = {"healthy output": healthy[1], "failing output": failing[1]}
        for folder in (work / "reports", work / "published", work / "root-failing"):
            for path in sorted(folder.rglob("*")):
                if path.is_file() and path.name != "connection.env" and \
                        "/data/" not in str(path) and "mariadb-data" not in str(path):
                    if path.suffix in (".log", ".json", ".xml", ".html", ".md", ".prom",
                                       ".txt", ".yaml", ".sig", "") or path.stat().st_size < 1e6:
                        texts[str(path.relative_to(work))] = path.read_bytes()
        assert any(n.startswith("reports/") and n.endswith("evidence.json") for n in texts)
        assert any(n.startswith("published/") for n in texts)
        assert any(n.startswith("root-failing/") and n.endswith(".log") for n in texts)
        hits = []
        for secret_name, value in secrets.items():
            pieces = pieces_of(value)
            for text_name, data in texts.items():
                found = [p for p in pieces if p in data]
                if found:
                    hits.append(f"{text_name}: {len(found)} piece(s) of the {secret_name}")
        measure(f"secrets end to end: {len(secrets)} secrets ({len(generated)} generated "
                f"passwords captured) searched in {len(texts)} outputs and files: "
                f"{len(hits)} hit(s)")
        assert hits == []
    finally:
        seaweed.stop()
        for root in work.glob("root-*"):
            sweep(root, include_kept=True)
        sweep(helpers, include_kept=True)
        shutil.rmtree(work, ignore_errors=True)
