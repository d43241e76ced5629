"""``scrydon-drill bench`` at the tiny scale: a real drill and a real plain-tools floor,
their figures, ratios, the chart and the JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.bench.floor import RestoreSet
from tests.integration.test_drills import REPO, private_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_runs_interleaved_pairs_and_writes_json_chart_and_table(measure) -> None:
    work = private_dir("scrydon-drill-bench-")  # the reference's servers run as another user
    out, cache = work / "out", work / "cache"
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "bench", "--scales", "tiny",
                           "--pairs", "2", "--out", str(out), "--cache", str(cache)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "bench.json").read_text())
    (tiny,) = doc["scales"]
    rs = RestoreSet.latest(cache / "tiny-seed7" / "backups")
    assert tiny["bytes"] == sum(rs.sizes().values()) > 0
    assert tiny["verdicts"] == ["pass", "pass"]
    # Each floor really restored the same set: every database, object and table.
    for floor in tiny["runs"]["floor"]:
        assert floor["restored"] == {"databases": len(rs.dumps),
                                     "objects": len(rs.object_files()),
                                     "tables": len(rs.table_files())}
    drill, floor = tiny["drill"], tiny["floor"]
    for side in (drill, floor):
        assert side["whole"] > side["restore_all"] > 0
        assert all(side["restore"][s] > 0 for s in ("postgres", "objects", "warehouse"))
    assert tiny["ratios"]["whole"] == round(drill["whole"] / floor["whole"], 3)
    assert 0 < tiny["peak_rss_mib"] < 1024
    assert drill["rto"] < drill["whole"]
    svg = ET.parse(out / "bench.svg").getroot()
    assert svg.tag.endswith("svg")
    assert "| tiny |" in proc.stdout
    shutil.rmtree(work)
    measure(f"bench tiny, 2 pairs: drill {drill['whole']:.1f} s vs floor {floor['whole']:.1f} s "
            f"(ratio {tiny['ratios']['whole']}), restore {drill['restore_all']:.2f} vs "
            f"{floor['restore_all']:.2f} s, peak RSS {tiny['peak_rss_mib']:.0f} MiB")
