"""``bnn-deploy report``: one self-contained HTML page, opened in headless Chromium and checked through its DOM."""

from __future__ import annotations

import json
import re

import pytest

from support.cli import error_line, run_cli
from support.results import edited

pytestmark = pytest.mark.slow  # real benches and an eval of a real export

# What the page holds, read in the browser (one JSON object).
FACTS_JS = r"""
(() => {
  const rows = sel => document.querySelectorAll(sel + " tbody tr").length;
  const cells = (sel, col) => Array.from(document.querySelectorAll(sel + " tbody tr"))
      .map(tr => tr.children[col] ? tr.children[col].textContent.trim() : null);
  const pred = document.querySelector("section#predict-1");
  return {
    csp: (document.querySelector('meta[http-equiv="Content-Security-Policy"]') || {}).content || null,
    sections: Array.from(document.querySelectorAll("section")).map(s => s.id),
    scripts: document.scripts.length,
    artifacts: rows("table.artifacts"),
    versions: cells("table.versions", 0),
    bitpacking_modules: cells("table.bitpacking", 1),
    bitpacking_bytes: cells("table.bitpacking", 4).map(Number),
    bench_rows: rows("table.bench"),
    bench_p99: cells("table.bench", 6),
    bench_runs: cells("table.bench", 7),
    speedups: rows("table.speedups"),
    eval_rows: rows("table.eval"),
    ops_rows: rows("table.ops"),
    by_type_rows: rows("table.by-type"),
    images: Array.from(document.images).map(i => ({cls: i.className, complete: i.complete,
        width: i.naturalWidth, data: i.src.startsWith("data:image/png;base64,")})),
    predicted_class: pred ? pred.className : null,
    predicted_border: pred ? getComputedStyle(pred).borderTopStyle : null,
    predicted_cells: Array.from(document.querySelectorAll("td.pred")).map(td => ({
        text: td.textContent, inside: !!td.closest("section.predicted")})),
    prediction_rows: rows("table.predictions"),
    prediction_figures: Array.from(document.querySelectorAll("table.predictions tbody tr"))
        .map(tr => [4, 5, 6].map(i => tr.children[i].className)),
    versus_rows: rows("table.predicted-vs-measured"),
  };
})()
"""


