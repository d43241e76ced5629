"""The embedded scratch environment: real PostgreSQL, SeaweedFS and MariaDB processes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from harness.config import resolve
from harness.errors import ServerNotFound, ServerStartError
from harness.scratch import servers
from harness.scratch.local import LocalProvider
from harness.scratch.procinfo import group_members, processes_owned_by
from harness.scratch.run import Run, read_marker
from harness.scratch.session import ScratchSession
from harness.scratch.sweep import sweep
from tests.conftest import python, spawn_marked

pytestmark = pytest.mark.integration


def ps_lines(run_id: str) -> list[str]:
    """`ps` rows of processes carrying the run's owner mark (the proof the tests print)."""
    pids = processes_owned_by({run_id})
    if not pids:
        return []
    out = subprocess.run(["ps", "-o", "pid,user,args", "-p", ",".join(map(str, pids))],
                         capture_output=True, text=True).stdout
    return out.splitlines()[1:]


def config(run_root: Path, **scratch: object):
    return resolve(environ={}, arguments={"scratch": {"root": str(run_root), **scratch}})


def test_all_three_servers_start_answer_and_stop_in_seconds(run_root: Path, measure) -> None:
    cfg = config(run_root)
    run = Run.create(run_root)
    provider = LocalProvider(cfg, run)
    t0 = time.monotonic()
    with provider:
        started = time.monotonic() - t0
        ep = provider.endpoints
        assert len(processes_owned_by({run.run_id})) >= 3
        with psycopg.connect(**ep.postgres.conninfo()) as conn:
            assert conn.execute("select current_setting('server_version_num')::int / 10000"
                                ).fetchone()[0] == ep.postgres.major
            conn.execute("create extension vector")  # pgvector is there, as Scrydon needs
        s3 = ep.s3.client()
        s3.create_bucket(Bucket="probe")
        s3.put_object(Bucket="probe", Key="a/b.txt", Body=b"hello")
        assert s3.get_object(Bucket="probe", Key="a/b.txt")["Body"].read() == b"hello"
        with pytest.raises(Exception):  # wrong credentials are refused
            import boto3

            boto3.client("s3", endpoint_url=ep.s3.url, aws_access_key_id="x",
                         aws_secret_access_key="y", region_name="us-east-1"
                         ).list_objects_v2(Bucket="probe")
        conn = ep.warehouse.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        conn.close()
        t1 = time.monotonic()
    stopped = time.monotonic() - t1
    measure(f"local provider: all three servers ready in {started:.1f} s, "
          f"torn down in {stopped:.1f} s; phases: "
          + ", ".join(f"{k}={v:.2f}s" for k, v in provider.timings.seconds.items()))
    assert ps_lines(run.run_id) == []
    assert not [p for p in provider.seaweed.tmp_sockets if p.exists()], "weed sockets left in /tmp"
    assert started < 60 and stopped < 30


def test_missing_postgres_version_lists_what_is_installed(run_root: Path) -> None:
    cfg = config(run_root, postgres_version=9)
    with pytest.raises(ServerNotFound) as err:
        LocalProvider(cfg, Run.create(run_root)).start()
    text = str(err.value)
    assert "PostgreSQL 9 with pgvector is not installed" in text
    assert "installed:" in text and "PostgreSQL 1" in text and "pip install" in text


def test_setup_failing_half_way_tears_down_what_started(run_root: Path, monkeypatch) -> None:
    real = servers.find_mariadbd()
    monkeypatch.setattr(servers, "find_mariadbd", lambda: ("/bin/false", real[1]))
    cfg = config(run_root)
    run = Run.create(run_root)
    with pytest.raises(ServerStartError) as err:
        LocalProvider(cfg, run).start()
    assert "MariaDB" in str(err.value) and "exited with code 1" in str(err.value)
    assert ps_lines(run.run_id) == [], "servers outlived a failed setup"


