"""Publishing evidence and keeping the run history in a real S3 server (SeaweedFS), and a
drill run in a fresh pytest process publishing there."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.evidence.history import HistoryEntry, S3History, open_history
from harness.evidence.manifest import verify_folder
from harness.evidence.publish import publish
from harness.evidence.reports import write_reports
from harness.evidence.storage import EvidenceStoreError, S3Options
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed
from tests.conftest import python
from tests.sample_record import sample_record

pytestmark = pytest.mark.integration

ACCESS, SECRET = "evidence-writer", "evidence-secret-key-1"


@pytest.fixture()
def s3(run_root: Path) -> Iterator[S3Options]:
    """A running SeaweedFS with an ``evidence`` bucket; stopped afterwards."""
    server = LocalSeaweed(Run.create(run_root), name="evidence-s3", access_key=ACCESS,
                          secret_key=SECRET, stop_timeout=1.0)
    server.start()
    try:
        server.wait_ready(60)
        options = S3Options(endpoint=server.endpoint.url, access_key=ACCESS, secret_key=SECRET)
        options.client().create_bucket(Bucket="evidence")
        yield options
    finally:
        server.stop()


def test_publish_history_and_a_drill_run_against_real_s3(s3: S3Options, tmp_path: Path) -> None:
    client = s3.client()
    # 1. Publishing a report folder: every file lands and reads back identical.
    record = sample_record(failing=True)
    folder = tmp_path / record.run_id
    write_reports(record, folder)
    where = publish(folder, "s3://evidence/drills/prod", s3)
    assert where == f"s3://evidence/drills/prod/{record.run_id}/"
    for path in folder.iterdir():
        body = client.get_object(Bucket="evidence",
                                 Key=f"drills/prod/{record.run_id}/{path.name}")["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(path.read_bytes()).digest()

    # 2. Wrong credentials: a clear error, never silence.
    with pytest.raises(EvidenceStoreError, match="cannot publish the report to s3://evidence/x"):
        publish(folder, "s3://evidence/x", S3Options(endpoint=s3.endpoint, access_key=ACCESS,
                                                     secret_key="wrong"))

    # 3. The history index in the bucket: one object per run, newest last.
    history = open_history("s3://evidence/history", s3)
    assert isinstance(history, S3History) and history.load(5) == []
    for i in range(1, 4):
        history.add(HistoryEntry.from_record(sample_record(
            run_id=f"2026110{i}T000000Z-00000{i}", rto_seconds=400 + i)))
    loaded = history.load(2)
    assert [e.run_id for e in loaded] == ["20261102T000000Z-000002", "20261103T000000Z-000003"]

    # 4. A drill run in a fresh pytest process publishes there and indexes itself.
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_drill.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.drill_check(id='signin.admin', title='Admin signs in')\n"
        "def test_signin(drill_measure):\n"
        "    drill_measure(rto_seconds=30.0, rpo_seconds=60)\n")
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith("SCRYDON_DRILL_")}
    env["SCRYDON_DRILL_EVIDENCE_S3_SECRET_KEY"] = SECRET
    proc = subprocess.run(
        [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
         "--drill-set", f"report.dir={tmp_path / 'reports'}",
         "--drill-set", "evidence.publish_to=s3://evidence/drills/ci",
         "--drill-set", "evidence.history_dir=s3://evidence/history",
         "--drill-set", f"evidence.s3_endpoint={s3.endpoint}",
         "--drill-set", f"evidence.s3_access_key={ACCESS}"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_folder,) = [p for p in (tmp_path / "reports").iterdir()]
    run_id = run_folder.name
    assert f"published: s3://evidence/drills/ci/{run_id}/" in proc.stdout
    assert verify_folder(run_folder).ok
    keys = {o["Key"] for o in client.list_objects_v2(
        Bucket="evidence", Prefix=f"drills/ci/{run_id}/")["Contents"]}
    assert {k.rsplit("/", 1)[1] for k in keys} == {p.name for p in run_folder.iterdir()}
    assert run_id in [e.run_id for e in history.load(10)]
    evidence = json.loads((run_folder / "evidence.json").read_text())
    assert evidence["config"]["evidence"]["s3_secret_key"] == "***"
    assert SECRET not in "".join(p.read_text() for p in run_folder.iterdir())


def test_object_lock_keeps_a_published_run_as_it_was(s3: S3Options, tmp_path: Path) -> None:
    """Published with compliance retention, a run cannot be deleted; an overwrite only adds a
    version, which verify-evidence on S3 reports while checking the original."""
    client = s3.client()
    client.create_bucket(Bucket="locked-evidence", ObjectLockEnabledForBucket=True)
    record = sample_record()
    folder = tmp_path / record.run_id
    write_reports(record, folder)
    locked = S3Options(endpoint=s3.endpoint, access_key=ACCESS, secret_key=SECRET,
                       lock_mode="compliance", lock_days=1)
    where = publish(folder, "s3://locked-evidence/runs", locked)
    key = f"runs/{record.run_id}/evidence.json"
    head = client.head_object(Bucket="locked-evidence", Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python(), "-m", "harness.cli", "verify-evidence", where, "--require-lock",
             "--set", f"evidence.s3_endpoint={s3.endpoint}",
             "--set", f"evidence.s3_access_key={ACCESS}",
             "--set", f"evidence.s3_secret_key={SECRET}", *extra],
            capture_output=True, text=True, timeout=120, check=False)

    clean = verify()
    assert clean.returncode == 0 and "verified:" in clean.stdout, clean.stdout + clean.stderr

    # Deleting the published version is refused; an overwrite becomes a second version.
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket="locked-evidence", Key=key, VersionId=head["VersionId"])
    client.put_object(Bucket="locked-evidence", Key=key, Body=b'{"verdict": "pass"}')
    tampered = verify()
    assert tampered.returncode == 1, tampered.stdout
    assert "evidence.json was changed after publishing (overwritten)" in tampered.stdout
    assert client.get_object(Bucket="locked-evidence", Key=key,
                             VersionId=head["VersionId"])["Body"].read() == \
        (folder / "evidence.json").read_bytes()

    # A run is published once; a bucket without Object Lock is refused when a lock is asked.
    with pytest.raises(EvidenceStoreError, match="exists already"):
        publish(folder, "s3://locked-evidence/runs", locked)
    with pytest.raises(EvidenceStoreError, match="has no Object Lock"):
        publish(folder, "s3://evidence/unlocked", locked)
    # Without retention, --require-lock fails the otherwise intact copy.
    plain = publish(folder, "s3://evidence/plain", s3)
    unlocked = subprocess.run(
        [python(), "-m", "harness.cli", "verify-evidence", plain, "--require-lock",
         "--set", f"evidence.s3_endpoint={s3.endpoint}", "--set",
         f"evidence.s3_access_key={ACCESS}", "--set", f"evidence.s3_secret_key={SECRET}"],
        capture_output=True, text=True, timeout=120, check=False)
    assert unlocked.returncode == 1 and "not under Object Lock retention" in unlocked.stdout


def test_object_lock_settings_are_checked_when_loading() -> None:
    from harness.config import resolve
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="needs evidence.object_lock_days"):
        resolve(environ={}, arguments={"evidence": {"object_lock_mode": "compliance",
                                                    "publish_to": "s3://b/p"}})
    with pytest.raises(ConfigError, match="applies to runs published to S3"):
        resolve(environ={}, arguments={"evidence": {"object_lock_mode": "governance",
                                                    "object_lock_days": 30,
                                                    "publish_to": "/srv/evidence"}})