@pytest.fixture(scope="module")
def page(benches, eval_json, profile_json, predict_json, export_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    proc = run_cli("report", export_dir, benches["a"], eval_json, profile_json, predict_json, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads(proc.stdout)


def test_page_shows_everything_and_fetches_nothing(
    page, chromium, export_dir, benches, eval_json, profile_json, predict_json
):
    path, summary = page
    assert summary["report"] == str(path) and summary["size_bytes"] == len(path.read_bytes())
    assert [s["id"] for s in summary["sections"]] == ["manifest", "bench-1", "eval-1", "profile-1", "predict-1"]
    tab = chromium.open(path.as_uri())
    facts = tab.evaluate(FACTS_JS)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    bench = json.loads(benches["a"].read_text())
    evaluation = json.loads(eval_json.read_text())
    prediction = json.loads(predict_json.read_text())
    profile = json.loads(profile_json.read_text())["profiles"][0]

    # self-contained: a policy that forbids fetches, no script, and no request but the page itself
    assert facts["csp"].startswith("default-src 'none'; img-src data:") and facts["scripts"] == 0
    fetched = [u for u in tab.requests() if u != path.as_uri() and not u.startswith("data:")]
    assert fetched == []
    html = path.read_text()
    assert all(u.startswith(("data:", "#")) for u in re.findall(r'(?:src|href)="([^"]*)"', html))

    assert facts["sections"] == ["manifest", "bench-1", "eval-1", "profile-1", "predict-1"]
    # manifest: every artifact, the versions, and each bitpacked conv read from the LCE file
    assert facts["artifacts"] == len(manifest["artifacts"])
    assert {"torch", "tensorflow", "larq_compute_engine"} <= set(facts["versions"])
    lce = next(a for a in manifest["artifacts"] if a["format"] == "lce")
    assert len(facts["bitpacking_modules"]) == lce["binary_convs"]["total"] == 6
    assert all(m and m != "?" and "binary_conv" in m for m in facts["bitpacking_modules"])
    assert sum(facts["bitpacking_bytes"]) == lce["size"]["binary_filter_bytes"]
    # bench: every row, p99 shown (100 runs), speed-ups; eval: every model
    assert facts["bench_rows"] == len(bench["results"]) == 7
    assert facts["bench_runs"] == ["100"] * 7 and "—" not in facts["bench_p99"]
    assert facts["speedups"] == len(bench["speedups"])
    assert facts["eval_rows"] == len(evaluation["models"])
    # images: the plot and one crop per eval image, all decoded, all inline
    classes = [i["cls"] for i in facts["images"]]
    assert classes.count("plot") == 1 and classes.count("crop") == len(evaluation["crops"]) == 2
    assert all(i["complete"] and i["width"] > 0 and i["data"] for i in facts["images"]), facts["images"]
    # profile: one row per op of the flatbuffer, one per op type
    assert facts["ops_rows"] == len(profile["ops"]) == sum(lce["op_histogram"].values())
    assert facts["by_type_rows"] == len(lce["op_histogram"])
    # predictions: their own dashed box, every figure tagged PREDICTED, none outside the box
    assert facts["predicted_class"] == "predicted" and facts["predicted_border"] == "dashed"
    assert facts["prediction_rows"] == len(prediction["predictions"]) == 2
    assert all(c == ["pred", "pred", "pred"] for c in facts["prediction_figures"])
    assert facts["predicted_cells"] and all(c["inside"] and "PREDICTED" in c["text"] for c in facts["predicted_cells"])
    assert facts["versus_rows"] > 0  # the Pi 4 prediction next to the Pi 4 profile


def test_export_alone_and_rows_of_other_files(export_dir, benches, tmp_path):
    """An export without results is a page too; a bench row of a file the export no longer holds is marked."""
    alone = tmp_path / "alone.html"
    proc = run_cli("report", export_dir, "-o", alone)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {alone}" in proc.stdout and 'id="manifest"' in alone.read_text()
    assert 'id="bench-1"' not in alone.read_text()

    def rebuilt(data):
        next(r for r in data["results"] if r["format"] == "onnx")["sha256"] = "0" * 64

    stale = edited(benches["a"], tmp_path / "stale.json", rebuilt)
    out = tmp_path / "stale.html"
    proc = run_cli("report", export_dir, stale, "-o", out)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert html.count('<tr class="stale">') == 1 and "1 row(s) measured a file that is not in this export now" in html


def test_bad_input_is_refused_before_writing(export_dir, benches, tmp_path):
    a = benches["a"]
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps([{"ph": "X", "name": "CONV_2D", "ts": 0, "dur": 5}]))
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"settings": {}, "rows": []}))
    another_model = edited(a, tmp_path / "m.json", lambda d: d["model_source"].update(sha256="f" * 64))
    newer = edited(a, tmp_path / "v9.json", lambda d: d.update(schema_version=9))
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "report.html"
    cases = [
        ((empty,), "has no manifest.json, so it is not a bnn-deploy export"),
        ((tmp_path / "nowhere",), "not found"),
        ((export_dir, export_dir / "manifest.json"), "is an export manifest (the manifest.json of bnn-deploy export)"),
        ((export_dir, trace), "is a Chrome trace"),
        ((export_dir, listed), "is a JSON list of 2 items, not a result bnn-deploy wrote"),
        ((export_dir, other), "is a JSON object with keys rows, settings, not a result bnn-deploy wrote"),
        ((export_dir, another_model), "measured another model"),
        ((export_dir, newer), "newer than this bnn-deploy reads"),
    ]
    for args, message in cases:
        proc = run_cli("report", *args, "-o", out)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert message in error_line(proc), (args, proc.stderr)
        assert not out.exists()
    for target, message in (
        (tmp_path / "report.txt", "give a path ending in .html or .htm"),
        (tmp_path / "missing" / "r.html", "does not exist; create it first"),
    ):
        proc = run_cli("report", export_dir, a, "-o", target)
        assert proc.returncode == 1 and message in error_line(proc), proc.stderr


def test_the_browser_sees_a_page_fetch(chromium, tmp_path):
    """The request log the page test relies on does record a fetch (so its empty list means something)."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    tab = chromium.open(leaky.as_uri())
    assert tab.requests() == [leaky.as_uri(), "http://127.0.0.1:9/x.png"]
    assert tab.evaluate("document.images[0].naturalWidth") == 0
