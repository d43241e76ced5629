"""Object restore at sizes past one part: large objects go up in parts, read once, each part
and the whole checked by the store against their SHA-256 checksums (or, for a store that
answers none, against its ETags), memory bounded by workers x part size."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import zlib
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
    head = client.head_object(Bucket="scrydon-kb", Key="org/big.bin", ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3"), "the big object did not go up in parts"
    # The store kept the composite of the parts' CRC32s: the checksums reached it.
    parts = [(replica / "scrydon-kb/org/big.bin").read_bytes()[i:i + PART_SIZE]
             for i in range(0, sizes["org/big.bin"], PART_SIZE)]
    assert head.get("ChecksumCRC32", "").split("-")[0] == _crc(b"".join(
        zlib.crc32(p).to_bytes(4, "big") for p in parts))


def _crc(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _sent_headers(client: Any) -> list[dict[str, str]]:
    """The headers of every request the client sends from now on."""
    seen: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3", lambda request, **_: seen.append(
            {k.lower(): v.decode() if isinstance(v, bytes) else str(v)
             for k, v in request.headers.items()}))
    return seen


def test_bodies_carry_their_sha256_and_are_hashed_nowhere_else(seaweed: Any,
                                                                tmp_path: Path) -> None:
    """A single-part object goes up with its SHA-256, each part of a large one with its
    CRC32, for the store to verify; the client adds no checksum and no payload hash of its
    own (over plain HTTP it would hash every body twice more)."""
    client: Any = seaweed.endpoint.upload_client()
    seen = _sent_headers(client)
    client.create_bucket(Bucket="scrydon-kb")
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1000))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(PART_SIZE + 10))
    with ThreadPoolExecutor(2) as pool:
        parts = objects._Parts(pool, threading.BoundedSemaphore(2))
        objects._upload(client, "scrydon-kb", "small", lambda: small, parts)
        objects._upload(client, "scrydon-kb", "big", lambda: big, parts)
    checksums = sorted(f"{k}={v}" for h in seen for k, v in h.items()
                       if k.startswith("x-amz-checksum-") and k != "x-amz-checksum-algorithm")
    assert checksums == sorted([f"x-amz-checksum-sha256={_sha(small.read_bytes())}",
                                f"x-amz-checksum-crc32={_crc(big.read_bytes()[:PART_SIZE])}",
                                f"x-amz-checksum-crc32={_crc(big.read_bytes()[PART_SIZE:])}"])
    for h in seen:
        if any(k.startswith("x-amz-checksum-") for k in h):
            assert h["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD", h
            assert "x-amz-checksum-" in h["authorization"], "the checksum is not signed"


@pytest.mark.parametrize("size", [1000, PART_SIZE + 10], ids=["single", "multipart"])
def test_a_body_changed_on_the_wire_is_refused_by_the_store_and_named(
        seaweed: Any, tmp_path: Path, size: int) -> None:
    """A real store, a body altered after its checksum was computed (one byte flipped just
    before it is sent): the store refuses it, the restore fails naming the object, nothing
    is left under the key."""
    client: Any = seaweed.endpoint.upload_client()
    client.create_bucket(Bucket="scrydon-kb")

    def flip(request: Any, **_: Any) -> None:
        body = request.body.getvalue()  # botocore sends bytes bodies from a BytesIO
        request.body = io.BytesIO(body[:50] + bytes([body[50] ^ 1]) + body[51:])

    client.meta.events.register("before-send.s3.PutObject", flip)
    client.meta.events.register("before-send.s3.UploadPart", flip)
    path = tmp_path / "obj.bin"
    path.write_bytes(os.urandom(size))
    with ThreadPoolExecutor(2) as pool:
        parts = objects._Parts(pool, threading.BoundedSemaphore(2))
        with pytest.raises(DrillError, match="scrydon-kb/obj changed on its way.*refused"):
            objects._upload(client, "scrydon-kb", "obj", lambda: path, parts)
    listed = client.list_objects_v2(Bucket="scrydon-kb").get("Contents", [])
    assert listed == []


class _LyingStore:
    """A client whose store answers no checksums, only ETags, and a wrong one for part 2
    (data changed in transit)."""

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


class _WrongChecksumStore(_LyingStore):
    """A store that answers checksums: the right one for every body but the one ``wrong``
    names (part 2, the composite, or a single-part object)."""

    def __init__(self, wrong: str = "part") -> None:
        super().__init__()
        self.wrong = wrong

    def upload_part(self, *, PartNumber: int, Body: bytes, **_: Any) -> dict[str, str]:
        bad = PartNumber == 2 and self.wrong == "part"
        return {"ETag": '"whatever"', "ChecksumCRC32": _crc(Body + (b"x" if bad else b""))}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        crcs = [base64.b64decode(p["ChecksumCRC32"]) for p in kwargs["MultipartUpload"]["Parts"]]
        if self.wrong == "composite":
            crcs.reverse()
        return {"ChecksumCRC32": f"{_crc(b''.join(crcs))}-{len(crcs)}"}

    def put_object(self, *, Body: bytes, **_: Any) -> dict[str, str]:
        return {"ETag": '"whatever"',
                "ChecksumSHA256": _sha(Body + (b"x" if self.wrong == "single" else b""))}


@pytest.mark.parametrize("wrong,size,message", [
    ("part", 3 * PART_SIZE, "part 2 of object b/k changed on its way .*CRC32"),
    ("composite", 3 * PART_SIZE, "object b/k changed on its way .*composite CRC32"),
    ("single", 100, "object b/k changed on its way .*SHA-256"),
    ("none", 3 * PART_SIZE, ""),
    ("none", 100, ""),
])
def test_a_checksum_the_store_answers_must_be_the_bodys(tmp_path: Path, wrong: str, size: int,
                                                        message: str) -> None:
    path = tmp_path / "obj.bin"
    path.write_bytes(os.urandom(size))
    store = _WrongChecksumStore(wrong)
    with ThreadPoolExecutor(4) as pool:
        parts = objects._Parts(pool, threading.BoundedSemaphore(4))
        if message:
            with pytest.raises(DrillError, match=message):
                objects._upload(store, "b", "k", lambda: path, parts)
        else:  # the same store telling the truth: accepted
            sha, _ = objects._upload(store, "b", "k", lambda: path, parts)
            assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert store.aborted == (wrong == "part")


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
