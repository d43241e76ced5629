"""The history of past runs (directory) and the RTO trend, and publishing to a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.evidence.history import DirectoryHistory, HistoryEntry, open_history, trend
from harness.evidence.manifest import verify_folder
from harness.evidence.publish import publish
from harness.evidence.reports import write_reports
from harness.evidence.storage import EvidenceStoreError, S3Options, split_s3
from harness.evidence.views import fmt_seconds, fmt_size
from tests.sample_record import sample_record


def _entry(i: int, rto: float | None, failing: bool = False) -> HistoryEntry:
    return HistoryEntry.from_record(sample_record(run_id=f"202611{i:02d}T000000Z-abcdef",
                                                  rto_seconds=rto or 0, failing=failing))


def test_directory_history_keeps_one_file_per_run_and_loads_the_newest(tmp_path: Path) -> None:
    store = open_history(str(tmp_path / "hist"))
    assert isinstance(store, DirectoryHistory) and store.load(5) == []
    for i in range(1, 8):
        store.add(_entry(i, 400 + i))
    (tmp_path / "hist" / "20261199T000000Z-broken.json").write_text("{not json")
    loaded = store.load(3)
    assert [e.run_id[:8] for e in loaded] == ["20261105", "20261106", "20261107"]  # broken skipped
    assert loaded[-1].rto_seconds == 407


def test_rto_regression_warns_against_the_median_of_recent_passing_runs() -> None:
    history = [_entry(i, 400 + i) for i in range(1, 7)]
    history.append(_entry(7, 5000, failing=True))  # a failed run is no baseline
    assert trend(sample_record(rto_seconds=420), history).warning is None
    warn = trend(sample_record(rto_seconds=700), history).warning
    assert warn and "RTO regressed" in warn and "700.0 s" in warn
    # Jitter on a short drill is not a regression.
    quick = [_entry(i, 2.0) for i in range(1, 6)]
    assert trend(sample_record(rto_seconds=4.0), quick).warning is None


def test_trend_ends_with_the_current_run_and_respects_the_limit() -> None:
    history = [_entry(i, 400 + i) for i in range(1, 30)]
    t = trend(sample_record(run_id="20261201T000000Z-ffffff"), history, limit=10)
    assert len(t.entries) == 10 and t.entries[-1].run_id == "20261201T000000Z-ffffff"


def test_publish_to_a_directory_copies_and_verifies(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "20261124T000000Z-aaaaaa"
    write_reports(sample_record(), folder)
    where = publish(folder, str(tmp_path / "archive"))
    assert verify_folder(where).ok
    with pytest.raises(EvidenceStoreError, match="already exists"):
        publish(folder, str(tmp_path / "archive"))


def test_publish_to_an_unwritable_place_raises_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    write_reports(sample_record(), folder)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(EvidenceStoreError, match="cannot copy the report"):
        publish(folder, str(blocker / "sub"))
    with pytest.raises(EvidenceStoreError, match="cannot publish the report"):
        publish(folder, "s3://bucket/prefix",
                S3Options(endpoint="http://127.0.0.1:9", access_key="a", secret_key="b"))


def test_s3_uris_and_formatting_helpers() -> None:
    assert split_s3("s3://b/p/q/") == ("b", "p/q")
    with pytest.raises(EvidenceStoreError):
        split_s3("s3:///p")
    assert fmt_seconds(4.2) == "4.20 s" and fmt_seconds(125) == "2 min 05 s"
    assert fmt_seconds(7260) == "2 h 01 min" and fmt_seconds(None) == "—"
    assert fmt_size(512) == "512 B" and fmt_size(1536) == "1.5 KiB"
