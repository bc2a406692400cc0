"""ONNX in: files from our exporter and third-party-style graphs reach LCE with every binary conv
bitpacked and parity against ONNX Runtime; op-level rebuild checks against ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from bnn_deploy.conversion.export import export_model
from bnn_deploy.conversion.onnx_to_tf import fold_onnx, rebuild_tf, run_tf
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.runtimes.onnxrt import ort_session

MIN_DB = 70.0
RNG = np.random.default_rng(0)


def _model(nodes, inits, opset=17, name="x", channels=3):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "c", "oh", "ow"])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _binary_weight(out_ch, in_ch, k=3):
    alpha = RNG.uniform(0.05, 0.3, (out_ch, 1, 1, 1)).astype(np.float32)
    return (np.where(RNG.standard_normal((out_ch, in_ch, k, k)) >= 0, 1.0, -1.0) * alpha).astype(np.float32)


def _float(*shape, scale=0.1):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _tflite_vs_ort(model, tmp_path: Path, hw, *, x=None) -> tuple[np.ndarray, np.ndarray]:
    """The graph through TF and the stock TFLite converter vs ONNX Runtime, on one input."""
    from bnn_deploy.conversion.lce import convert_tflite_float
    from bnn_deploy.conversion.onnx_to_tf import save_saved_model
    from support.flatbuffers import run_flatbuffer

    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    channels = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    x = RNG.random((1, channels, *hw), dtype=np.float32) if x is None else x
    rebuilt = rebuild_tf(model, hw)
    want = ort_session(path).run(None, {model.graph.input[0].name: x})[0]
    np.testing.assert_allclose(run_tf(rebuilt, x), want, rtol=1e-5, atol=1e-5)
    data = convert_tflite_float(save_saved_model(rebuilt, tmp_path / "sm"))
    return run_flatbuffer(data, x), want


# ---------------------------------------------------------------- whole models


def test_onnx_from_our_exporter_reaches_lce(tmp_path, capsys):
    from bnn_deploy.cli import main
    from bnn_deploy.conversion.onnx_export import export_onnx
    from bnn_deploy.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("bbcu_m", scale=2, num_feat=8, num_block=1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") and "binary" not in name:
                p.copy_(0.05 * torch.randn(p.shape))
    path = tmp_path / "bbcu_m.onnx"
    export_onnx(model, path)
    out = tmp_path / "out"
    assert main(["export", str(path), "--format", "lce", "--input-size", "32x24", "--out", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    (art,) = manifest["artifacts"]
    assert manifest["source"]["kind"] == "onnx" and manifest["source"]["arch"] == "bbcu_m"
    assert art["binary_convs"]["bitpacked"] == art["binary_convs"]["total"] == 4
    assert "LceDequantize" not in art["op_histogram"]
    assert "ONNX Runtime" in art["parity"]["reference"]
    assert art["parity"]["psnr_db"] >= MIN_DB
    print(f"\nour ONNX bbcu_m x2: 4/4 bitpacked, parity {art['parity']['psnr_db']} dB vs ONNX Runtime")
    assert sorted(p.name for p in out.iterdir()) == ["bbcu_m_32x24.lce.tflite", "manifest.json"]


def _third_party_sr() -> onnx.ModelProto:
    """A third-party style ×2 SR net: plain ``Sign`` + ±alpha filters, larq's ``sign(sign(x)+0.1)``
    with a separate zero ``Pad``, BN, PReLU with [C,1,1] slopes, pixel shuffle, bilinear skip."""
    c = 16
    nodes = [
        helper.make_node("Conv", ["x", "w_head", "b_head"], ["h0"], pads=[1, 1, 1, 1], name="head"),
        helper.make_node("PRelu", ["h0", "slope"], ["h"], name="head_act"),
        # block 1: Sign → Conv(±α, pads 1) → per-channel Mul → + h
        helper.make_node("Sign", ["h"], ["s1"], name="b1/sign"),
        helper.make_node("Conv", ["s1", "w_b1"], ["c1"], pads=[1, 1, 1, 1], name="b1/bconv"),
        helper.make_node("Mul", ["c1", "gain"], ["g1"], name="b1/gain"),
        helper.make_node("Add", ["g1", "h"], ["r1"], name="b1/res"),
        # block 2: sign(sign(r1 - t) + 0.1) → zero Pad → Conv(±α, valid) → BN → + r1 → LeakyReLU
        helper.make_node("Sub", ["r1", "thr"], ["t2"], name="b2/shift"),
        helper.make_node("Sign", ["t2"], ["q2"], name="b2/sign_in"),
        helper.make_node("Add", ["q2", "tenth"], ["a2"], name="b2/plus"),
        helper.make_node("Sign", ["a2"], ["s2"], name="b2/sign"),
        helper.make_node("Pad", ["s2", "pads"], ["p2"], mode="constant", name="b2/pad"),
        helper.make_node("Conv", ["p2", "w_b2"], ["c2"], name="b2/bconv"),
        helper.make_node("BatchNormalization", ["c2", "bn_s", "bn_b", "bn_m", "bn_v"], ["n2"], name="b2/bn"),
        helper.make_node("Add", ["n2", "r1"], ["r2"], name="b2/res"),
        helper.make_node("LeakyRelu", ["r2"], ["l2"], alpha=0.2, name="b2/act"),
        # tail: conv → pixel shuffle (CRD) + bilinear skip
        helper.make_node("Conv", ["l2", "w_up", "b_up"], ["u"], pads=[1, 1, 1, 1], name="up"),
        helper.make_node("DepthToSpace", ["u"], ["d"], blocksize=2, mode="CRD", name="shuffle"),
        helper.make_node(
            "Resize",
            ["x", "", "scales"],
            ["base"],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
            name="skip",
        ),
        helper.make_node("Add", ["d", "base"], ["y"], name="out"),
    ]
    inits = {
        "w_head": _float(c, 3, 3, 3, scale=0.3),
        "b_head": _float(c),
        "slope": RNG.uniform(0, 0.3, (c, 1, 1)).astype(np.float32),
        "w_b1": _binary_weight(c, c),
        "gain": RNG.uniform(0.5, 1.5, (1, c, 1, 1)).astype(np.float32),
        "thr": _float(1, c, 1, 1),
        "tenth": np.array(0.1, np.float32),
        "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
        "w_b2": _binary_weight(c, c),
        "bn_s": RNG.uniform(0.5, 1.5, c).astype(np.float32),
        "bn_b": _float(c),
        "bn_m": _float(c),
        "bn_v": RNG.uniform(0.5, 2, c).astype(np.float32),
        "w_up": _float(12, c, 3, 3),
        "b_up": _float(12),
        "scales": np.array([1, 1, 2, 2], np.float32),
    }
    return _model(nodes, inits)


def test_third_party_sign_onnx_reaches_lce(tmp_path):
    path = tmp_path / "thirdparty.onnx"
    onnx.save(_third_party_sr(), path)
    manifest = export_model(
        path, formats=["lce"], input_sizes=[(32, 24)], out_dir=tmp_path / "out", min_parity_db=MIN_DB
    ).to_json()
    (art,) = manifest["artifacts"]
    assert art["binary_convs"]["bitpacked"] == art["binary_convs"]["total"] == 2
    assert sorted(art["binary_convs"]["layers"]) == ["b1/bconv", "b2/bconv"]
    assert art["op_histogram"]["LceBconv2d"] == 2 and "PAD" not in art["op_histogram"]
    assert art["pixel_shuffles"][0]["how"] == "permuted"
    assert art["parity"]["psnr_db"] >= MIN_DB
    print(f"\nthird-party Sign ONNX: 2/2 bitpacked, parity {art['parity']['psnr_db']} dB vs ONNX Runtime")


def test_unsupported_op_is_named_and_nothing_written(tmp_path):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="feat"),
        helper.make_node("Erf", ["c"], ["e"], name="gelu/erf"),
        helper.make_node("Resize", ["e", "", "scales"], ["y"], mode="cubic", name="up"),
    ]
    path = tmp_path / "bad.onnx"
    onnx.save(_model(nodes, {"w": _float(3, 3, 3, 3), "scales": np.array([1, 1, 2, 2], np.float32)}), path)
    out = tmp_path / "out"
    with pytest.raises(BnnDeployError, match=r"unsupported ONNX op Erf at 'gelu/erf'"):
        export_model(path, input_sizes=[(16, 12)], out_dir=out)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
    nodes[1] = helper.make_node("Relu", ["c"], ["e"], name="act")
    onnx.save(_model(nodes, {"w": _float(3, 3, 3, 3), "scales": np.array([1, 1, 2, 2], np.float32)}), path)
    with pytest.raises(BnnDeployError, match=r"Resize at 'up' is not supported here: mode 'cubic'"):
        export_model(path, input_sizes=[(16, 12)], out_dir=out)
    assert not out.exists()


# ---------------------------------------------------------------- op-level checks


@pytest.mark.parametrize(
    "mode,coord,scales",
    [
        ("linear", "half_pixel", (2, 2)),  # PyTorch bilinear, align_corners=False (BBCU's skip)
        ("linear", "half_pixel", (4, 4)),
        ("linear", "half_pixel", (0.5, 0.5)),  # downscaling, no antialias on either side
        ("linear", "half_pixel", (1.5, 2.5)),
        ("linear", "align_corners", (2, 3)),
        ("linear", "asymmetric", (2, 2)),
        ("nearest", "asymmetric", (2, 3)),  # PyTorch nearest
    ],
)
def test_resize_matches_onnx_runtime_in_tflite(tmp_path, mode, coord, scales):
    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if mode == "nearest":
        attrs["nearest_mode"] = "floor"
    nodes = [helper.make_node("Resize", ["x", "", "s"], ["y"], name="r", **attrs)]
    model = _model(nodes, {"s": np.array([1, 1, *scales], np.float32)})
    got, want = _tflite_vs_ort(model, tmp_path, (8, 12))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_layout_and_float_ops_match_onnx_runtime(tmp_path):
    """Per-channel constants of every rank, BN, Clip, reflect Pad, SE-style pooling, Concat, DCR
    shuffle, depthwise and grouped convs — through TF and TFLite against ONNX Runtime."""
    c = 8
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["a"], pads=[1, 1, 1, 1], name="c0"),
        helper.make_node("Add", ["a", "vec_c"], ["a1"]),  # [C,1,1]
        helper.make_node("Mul", ["a1", "vec_1c11"], ["a2"]),  # [1,C,1,1]
        helper.make_node("Sub", ["a2", "row_w"], ["a3"]),  # [W] varies along width
        helper.make_node("Div", ["a3", "two"], ["a4"]),  # scalar
        helper.make_node("BatchNormalization", ["a4", "bn_s", "bn_b", "bn_m", "bn_v"], ["a5"], epsilon=1e-3),
        helper.make_node("Clip", ["a5", "lo", "hi"], ["a6"]),
        helper.make_node("Pad", ["a6", "pads"], ["a7"], mode="reflect"),
        helper.make_node("Conv", ["a7", "wdw"], ["a8"], group=c),  # depthwise, valid
        helper.make_node("GlobalAveragePool", ["a8"], ["g"]),
        helper.make_node("Conv", ["g", "wfc"], ["g1"]),
        helper.make_node("Sigmoid", ["g1"], ["g2"]),
        helper.make_node("Mul", ["a8", "g2"], ["a9"]),
        helper.make_node("ReduceMean", ["a9"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Concat", ["a9", "m"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", "wg", "bg"], ["gc"], group=3, pads=[0, 1, 0, 1], kernel_shape=[1, 3]),
        helper.make_node("Tanh", ["gc"], ["t"]),
        helper.make_node("DepthToSpace", ["t"], ["y"], blocksize=2, mode="DCR"),
    ]
    inits = {
        "w0": _float(c, 3, 3, 3, scale=0.5),
        "b0": _float(c),
        "vec_c": _float(c, 1, 1),
        "vec_1c11": _float(1, c, 1, 1),
        "row_w": _float(12),
        "two": np.array(2.0, np.float32),
        "bn_s": _float(c) + 1,
        "bn_b": _float(c),
        "bn_m": _float(c),
        "bn_v": RNG.uniform(0.5, 2, c).astype(np.float32),
        "lo": np.array(-0.2, np.float32),
        "hi": np.array(0.3, np.float32),
        "pads": np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64),
        "wdw": _float(c, 1, 3, 3, scale=0.5),
        "wfc": _float(c, c, 1, 1, scale=0.5),
        "wg": _float(12, 3, 1, 3, scale=0.5),
        "bg": _float(12),
    }
    # Concat gives 9 channels = 3 groups of 3; the grouped conv outputs 12 = 3·2² for the shuffle.
    got, want = _tflite_vs_ort(_model(nodes, inits), tmp_path, (10, 12))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_shape_subgraph_is_folded_at_the_fixed_size(tmp_path):
    """PyTorch-style dynamic shape arithmetic (Shape → Gather → Mul → Concat → Resize sizes) folds
    to constants at each fixed input size; no Shape op reaches TF."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "idx_hw"], ["hw"], axis=0),
        helper.make_node("Mul", ["hw", "three"], ["hw3"]),
        helper.make_node("Slice", ["shape", "zero", "two_i"], ["nc"]),
        helper.make_node("Concat", ["nc", "hw3"], ["sizes"], axis=0),
        helper.make_node(
            "Resize",
            ["x", "", "", "sizes"],
            ["y"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
    ]
    model = _model(
        nodes,
        {
            "idx_hw": np.array([2, 3], np.int64),
            "three": np.array([3], np.int64),
            "zero": np.array([0], np.int64),
            "two_i": np.array([2], np.int64),
        },
    )
    for hw in [(5, 7), (6, 4)]:
        folded = fold_onnx(model, hw)
        assert [n.op_type for n in folded.graph.node] == ["Resize"]
        got, want = _tflite_vs_ort(model, tmp_path, hw)
        np.testing.assert_array_equal(got, want)


def test_initializers_listed_as_graph_inputs(tmp_path):
    """Old exporters (keep_initializers_as_inputs) list weights as graph inputs: still one image input."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("DepthToSpace", ["c"], ["y"], blocksize=2, mode="CRD"),
    ]
    model = _model(nodes, {"w": _float(12, 3, 3, 3)})
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [12, 3, 3, 3]))
    got, want = _tflite_vs_ort(model, tmp_path, (6, 5))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