def test_seaweedfs_exiting_at_once_is_started_again_once(run_root: Path, tmp_path: Path,
                                                          monkeypatch) -> None:
    """A port taken between picking and binding makes weed exit 255: the second start, on
    fresh ports, must come up; a weed that always exits fails with both starts' logs."""
    real = servers.find_weed()
    flaky = tmp_path / "weed-flaky"
    flaky.write_text(f"#!/bin/sh\nif [ ! -e {tmp_path}/started ]; then touch {tmp_path}/started;"
                     f" echo 'bind: address already in use' >&2; exit 255; fi\nexec {real} \"$@\"\n")
    flaky.chmod(0o755)
    monkeypatch.setattr(servers, "find_weed", lambda: str(flaky))
    run = Run.create(run_root)
    weed = servers.LocalSeaweed(run)
    try:
        weed.start()
        assert weed.wait_ready(60) > 0
        assert (tmp_path / "started").exists()
    finally:
        weed.stop()
    broken = tmp_path / "weed-broken"
    broken.write_text("#!/bin/sh\necho 'bind: address already in use' >&2\nexit 255\n")
    broken.chmod(0o755)
    monkeypatch.setattr(servers, "find_weed", lambda: str(broken))
    weed = servers.LocalSeaweed(Run.create(run_root), name="broken")
    try:
        weed.start()
        with pytest.raises(ServerStartError) as info:
            weed.wait_ready(30)
    finally:
        weed.stop()
    assert "exited with code 255" in info.value.message
    assert info.value.detail.count("address already in use") == 2
    assert "started twice" in info.value.detail


def test_a_scratch_root_postgres_cannot_reach_is_named_before_initdb() -> None:
    """mktemp -d makes 0700 folders: PostgreSQL's unprivileged user cannot enter them."""
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("only root hands PostgreSQL to an unprivileged user")
    private = Path(tempfile.mkdtemp(prefix="sdp-"))  # mode 0700, as mktemp -d makes it
    try:
        root = private / "runs"
        root.mkdir()
        os.chmod(root, 0o755)
        run = Run.create(root)
        t0 = time.monotonic()
        with pytest.raises(ServerStartError) as info:
            LocalProvider(config(root), run).start()
        text = info.value.render()
        assert f"cannot enter {private} (mode 0o700)" in text, text
        assert "chmod o+x" in text and "scratch.root" in text
        assert time.monotonic() - t0 < 30
        assert ps_lines(run.run_id) == [], "servers outlived the refused setup"
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_keep_policy_keeps_then_sweep_removes(run_root: Path) -> None:
    session = ScratchSession(config(run_root, keep="failed"))
    session.open()
    run = session.run
    session.close(failed=True)
    assert session.kept and read_marker(run.directory)["kept"] is True
    assert len(ps_lines(run.run_id)) >= 3
    assert sweep(run_root).skipped_kept == [], "owner still alive: not even considered"
    # Once the owner is gone the run is still kept until asked for explicitly.
    run.write_marker(owner_pid=999999999, owner_start_ticks=1)
    assert sweep(run_root).skipped_kept == [run.run_id]
    report = sweep(run_root, include_kept=True, only={run.run_id})
    assert run.directory in report.removed_dirs
    assert ps_lines(run.run_id) == []


