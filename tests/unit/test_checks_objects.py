"""kb.documents and the index-to-object consistency checks, on in-memory objects."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from harness.checks.objects import IndexedObject, check_documents, check_index_objects

BLOBS = {("kb", f"doc{i}.txt"): f"document {i} ".encode() * (i + 1) for i in range(6)}


def indexed(i: int, **changes: object) -> IndexedObject:
    data = BLOBS[("kb", f"doc{i}.txt")]
    values: dict[str, object] = {"id": f"doc_{i}", "bucket": "kb", "key": f"doc{i}.txt",
                                 "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    values.update(changes)
    return IndexedObject(**values)  # type: ignore[arg-type]


def reader(store: dict[tuple[str, str], bytes]):  # type: ignore[no-untyped-def]
    def read(bucket: str, key: str) -> Iterable[bytes] | None:
        data = store.get((bucket, key))
        return None if data is None else [data[:5], data[5:]]
    return read


def test_documents_with_matching_content_pass_and_state_coverage() -> None:
    docs = [indexed(i) for i in range(6)]
    out = check_documents(docs, reader(BLOBS), total=6, seed=3, min_documents=1)
    assert out.ok and "opened all 6 knowledge-base documents" in out.message
    assert out.measured["coverage_percent"] == 100.0
    assert out.measured["bytes_read"] == sum(len(b) for b in BLOBS.values())
    sampled = check_documents(docs[:2], reader(BLOBS), total=6, seed=3, min_documents=1)
    assert sampled.ok and "a random sample of 2 of 6 (33.3 %, seed 3)" in sampled.message


def test_missing_and_changed_blobs_fail_by_id() -> None:
    store = dict(BLOBS)
    del store[("kb", "doc1.txt")]
    store[("kb", "doc2.txt")] = b"X" * len(BLOBS[("kb", "doc2.txt")])
    store[("kb", "doc3.txt")] = b"short"
    out = check_documents([indexed(i) for i in range(6)], reader(store), total=6, seed=1,
                          min_documents=1)
    assert not out.ok and out.measured["missing"] == 1 and out.measured["mismatched"] == 2
    assert "1 blob missing from the restored object store: doc_1 (kb/doc1.txt)" in out.message
    assert "doc_2 (kb/doc2.txt: SHA-256" in out.message
    assert "doc_3 (kb/doc3.txt: 5 bytes, indexed" in out.message


def test_an_empty_index_fails_below_the_minimum() -> None:
    out = check_documents([], reader(BLOBS), total=0, seed=1, min_documents=1)
    assert not out.ok and "0 documents" in out.message


def test_index_objects_listing() -> None:
    index = [indexed(i) for i in range(4)]
    listing = {f"kb/doc{i}.txt": len(BLOBS[("kb", f"doc{i}.txt")]) for i in range(6)}
    out = check_index_objects(index, listing, what="notebook", minimum=1)
    assert out.ok and out.measured["unindexed_objects"] == 2 and "have no index row" in out.message
    del listing["kb/doc0.txt"]
    listing["kb/doc1.txt"] += 1
    out = check_index_objects(index, listing, what="notebook", minimum=1)
    assert not out.ok and out.measured["missing"] == 1 and out.measured["wrong_size"] == 1
    assert "1 indexed notebook without its object: doc_0 (kb/doc0.txt)" in out.message
    empty = check_index_objects([], {}, what="notebook", minimum=1)
    assert not empty.ok and "0 rows" in empty.message
    assert check_index_objects([], {}, what="notebook", minimum=0).ok
