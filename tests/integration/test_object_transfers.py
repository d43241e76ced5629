"""Object restore at sizes past one part: large objects go up in parts, read once, each part
and the whole checked against the store's ETags, memory bounded by workers x part size."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.errors import DrillError
from harness.restore import objects
from harness.restore.objects import PART_SIZE, restore_objects
from harness.scratch.run import Run
from harness.scratch.servers import LocalSeaweed

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def seaweed(run_root: Path) -> Any:
    server = LocalSeaweed(Run.create(run_root))
    server.start()
    server.wait_ready(60)
    yield server
    server.stop()


def test_large_and_small_objects_restore_byte_for_byte(seaweed: Any, tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    (replica / "scrydon-kb" / "org").mkdir(parents=True)
    sizes = {"org/big.bin": 2 * PART_SIZE + 12345, "org/exact.bin": PART_SIZE,
             "small.txt": 17}
    for key, size in sizes.items():
        (replica / "scrydon-kb" / key).write_bytes(os.urandom(size))
    done = restore_objects(replica, seaweed.endpoint)
    assert done.bytes == sum(sizes.values())
    client: Any = seaweed.endpoint.client()
    for key in sizes:
        body = client.get_object(Bucket="scrydon-kb", Key=key)["Body"].read()
        local = (replica / "scrydon-kb" / key).read_bytes()
        assert body == local
        assert done.hashes[f"scrydon-kb/{key}"] == hashlib.sha256(local).hexdigest()
    head = client.head_object(Bucket="scrydon-kb", Key="org/big.bin")
    assert head["ETag"].strip('"').endswith("-3"), "the big object did not go up in parts"


class _LyingStore:
    """A client whose store answers a wrong ETag for part 2 (data changed in transit)."""

    def __init__(self) -> None:
        self.aborted = False

    def create_multipart_upload(self, **_: Any) -> dict[str, str]:
        return {"UploadId": "u1"}

    def upload_part(self, *, PartNumber: int, Body: bytes, **_: Any) -> dict[str, str]:
        md5 = hashlib.md5(Body).hexdigest()  # noqa: S324
        return {"ETag": f'"{md5 if PartNumber != 2 else "0" * 32}"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, str]:
        raise AssertionError("a corrupted part must stop the upload")

    def abort_multipart_upload(self, **_: Any) -> None:
        self.aborted = True


def test_a_part_changed_in_transit_fails_and_the_upload_is_aborted(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(2 * PART_SIZE + 1))
    store = _LyingStore()
    with ThreadPoolExecutor(4) as pool:
        parts = objects._Parts(pool, threading.BoundedSemaphore(4))
        with pytest.raises(DrillError, match="part 2 of object b/k changed on its way"):
            objects._upload(store, "b", "k", lambda: path, parts)
    assert store.aborted
    assert all(parts.slots.acquire(blocking=False) for _ in range(4)), "a part's slot leaked"


class _SlowStore(_LyingStore):
    """A store whose part uploads take a while; it counts how many run at once."""

    def __init__(self, fail_part: int = 0) -> None:
        super().__init__()
        self.fail_part = fail_part
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.completed: list[dict[str, Any]] = []

    def upload_part(self, *, PartNumber: int, Body: bytes, **_: Any) -> dict[str, str]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.1)
            if PartNumber == self.fail_part:
                raise ConnectionError("the store went away")
            return {"ETag": f'"{hashlib.md5(Body).hexdigest()}"'}  # noqa: S324
        finally:
            with self.lock:
                self.running -= 1

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        self.completed.append(kwargs["MultipartUpload"])
        return {}


@pytest.mark.parametrize("fail_part", [0, 2])
def test_parts_go_up_side_by_side_within_the_memory_bound(tmp_path: Path,
                                                          fail_part: int) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(6 * PART_SIZE + 7))
    store = _SlowStore(fail_part)
    with ThreadPoolExecutor(8) as pool:
        parts = objects._Parts(pool, threading.BoundedSemaphore(3))
        if fail_part:
            with pytest.raises(ConnectionError):
                objects._upload(store, "b", "k", lambda: path, parts)
            assert store.aborted and not store.completed
        else:
            sha, size = objects._upload(store, "b", "k", lambda: path, parts)
            assert size == path.stat().st_size
            assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
            listed = store.completed[0]["Parts"]
            assert [p["PartNumber"] for p in listed] == list(range(1, 8))
    # Side by side, yet never more part buffers in flight than slots; none kept after.
    assert store.most == 3
    assert all(parts.slots.acquire(blocking=False) for _ in range(3)), "a part's slot leaked"


def test_peak_memory_of_a_large_object_upload_is_printed(seaweed: Any, tmp_path: Path,
                                                         measure) -> None:
    """Printed, not asserted: the harness's peak RSS uploading one 256 MiB object, measured
    in a fresh process beside the same process's RSS before the upload."""
    replica = tmp_path / "replica" / "scrydon-kb"
    replica.mkdir(parents=True)
    (replica / "huge.bin").write_bytes(os.urandom(256 * 1024 * 1024))
    ep = seaweed.endpoint
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from harness.restore.objects import restore_objects\n"
        "from harness.scratch.endpoints import S3Endpoint\n"
        "def hwm():\n"
        "    # VmHWM starts afresh at exec (ru_maxrss would carry the parent's peak)\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "before = hwm()\n"
        "ep = S3Endpoint(**json.loads(sys.argv[2]))\n"
        "restore_objects(Path(sys.argv[1]), ep)\n"
        "print(json.dumps([before, hwm()]))\n")
    fields = {"url": ep.url, "access_key": ep.access_key, "secret_key": ep.secret_key}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "replica"),
                          json.dumps(fields)], cwd=REPO, capture_output=True, text=True,
                         check=True)
    before, after = json.loads(out.stdout)
    measure(f"uploading one 256 MiB object: peak RSS {after / 1024:.0f} MiB "
            f"(process before the upload {before / 1024:.0f} MiB)")


def test_each_bucket_gets_its_first_write_before_the_crowd() -> None:
    local = (lambda: Path("/nonexistent"))
    items = [("kb", "a", local), ("kb", "b", local), ("nb", "x", local), ("kb", "c", local),
             ("nb", "y", local), ("logs", "z", local)]
    firsts, rest = objects._first_of_each_bucket(items)
    assert [(b, k) for b, k, _ in firsts] == [("kb", "a"), ("nb", "x"), ("logs", "z")]
    assert [(b, k) for b, k, _ in rest] == [("kb", "b"), ("kb", "c"), ("nb", "y")]