def cli(*args: str, **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen([python(), "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs)


def wait_for(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_setup_then_sweep_removes_exactly_the_leftovers(run_root: Path, measure) -> None:
    decoy_proc = spawn_marked(None)
    decoy_dir = run_root / "not-a-run"
    decoy_dir.mkdir()
    proc = cli("up", "--root", str(run_root))
    try:
        # Mid-setup: all three servers spawned (their logs exist), not all ready yet.
        def spawned() -> bool:
            return len(list(run_root.glob("*/scratch-*/server.log"))) == 3
        wait_for(spawned, 60, "three servers to be spawned")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        out = proc.stdout.read()
        assert "ready in" not in out, "the kill came after setup finished; not mid-setup"
        (run_dir,) = [p for p in run_root.iterdir() if read_marker(p)]
        left = ps_lines(run_dir.name)
        measure(f"SIGKILL mid-setup left {len(left)} marked server processes: "
                + "; ".join(" ".join(line.split()[:3]) for line in left))
        assert len(left) >= 3, "expected orphaned servers after SIGKILL"

        recorded = (run_dir / "scratch-seaweedfs" / "tmp-sockets.txt").read_text().split()
        swept = subprocess.run([python(), "-m", "harness.cli", "sweep", "--root", str(run_root)],
                               capture_output=True, text=True, timeout=60)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        measure("after sweep: " + swept.stdout.splitlines()[0] + "; ps shows none of them; "
                f"folders left in the run root: {sorted(p.name for p in run_root.iterdir())}")
        assert ps_lines(run_dir.name) == []
        for line in left:  # the postmaster's children (no mark of their own) went with it
            pid = int(line.split()[0])
            assert not group_members(pid), f"process group {pid} outlived the sweep"
        assert not run_dir.exists()
        assert len(recorded) == 4 and not [p for p in recorded if Path(p).exists()]
        assert sorted(p.name for p in run_root.iterdir()) == ["not-a-run"]
        assert decoy_proc.poll() is None, "the sweep killed a process it did not create"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        decoy_proc.kill()
        decoy_proc.wait()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_tears_everything_down(run_root: Path, sig: int) -> None:
    proc = cli("up", "--root", str(run_root))
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "press Ctrl-C" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "up exited early"
        (run_dir,) = [p for p in run_root.iterdir() if read_marker(p)]
        assert len(ps_lines(run_dir.name)) >= 3
        os.kill(proc.pid, sig)
        assert proc.wait(timeout=60) == 130
        assert ps_lines(run_dir.name) == []
        assert not run_dir.exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("slots", ["8", "0"])
def test_the_object_store_grows_past_its_volume_slots(run_root: Path, slots: str,
                                                      measure) -> None:
    """Several buckets of objects need more volumes than SeaweedFS's default 8 slots; the
    scratch store ("0": as many as the disk holds) must take them all. With 2 MiB volumes
    the limit shows at a few dozen MiB instead of ~2 GiB."""
    seaweed = servers.LocalSeaweed(Run.create(run_root), volume_size_mb=2, volume_slots=slots)
    stored = 0
    error = ""
    try:
        seaweed.start()
        seaweed.wait_ready(60)
        client = seaweed.endpoint.client()
        blob = os.urandom(1024 * 1024)
        try:
            for bucket in ("kb-a", "kb-b", "kb-c", "kb-d"):
                client.create_bucket(Bucket=bucket)
                for i in range(12):
                    client.put_object(Bucket=bucket, Key=f"doc-{i}", Body=blob)
                    stored += 1
        except Exception as exc:  # noqa: BLE001 - the failure is what the default shows
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        seaweed.stop()
    measure(f"SeaweedFS with 2 MiB volumes, volume.max={slots}: stored {stored} of 48 MiB "
            f"objects in 4 buckets" + (f"; then {error}" if error else ""))
    if slots == "0":
        assert stored == 48, error
    else:
        assert stored < 48, "the default slots did not limit the store: the test shows nothing"


def test_the_scratch_object_store_leads_alone_and_reports_to_nobody(run_root: Path,
                                                                     measure) -> None:
    """A single master that waits for peers before it leads made some starts take 5 s
    longer; SeaweedFS also reports statistics to its vendor once it holds 10 GiB. The
    scratch store must lead at once and have telemetry off."""
    seaweed = servers.LocalSeaweed(Run.create(run_root))
    try:
        t0 = time.monotonic()
        seaweed.start()
        seaweed.wait_ready(60)
        ready = time.monotonic() - t0
        log = "".join(p.read_text(errors="replace") for p in
                      [seaweed.base / "server.log", *(seaweed.base / "logs").glob("weed.*INFO*")]
                      if p.is_file())
    finally:
        seaweed.stop()
    measure(f"scratch SeaweedFS: writable in {ready:.2f} s")
    assert "single-master mode" in log, log[-2000:]
    assert "Reporting anonymous cluster statistics" not in log
    assert "Not current leader" not in log
