"""``report EXPORT PROFILE.json`` with the JSON ``bnn-deploy profile`` itself writes, on the host and on a board."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real host profile: every op of the tiny export timed alone


@pytest.fixture(scope="module")
def host_profile(tmp_path_factory, export_dir) -> Path:
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.benchmarking.profile import profile
    from bnn_deploy.core.jsonio import write_json

    path = tmp_path_factory.mktemp("profile") / "host-profile.json"
    write_json(path, profile(export_dir, BenchOptions(kernel="indirect_bgemm", runs=1)))
    return path


def _text(page: Path) -> str:
    body = re.sub(r"<style.*?</style>", "", page.read_text(), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def _lce_heading_and_split(text: str, lce: str) -> tuple[str, float]:
    heading = re.search(rf"{re.escape(lce)} on (\S+), 1 thread\(s\), kernel (\S+)", text)
    assert heading, text[:2000]
    binary = re.search(r"binary ops ([0-9.]+) % of the op time", text[heading.end() :])
    return heading.group(1), float(binary.group(1))


def test_the_page_reads_a_host_profile(export_dir, host_profile, tmp_path):
    from bnn_deploy.reporting.page import write_report_page

    lce = next(p.name for p in export_dir.glob("*.lce.tflite"))
    out = tmp_path / "page.html"
    write_report_page(export_dir, [host_profile], out)
    text = _text(out)
    device, binary = _lce_heading_and_split(text, lce)
    assert device == "host"
    assert binary > 0  # LceBconv2d rows count as binary
    assert "is not a file of this export" not in text


def test_the_page_reads_a_board_profile(export_dir, host_profile, tmp_path):
    """The board's JSON has the same per-artifact profiles, a device record and the XNNPACK runs as ``profiles``."""
    from bnn_deploy.reporting.page import write_report_page

    data = json.loads(host_profile.read_text())
    lce = next(a for a in data["artifacts"] if a["format"] == "lce")
    data["device"] = {"name": "mypi", "profile": "pi4"}
    data["profiles"] = [
        {
            "device": "pi4",
            "board": "mypi",
            "artifact": lce["name"],
            "file": Path(lce["file"]).name,
            "threads": 1,
            "kernel": "xnnpack",
            "ops": [{"op": "LceBconv2d", "ms": 1.0}, {"op": "TfLiteXNNPackDelegate", "ms": 2.0}],
            "total_ms": 3.0,
        }
    ]
    board = tmp_path / "board-profile.json"
    board.write_text(json.dumps(data))
    out = tmp_path / "page.html"
    write_report_page(export_dir, [board], out)
    text = _text(out)
    device, binary = _lce_heading_and_split(text, Path(lce["file"]).name)
    assert device == "mypi" and binary > 0
    assert "is not a file of this export" not in text
