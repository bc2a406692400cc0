"""``bnn-deploy compare``: real bench and eval results compared row by row, regressions found, bad input refused."""

from __future__ import annotations

import json

import pytest

from support.cli import error_line, run_cli
from support.results import edited

pytestmark = pytest.mark.slow  # real benches (100 timed runs per artifact) and an eval of a real export


def _row(data: dict, fmt: str, role: str = "binary") -> dict:
    return next(r for r in data["results"] if r["format"] == fmt and r["role"] == role)


def test_two_runs_of_one_export_pair_every_row(benches):
    proc = run_cli("compare", benches["a"], benches["b"], "--max-slowdown", "1000%", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # --json: nothing else on stdout
    old = json.loads(benches["a"].read_text())
    assert result["kind"] == "bench" and result["passed"] and result["schema_version"] == 2
    assert len(result["rows"]) == len(old["results"]) == 7
    for row in result["rows"]:
        assert row["status"] == "ok" and row["same_file"] is True, row
        lat = row["latency"]
        assert lat["statistic"] == "median" and lat["old_runs"] == lat["new_runs"] == 100
        old_row = next(r for r in old["results"] if f"{r['name']} {r['threads']}t" == row["name"])
        assert lat["old_ms"] == old_row["latency_ms"]["median"]
        assert lat["ratio"] == pytest.approx(lat["new_ms"] / lat["old_ms"], rel=1e-4)
        assert lat["p99"] is not None  # 100 runs on both sides: a tail figure
    assert not any("p99 is compared only" in n for n in result["notes"])


def test_p99_is_not_compared_below_100_runs(benches):
    proc = run_cli("compare", benches["a"], benches["c"], "--max-slowdown", "1000%")
    assert proc.returncode == 0, proc.stderr
    assert "p99 is compared only where both sides timed at least 100 runs (here: 100/20)" in proc.stdout
    assert "interpolated between the two slowest runs" in proc.stdout
    assert "bench settings differ: runs 100 -> 20" in proc.stdout
    assert proc.stdout.rstrip().endswith("PASS: no regression in 7 rows")


def test_each_kind_of_regression_fails_the_gate(benches, tmp_path):
    """NEW is OLD with one regression of each kind injected: exactly those are reported, exit code 3."""

    def regress(data):
        lce = _row(data, "lce")
        lce["latency_ms"] = {k: v * 1.5 if k != "runs" else v for k, v in lce["latency_ms"].items()}
        _row(data, "tflite-float")["quality"]["psnr_db"] -= 0.2
        _row(data, "onnx")["parity"]["psnr_db"] = 40.0
        ref = _row(data, "pytorch", "float-ref")
        for key in ("latency_ms", "quality", "parity", "memory"):
            ref.pop(key)
        ref["error"] = "worker died"
        data["results"].remove(_row(data, "tflite-int8", "float-ref"))
        data["results"].append(dict(_row(data, "lce"), threads=2))  # a row OLD does not have

    new = edited(benches["a"], tmp_path / "new.json", regress)
    proc = run_cli("compare", benches["a"], new, "--json")
    assert proc.returncode == 3, proc.stderr
    result = json.loads(proc.stdout)
    assert not result["passed"]
    found = "\n".join(result["regressions"])
    assert len(result["regressions"]) == 5, found
    assert "lce 48x32 1t: median latency" in found and "(1.50x, over the 5% allowed; 100/100 timed runs)" in found
    assert "tflite-float 48x32 1t: PSNR vs HR" in found and "(drop 0.200 dB, over --max-psnr-drop 0.05)" in found
    assert "onnx 1t: parity 40.00 dB is below --min-parity-db 60" in found
    assert "pytorch float-ref 1t: NEW error: worker died" in found
    assert "tflite-int8 float-ref 48x32 1t: missing in NEW (OLD measured it)" in found
    by_name = {(r["name"], r["status"]) for r in result["rows"]}
    assert ("lce 48x32 2t", "only in NEW") in by_name  # reported, not a regression
    # int8's parity is its quantization error: shown, never gated; the reference is not gated either
    ref = next(r for r in result["rows"] if r["name"] == "pytorch 1t")
    assert ref["parity"]["gated"] is False and ref["status"] == "ok"
    # the table says the same, then every regression on its own line
    text = run_cli("compare", benches["a"], new)
    assert text.returncode == 3
    assert "REGRESSION: 5 found" in text.stdout and "lce 48x32 2t" in text.stdout and "only in NEW" in text.stdout
    # a looser gate lets the slowdown and the PSNR drop through
    loose = run_cli("compare", benches["a"], new, "--max-slowdown", "60%", "--max-psnr-drop", "0.3", "--json")
    assert loose.returncode == 3 and len(json.loads(loose.stdout)["regressions"]) == 3


def test_eval_results_compare_quality_and_parity(eval_json, tmp_path):
    same = run_cli("compare", eval_json, eval_json, "--json")
    assert same.returncode == 0, same.stderr
    result = json.loads(same.stdout)
    assert result["kind"] == "eval" and result["passed"]
    names = [r["name"] for r in result["rows"]]
    assert names[0] == "bicubic" and "lce 48x32" in names and "onnx" in names
    assert all("latency" not in r for r in result["rows"])

    def worse(data):
        lce = next(m for m in data["models"] if m.get("format") == "lce")
        lce["mean"]["psnr"] -= 0.1
        lce["sha256"] = "0" * 64  # a rebuilt file

    proc = run_cli("compare", eval_json, edited(eval_json, tmp_path / "worse.json", worse))
    assert proc.returncode == 3
    assert "lce 48x32: PSNR vs HR" in proc.stdout and "(drop 0.100 dB" in proc.stdout
    assert "a different file (rebuilt)" in proc.stdout


def test_results_that_cannot_be_compared_are_refused(benches, eval_json, export_dir, tmp_path):
    a = benches["a"]
    v1 = edited(a, tmp_path / "v1.json", lambda d: [d.pop("schema_version"), d.pop("format")])
    newer = edited(a, tmp_path / "v3.json", lambda d: d.update(schema_version=3))
    other = edited(a, tmp_path / "other.json", lambda d: d["model_source"].update(sha256="f" * 64))
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"traceEvents": [{"ph": "X", "name": "CONV_2D", "ts": 0, "dur": 5}]}))
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"profiles": [{"artifact": "x", "ops": []}]}))
    cases = [
        ((a, eval_json), f"{a} is a bench result and {eval_json} an eval result; compare two results of one kind"),
        ((v1, a), "is bench schema version 1 and"),
        ((a, newer), "is bench schema version 3, newer than this bnn-deploy reads (2); upgrade bnn-deploy"),
        ((a, other), "come from exports of different models"),
        ((export_dir / "manifest.json", a), "is an export manifest (the manifest.json of bnn-deploy export)"),
        ((a, trace), "is a Chrome trace"),
        ((a, listed), "is a JSON list of 2 items, not a result bnn-deploy wrote"),
        ((a, garbage), "is not a readable result JSON"),
        ((a, tmp_path / "missing.json"), "not found"),
        ((a, profile), "is a profile result; pass a bench"),
        ((a, a, "--max-slowdown", "0.05"), "--max-slowdown '0.05' is not a percentage; give e.g. --max-slowdown 5%"),
        ((a, a, "--max-psnr-drop", "-1"), "--max-psnr-drop -1 is negative"),
    ]
    for args, message in cases:
        proc = run_cli("compare", *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert message in error_line(proc), (args, proc.stderr)
    # different models are compared when asked to, and the output says so
    proc = run_cli("compare", a, other, "--different-models")
    assert proc.returncode == 0 and "different models compared (--different-models)" in proc.stdout
