"""The cost model's mechanisms: padding, threads, kernels, memory, reports, and profile comparison."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import OpInfo, TensorInfo, module_path
from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction import compare_against, predict, render_comparison, render_prediction
from bnn_deploy.prediction.model import bconv_geometry, op_cost

ZOO = Path(__file__).resolve().parents[2] / "tests" / "data" / "lce-zoo"
PI4 = B.BOARDS["pi4"]


def _bconv(cin: int, cout: int, hw: int = 56, out_dtype: str = "FLOAT32", padding: int = 0, pad_values: int = 1):
    words = -(-cin // 32)
    inp = TensorInfo(0, "x", (1, hw, hw, words), "INT32")
    filt = TensorInfo(1, "w", (cout, 3, 3, words), "INT32", True)
    out_c = -(-cout // 32) if out_dtype == "INT32" else cout
    out = TensorInfo(2, "y", (1, hw, hw, out_c), out_dtype)
    opts = {
        "channels_in": cin,
        "padding": padding,
        "pad_values": pad_values,
        "stride_height": 1,
        "stride_width": 1,
        "dilation_height_factor": 1,
        "dilation_width_factor": 1,
        "fused_activation_function": 0,
    }
    return OpInfo(0, "LceBconv2d", [inp, filt, None, None, None], [out], opts, custom=True)


def _ms(op, board=PI4, threads=1, kernel="xnnpack"):
    return op_cost(op, board, threads, kernel).seconds() * 1e3


def test_bconv_channel_padding_to_words_and_blocks():
    """Channels in pad to 32-bit words, channels out to the 8-wide kernel block, depth to 4 words."""
    g = bconv_geometry(_bconv(33, 9))
    assert (g["words"], g["n_pad"], g["k_pad"]) == (2, 16, 20)
    assert _ms(_bconv(33, 9)) == pytest.approx(_ms(_bconv(64, 16)), rel=0.05)
    assert _ms(_bconv(64, 64)) > 1.5 * _ms(_bconv(32, 64))


def test_bconv_bitpacked_output_is_cheaper_than_float():
    assert _ms(_bconv(256, 256, 28, "INT32")) < _ms(_bconv(256, 256, 28, "FLOAT32"))


def test_threads_speed_up_bgemm_but_not_the_single_threaded_kernels():
    op = _bconv(128, 128, 64)
    assert _ms(op, threads=4) < 0.6 * _ms(op, threads=1)
    for kernel in ("indirect_bgemm+xnnpack", "reference"):
        assert _ms(op, threads=4, kernel=kernel) == pytest.approx(_ms(op, threads=1, kernel=kernel), rel=0.05)
    assert _ms(op, kernel="reference") > _ms(op)


def test_kernels_without_xnnpack_are_not_predicted():
    with pytest.raises(BnnDeployError, match="without XNNPACK.*predict 'xnnpack'"):
        predict(ZOO / "QuickNet.tflite", devices=["pi4"], threads=[1], kernel="default")


def test_uncalibrated_kernel_is_labelled_and_widens_the_range():
    default = predict(ZOO / "QuickNet.tflite", devices=["pi4"], threads=[1])["predictions"][0]
    other = predict(ZOO / "QuickNet.tflite", devices=["pi4"], threads=[1], kernel="indirect_bgemm+xnnpack")
    entry = other["predictions"][0]
    assert entry["kernel"] == "indirect_bgemm+xnnpack"
    assert default["calibrated"] and not entry["calibrated"]
    assert default["published_configuration"] and not entry["published_configuration"]
    assert any("binary_indirect" in part for part in entry["uncalibrated"])
    assert any("uncalibrated" in n for n in entry["notes"] + other["notes"])

    def spread(p):
        return (p["high_ms"] - p["low_ms"]) / p["predicted_ms"]

    assert spread(entry) > 2 * spread(default)


def test_derived_boards_have_wider_ranges_and_say_so():
    result = predict(ZOO / "QuickNet.tflite", devices=["pi4", "pi5", "pi3-64", "android-arm64"], threads=[1])
    by = {p["device"]: p for p in result["predictions"]}
    spread = {d: (p["high_ms"] - p["low_ms"]) / p["predicted_ms"] for d, p in by.items()}
    for d in ("pi5", "pi3-64", "android-arm64"):
        assert spread[d] > spread["pi4"] and not by[d]["calibrated"] and not by[d]["published_configuration"]
        assert any("derived" in n for n in by[d]["notes"])
    assert by["pi5"]["predicted_ms"] < by["pi4"]["predicted_ms"] < by["pi3-64"]["predicted_ms"]


def _add(n_elements: int) -> OpInfo:
    def t(i):
        return TensorInfo(i, f"t{i}", (1, 1, 1, n_elements), "FLOAT32")

    return OpInfo(0, "ADD", [t(0), t(1)], [t(2)])


def test_elementwise_ops_are_priced_by_bytes_with_a_cache_effect():
    small, large = _add(16_384), _add(16_384 * 256)  # 192 KB vs 48 MB moved
    per_byte_small = _ms(small) / (16_384 * 12)
    per_byte_large = _ms(large) / (16_384 * 256 * 12)
    assert per_byte_large > 1.5 * per_byte_small  # L2-resident data moves faster
    assert _ms(large) == pytest.approx(16_384 * 256 * 12 / (PI4.dram_gbps * 1e9) * 1e3, rel=0.1)
    assert _ms(large, threads=4) < _ms(large)


def test_overhead_and_board_speed_are_respected():
    faster = replace(PI4, bgemm_eff=PI4.bgemm_eff * 2)
    op = _bconv(256, 256, 28)
    assert _ms(op, board=faster) < _ms(op)


def test_module_path_from_the_rebuilds_op_names():
    assert (
        module_path([".body.0.body.1.binary_conv/Conv/Conv2D;.body.0.body.1.relu.pr_bias0/Add"])
        == "body.0.body.1.binary_conv"
    )
    assert module_path(["./Mul/mul"]) == ""  # the model itself
    assert module_path(["PartitionedCall:0"]) is None  # the graph output carries no scope


def test_report_labels_every_figure_predicted():
    result = predict(ZOO / "QuickNetSmall.tflite", devices=["pi4", "pixel1"], threads=[1, 4])
    assert result["label"] == "predicted" and len(result["predictions"]) == 4
    for p in result["predictions"]:
        assert p["label"] == "predicted" and p["low_ms"] < p["predicted_ms"] < p["high_ms"]
        assert p["ops"][-1]["cum_pct"] == pytest.approx(100.0)
        assert sum(t["pct"] for t in p["by_type"].values()) == pytest.approx(100.0)
        assert 0 < p["binary_share"] < 1
    text = render_prediction(result)
    assert text.count("PREDICTED") >= 4 * 4
    assert "binary" in text and "float glue" in text and "cum %" in text
    json.dumps(result)  # JSON-serialisable as it is


def test_compare_against_a_measured_profile(tmp_path):
    result = predict(ZOO / "QuickNet.tflite", devices=["pi4"], threads=[1, 4])
    entry = result["predictions"][0]
    measured = [
        {"node_type": r["op"], "avg_ms": r["ms"] * 1.25}
        for r in entry["ops"]
        if r["op"] in ("LceBconv2d", "LceQuantize")
    ]
    float_ms = sum(r["ms"] for r in entry["ops"] if r["op"] not in ("LceBconv2d", "LceQuantize"))
    measured.append({"op": "TfLiteXNNPackDelegate", "ms": float_ms})
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps({"profiles": [{"device": "pi4", "threads": 1, "kernel": "xnnpack", "ops": measured}]})
    )
    cmp = compare_against(result, profile)
    (c,) = cmp["comparisons"]
    rows = {r["op"]: r for r in c["by_type"]}
    assert rows["LceBconv2d"]["error_pct"] == pytest.approx(-20.0, abs=0.1)
    assert rows["TfLiteXNNPackDelegate"]["error_pct"] == pytest.approx(0.0, abs=0.1)
    assert c["measured_ms"] > c["predicted_ms"] and c["error_pct"] < 0
    assert "MEASURED" in render_comparison(cmp) and "PREDICTED" in render_comparison(cmp)
    # a bare profile entry is accepted too; a profile for an unpredicted device is an error
    assert compare_against(result, {"device": "pi4", "threads": 4, "ops": measured})["comparisons"]
    with pytest.raises(Exception, match="no profile entry matches"):
        compare_against(result, {"profiles": [{"device": "pixel1", "threads": 1, "ops": measured}]})


def test_a_profile_is_compared_with_the_prediction_of_its_own_flatbuffer():
    small = predict(ZOO / "QuickNetSmall.tflite", devices=["pi4"], threads=[1])
    large = predict(ZOO / "QuickNetLarge.tflite", devices=["pi4"], threads=[1])
    both = {"predictions": small["predictions"] + large["predictions"]}
    measured = [{"op": "LceBconv2d", "ms": 10.0}]
    profile = {"device": "pi4", "threads": 1, "kernel": "xnnpack", "ops": measured}
    (c,) = compare_against(both, dict(profile, file="QuickNetLarge.tflite"))["comparisons"]
    assert c["artifact"] == "QuickNetLarge.tflite"
    assert c["predicted_ms"] == large["predictions"][0]["predicted_ms"]
    assert "QuickNetLarge.tflite on pi4" in render_comparison({"comparisons": [c]})
    # a profile that does not say which flatbuffer it measured is not held against another one's prediction
    with pytest.raises(Exception, match="does not name its flatbuffer"):
        compare_against(both, profile)
    assert compare_against(small, profile)["comparisons"][0]["artifact"] == "QuickNetSmall.tflite"
    with pytest.raises(Exception, match="no prediction for the profile of QuickNet.tflite"):
        compare_against(both, dict(profile, artifact="QuickNet.tflite"))
