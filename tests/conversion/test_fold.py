"""Folding the float glue around binary convs (bnn_deploy.conversion.fold) and ``lce-int8``: exact on
every architecture, fewer float ops in the LCE flatbuffer, nothing folded where a rule does not hold.

Folded and unfolded graphs are compared in ONNX Runtime on a real photo by PSNR, and by the signs
every binary conv reads: reordered float sums can flip a sign whose input lies within rounding of its
threshold, so a handful of flips among millions of signs is expected (the count is asserted small).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from bnn_deploy.conversion.fold import fold_glue, model_unit_glue, render_unit_glue
from bnn_deploy.conversion.onnx_export import binary_conv_modules, export_onnx
from bnn_deploy.conversion.onnx_pattern import find_convs
from bnn_deploy.conversion.onnx_to_tf import deploy_onnx
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.glue import glue_profile
from bnn_deploy.core.parity import parity_psnr
from support.cli import run_cli
from support.models import tiny_model

MIN_DB = 70.0
HW = (36, 52)


def _onnx(model, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(model, str(path))
    return onnx.load(str(path))


def _run(graph, x):
    """ONNX Runtime on ``graph``: the output and every binary conv's ±1 input."""
    from onnxruntime import InferenceSession

    model = onnx.ModelProto()
    model.CopyFrom(graph)
    signs = [m.input for m in find_convs(model) if m.is_binary]
    for name in signs:
        model.graph.output.append(helper.make_empty_tensor_value_info(name))
    session = InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {model.graph.input[0].name: x})
    return out[0], out[1:]


def _crop(photo, hw=HW):
    h, w = hw
    return np.ascontiguousarray(photo[:h, :w].transpose(2, 0, 1)[None], dtype=np.float32)


def _compare(model, tmp_path, photo, hw=HW):
    """``(folded vs unfolded dB, folded vs PyTorch dB, sign flips, signs, report)``."""
    source = _onnx(model, tmp_path)
    plain, _ = deploy_onnx(source, hw, fold=False)
    folded, report = deploy_onnx(source, hw, fold=True)
    x = _crop(photo, hw)
    y0, s0 = _run(plain, x)
    y1, s1 = _run(folded, x)
    assert len(s0) == len(s1) and s0, "the fold lost a binary conv"
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    flips = sum(int(np.sum(a != b)) for a, b in zip(s0, s1, strict=True))
    return parity_psnr(y1, y0), parity_psnr(y1, ref), flips, sum(a.size for a in s0), report


ATTN_M = {"kind": "attention", "binary_attn": "se", "residual_attn": "spatial"}
ARCHS = [
    pytest.param("bbcu_l", {"scale": 2}, id="l2"),
    pytest.param("bbcu_l", {"scale": 4}, id="l4", marks=pytest.mark.slow),
    pytest.param("bbcu_m", {"scale": 2}, id="m2", marks=pytest.mark.slow),
    pytest.param("bbcu_m", {"scale": 4}, id="m4", marks=pytest.mark.slow),
    pytest.param("binary_edsr", {"scale": 2}, id="edsr"),
    pytest.param("bbcu_m", {"scale": 2, "unit": ATTN_M}, id="attn-m-se-spatial"),
    pytest.param(
        "bbcu_l",
        {"scale": 2, "unit": {"kind": "attention", "binary_attn": "none", "residual_attn": "none"}},
        id="attn-l-none-none",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "binary_edsr",
        {"scale": 2, "unit": {"kind": "attention", "binary_attn": "pixel", "residual_attn": "se"}},
        id="attn-edsr-pixel-se",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("arch,config", ARCHS)
def test_fold_is_exact_on_random_weights(tmp_path, photo, arch, config):
    blocks = {"n_resblocks": 2} if arch == "binary_edsr" else {"num_block": 2}
    model = tiny_model(arch, seed=3, **blocks, **config)
    vs_unfolded, vs_torch, flips, signs, report = _compare(model, tmp_path, photo)
    print(
        f"{arch} {config}: folded vs unfolded {vs_unfolded:.1f} dB, vs PyTorch {vs_torch:.1f} dB, "
        f"{flips} of {signs} signs flipped, {report.removed} ONNX ops removed"
    )
    assert vs_unfolded >= MIN_DB and vs_torch >= MIN_DB
    assert flips <= signs * 1e-4
    assert report.removed > 0 and report.moves


@pytest.mark.parametrize("variant", ["l", "m"])
def test_bbcu_units_keep_two_adds(tmp_path, variant):
    """Per BBCU unit: three constant/residual Adds become two; the input scale k leaves the graph."""
    model = tiny_model(f"bbcu_{variant}", seed=1, num_block=3)
    source = _onnx(model, tmp_path)
    plain, _ = deploy_onnx(source, HW, fold=False)
    folded, report = deploy_onnx(source, HW, fold=True)
    units = sum(m.is_binary for m in find_convs(folded))
    adds = [sum(n.op_type == "Add" for n in g.graph.node) for g in (plain, folded)]
    # before: move0, pr_bias0, pr_bias1 and the residual per unit + the output sum;
    # after: 2 per unit + the head's move0 + the output sum (pr_bias0 is the bconv's bias now)
    assert adds == [4 * units + 1, 2 * units + 2]
    assert not any(n.op_type in ("Mul", "Div") for n in folded.graph.node)
    assert report.ops_before["Mul"] == 1 and report.ops_before["Div"] == 1
    assert report.unit_glue_before == [3] * (units - 1) and report.unit_glue_after == [2] * (units - 1)


def _model(nodes, inits: dict):
    """An opset-17 model ``x [1, 3, h, w] → y`` of ``nodes`` with constants ``inits``, checked."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def _stream_model(extra_reader: str):
    """x → conv → [unit: y = PReLU(bconv(sign(s + m))) + b1 + s] ×2 → (reader of s) → output.

    ``extra_reader`` also reads the first unit's output stream ``s``: ``"pad_conv"`` (3×3 float conv
    with zero padding: a shifted stream is not exact at its border), ``"valid_conv"`` (1×1: absorbs
    a shift in its bias), or ``"none"``.
    """
    rng = np.random.default_rng(7)
    c = 4
    inits = {
        "w0": rng.standard_normal((c, 3, 3, 3)).astype(np.float32) * 0.3,
        "b0": np.zeros(c, np.float32),
        "m": rng.standard_normal((1, c, 1, 1)).astype(np.float32) * 0.2,
        "zero": np.array(0.0, np.float32),
        "one": np.array(1.0, np.float32),
        "neg": np.array(-1.0, np.float32),
        "wb": (np.sign(rng.standard_normal((c, c, 3, 3))) * 0.1).astype(np.float32),
        "slope": np.full((c, 1, 1), 0.25, np.float32),
        "b1": rng.standard_normal((1, c, 1, 1)).astype(np.float32) * 0.2,
        "b2": rng.standard_normal((1, c, 1, 1)).astype(np.float32) * 0.2,
        "m2": rng.standard_normal((1, c, 1, 1)).astype(np.float32) * 0.2,
        "wr": rng.standard_normal((3, c, 3, 3)).astype(np.float32) * 0.3,
        "w1": rng.standard_normal((3, c, 1, 1)).astype(np.float32) * 0.3,
    }
    node = helper.make_node

    def unit(u: str, stream: str, move0: str, bias1: str, out: str) -> list:
        """``out = PReLU(bconv(sign(stream + move0))) + bias1 + stream``, node names under ``u/``."""
        return [
            node("Add", [stream, move0], [f"{u}_in"], name=f"{u}/move0"),
            node("GreaterOrEqual", [f"{u}_in", "zero"], [f"{u}_ge"], name=f"{u}/ge"),
            node("Where", [f"{u}_ge", "one", "neg"], [f"{u}_sg"], name=f"{u}/where"),
            node("Conv", [f"{u}_sg", "wb"], [f"{u}_bc"], pads=[1, 1, 1, 1], name=f"{u}/bconv"),
            node("PRelu", [f"{u}_bc", "slope"], [f"{u}_p"], name=f"{u}/prelu"),
            node("Add", [f"{u}_p", bias1], [f"{u}_q"], name=f"{u}/bias1"),
            node("Add", [f"{u}_q", stream], [out], name=f"{u}/residual"),
        ]

    nodes = [
        node("Conv", ["x", "w0", "b0"], ["h"], pads=[1, 1, 1, 1], name="head"),
        node("Relu", ["h"], ["s0"], name="act"),
        *unit("u0", "s0", "m", "b1", "s"),
        # a second unit reading the stream, so the first unit's output would be worth shifting
        *unit("u1", "s", "m2", "b2", "t"),
        node("Conv", ["t", "wr"], ["y0"], pads=[1, 1, 1, 1], name="tail"),
    ]
    if extra_reader == "pad_conv":
        nodes += [
            node("Conv", ["s", "wr"], ["r"], pads=[1, 1, 1, 1], name="reader"),
            node("Add", ["y0", "r"], ["y"], name="out"),
        ]
    elif extra_reader == "valid_conv":
        nodes += [node("Conv", ["s", "w1"], ["r"], name="reader"), node("Add", ["y0", "r"], ["y"], name="out")]
    else:
        nodes += [node("Identity", ["y0"], ["y"], name="out")]
    return _model(nodes, inits)


@pytest.mark.parametrize("reader,folded_move0", [("none", True), ("valid_conv", True), ("pad_conv", False)])
def test_shift_stops_at_a_zero_padding_reader(photo, reader, folded_move0):
    """The second unit's move0 folds into the stream unless a zero-padding conv also reads it;
    where nothing folds, the graph goes on exactly as it came, with a note."""
    source = _stream_model(reader)
    plain, _ = deploy_onnx(source, HW, fold=False)
    folded, report = deploy_onnx(source, HW, fold=True)
    names = {n.name for n in folded.graph.node}
    assert ("u1/move0" not in names) == folded_move0, report.moves
    assert any("no exact fold" in n for n in report.notes) == (not folded_move0), report.notes
    assert "u0/move0" in names  # made by a ReLU: nothing can carry its constant
    if not folded_move0:
        assert folded is plain or folded.SerializeToString() == plain.SerializeToString()
        assert not report.moves and report.unit_glue_after == report.unit_glue_before
    x = _crop(photo)
    y0, _ = _run(plain, x)
    y1, _ = _run(folded, x)
    assert parity_psnr(y1, y0) >= 120  # exact up to float rounding (no sign within rounding here)


def test_scale_cycle_is_left_alone(tmp_path, photo):
    """EDSR's global skip closes a loop around the body: a2 cannot be carried as a factor."""
    model = tiny_model(
        "binary_edsr", seed=2, n_resblocks=2, unit={"kind": "attention", "binary_attn": "se", "residual_attn": "none"}
    )
    _, _, _, _, report = _compare(model, tmp_path, photo)
    removed = [m for m in report.moves if m.startswith("scale:")]
    assert any(".a1" in m or "/Mul'" in m for m in removed)  # a1 into the binary branch
    assert report.ops_after.get("Mul", 0) >= 5  # 5 units: each keeps a2 (and its SE gate)


def test_fold_glue_is_idempotent_and_keeps_the_graph_valid(tmp_path, photo):
    model = tiny_model("bbcu_m", seed=5, num_block=2, scale=4)
    graph, _ = deploy_onnx(_onnx(model, tmp_path), HW, fold=True)
    produced = {i.name for i in graph.graph.input} | {i.name for i in graph.graph.initializer}
    for node in graph.graph.node:  # still in topological order
        assert all(not n or n in produced for n in node.input), node.name
        produced.update(node.output)
    _run(graph, _crop(photo))  # ONNX Runtime accepts it
    _, report = fold_glue(graph)
    assert report.ops_before == report.ops_after


def test_glue_profile_segments():
    class Op:
        def __init__(self, kind):
            self.kind = kind

    kinds = "CONV_2D LEAKY_RELU ADD LceQuantize LceBconv2d PRELU ADD ADD LceQuantize LceBconv2d PRELU ADD ADD CONV_2D"

    class Fb:
        ops = [Op(k) for k in [*kinds.split(), "ADD", "MUL"]]

    prof = glue_profile(Fb())
    assert prof.units == 2 and prof.head_glue == 1 and prof.per_unit_glue == [2]
    assert prof.last_segment_glue == 4 and prof.glue_total == 7


def test_inspect_counts_glue_per_unit_before_and_after():
    """``model_unit_glue`` (what ``inspect`` prints) on BBCU-M and on a float model."""
    glue = model_unit_glue(tiny_model("bbcu_m", seed=1, num_block=2), (24, 32))
    units = glue["binary_units"]
    assert units > 2 and glue["unit_glue_before"] == [3] * (units - 1) and glue["unit_glue_after"] == [2] * (units - 1)
    assert "3 → 2 after export's fold" in render_unit_glue(glue)
    assert "nothing to count (0 binary convs)" in render_unit_glue(model_unit_glue(tiny_model("msrresnet"), (24, 32)))


@pytest.mark.slow
def test_inspect_and_export_print_glue_per_unit(tmp_path):
    """The real command lines: inspect prints before → after, export --no-fold records an unfolded graph."""
    import json

    proc = run_cli("inspect", "bbcu_m_x2_small", "--lr-size", "64x48", check=True)
    assert "float glue per binary unit: 3 → 2 after export's fold (--no-fold keeps 3)" in proc.stdout
    out = tmp_path / "out"
    proc = run_cli(
        "export", "bbcu_m_x2_small", "--input-size", "32x24", "--no-fold", "--out", out, "--json", check=True
    )
    manifest = json.loads(proc.stdout)
    assert manifest["fold"] is False and "fold" not in manifest["artifacts"][0]
    assert manifest["artifacts"][0]["float_glue"]["max_unit_glue"] == 3
    assert "float glue per binary unit: 3" in proc.stderr


def _check_module_paths(model, fb):
    """Every op of a folded flatbuffer still names a real module (issue 13's rule), bconvs their own."""
    from bnn_deploy.core.flatbuffer import module_path

    modules = dict(model.named_modules())
    paths = [module_path(op) for op in fb.ops]
    assert all(p in modules for p in paths if p is not None), [p for p in paths if p not in modules]
    binary = [name for name, _ in binary_conv_modules(model)]
    assert [p for op, p in zip(fb.ops, paths, strict=True) if op.kind == "LceBconv2d"] == binary


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["l", "m"])
def test_lce_flatbuffer_has_two_glue_ops_per_unit(tmp_path, variant):
    """Through LCE: every binary conv still an LceBconv2d, two float ops per unit, parity >= 70 dB."""
    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.core.flatbuffer import read_flatbuffer
    from bnn_deploy.models.checkpoint import save_checkpoint

    model = tiny_model(f"bbcu_{variant}", seed=1, num_block=2, scale=2)
    ckpt = tmp_path / "m.pt"
    save_checkpoint(str(ckpt), model)
    arts = {}
    for fold in (False, True):
        result = export_model(
            ckpt,
            formats=("lce",),
            input_sizes=((48, 32),),
            out_dir=tmp_path / f"o{fold}",
            parity_photos=1,
            num_threads=1,
            fold=fold,
            min_parity_db=MIN_DB,
        )
        assert result.manifest.fold is fold
        arts[fold] = result.manifest.artifacts[0]
    before, after = arts[False], arts[True]
    assert after.binary_convs.bitpacked == after.binary_convs.total == before.binary_convs.total
    assert before.float_glue.max_unit_glue == 3 and after.float_glue.max_unit_glue == 2
    assert after.op_histogram.get("MUL", 0) == 0 and "SUB" not in after.op_histogram
    assert after.fold.removed_onnx_ops > 0 and set(after.fold.unit_glue_after) == {2} and before.fold is None
    assert after.parity.psnr_db >= MIN_DB
    _check_module_paths(model, read_flatbuffer((tmp_path / "oTrue" / after.file).read_bytes()))


# ---------------------------------------------------------------- lce-int8 (int8 head/tail convs)


def test_int8_quantizes_head_and_tail_convs_only(tmp_path):
    from bnn_deploy.conversion.int8 import head_tail_tensors

    model = tiny_model("bbcu_m", seed=1, num_block=1, unit=ATTN_M)
    graph, _ = deploy_onnx(_onnx(model, tmp_path), HW, fold=True)
    chosen = head_tail_tensors(graph)
    assert "/conv_first/Conv_output_0" in chosen and "/conv_last/Conv_output_0" in chosen
    assert not any("attn" in t for t in chosen)  # attention convs belong to their units
    assert "/LeakyRelu_output_0" not in chosen  # the head's output is the float residual stream
    binary_in = {m.input for m in find_convs(graph) if m.is_binary}
    assert not chosen & binary_in


@pytest.mark.slow
def test_lce_int8_export_runs_and_reports_quantization_error(tmp_path):
    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.runtimes.artifacts import open_artifact
    from bnn_deploy.runtimes.lce import QUANTIZED_TOLERANCE, choose_kernel, kernel_tolerance

    ckpt = tmp_path / "m.pt"
    save_checkpoint(str(ckpt), tiny_model("bbcu_l", seed=1, num_block=1, scale=2))
    out = tmp_path / "out"
    result = export_model(
        ckpt, formats=("lce", "lce-int8"), input_sizes=((48, 32),), out_dir=out, parity_photos=1, num_threads=1
    )
    lce, int8 = result.manifest.artifacts
    assert int8.format == "lce-int8" and int8.file.endswith(".lce-int8.tflite")
    assert int8.binary_convs.bitpacked == int8.binary_convs.total
    assert int8.int8.int8_tensors > 0 and len(int8.int8.calibration_photos) >= 3
    assert int8.op_histogram.get("QUANTIZE", 0) >= 1 and int8.op_histogram.get("DEQUANTIZE", 0) >= 1
    assert int8.parity.threshold_db is None  # quantization error: reported, not gated
    assert int8.float_glue.per_unit_glue == lce.float_glue.per_unit_glue
    exp = read_export(str(out))
    art = next(a for a in exp.artifacts if a.format == "lce-int8")
    assert art.runtime == "lce"
    y = open_artifact(art, kernel="indirect_bgemm+xnnpack").predict(np.zeros((1, 32, 48, 3), np.float32))
    assert y.shape == (1, 64, 96, 3)
    # XNNPACK's int8 kernels round differently from TFLite's: still the same model for bench's auto
    assert kernel_tolerance("lce-int8") == QUANTIZED_TOLERANCE and kernel_tolerance("lce") < QUANTIZED_TOLERANCE
    x = np.random.default_rng(0).random((1, 32, 48, 3), dtype=np.float32)
    choice = choose_kernel(art.file, x, runs=1, tolerance=kernel_tolerance(art.format))
    assert all(c["identical"] for c in choice["candidates"]), choice


def test_lce_int8_without_float_head_or_tail_is_one_clear_error(tmp_path):
    """Refused before any conversion, in one line."""
    from bnn_deploy.conversion.export import export_model

    rng = np.random.default_rng(0)
    inits = {
        "zero": np.array(0.0, np.float32),
        "one": np.array(1.0, np.float32),
        "neg": np.array(-1.0, np.float32),
        "wb": (np.sign(rng.standard_normal((3, 3, 3, 3))) * 0.1).astype(np.float32),
        "slope": np.full((3, 1, 1), 0.25, np.float32),
    }
    nodes = [
        helper.make_node("GreaterOrEqual", ["x", "zero"], ["ge"], name="ge"),
        helper.make_node("Where", ["ge", "one", "neg"], ["sg"], name="where"),
        helper.make_node("Conv", ["sg", "wb"], ["bc"], pads=[1, 1, 1, 1], name="bconv"),
        helper.make_node("PRelu", ["bc", "slope"], ["p"], name="prelu"),
        helper.make_node("Add", ["p", "x"], ["y"], name="residual"),
    ]
    path = tmp_path / "unit.onnx"
    onnx.save(_model(nodes, inits), path)
    messages = []
    with pytest.raises(BnnDeployError, match="lce-int8 quantizes the float convs") as err:
        export_model(
            path,
            formats=("lce-int8",),
            input_sizes=((32, 24),),
            out_dir=tmp_path / "o",
            parity_photos=1,
            num_threads=1,
            progress=messages.append,
        )
    assert "\n" not in str(err.value) and not any("rebuilding" in m for m in messages)


def test_calibration_without_photos_of_the_scale_says_what_it_needs():
    from bnn_deploy.conversion.int8 import calibration_crops

    with pytest.raises(BnnDeployError, match=r"at least 3 bundled training photos of at least 1600x1600") as err:
        calibration_crops((24, 24), 200, 6)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_lce_int8_runs_in_bench_and_eval_like_lce(tmp_path, photo):
    """bench's auto kernel and eval's kernel check accept XNNPACK's int8 rounding for lce-int8."""
    import json

    from bnn_deploy.core.images import save_image

    out = tmp_path / "export"
    args = ("--format", "lce,lce-int8", "--input-size", "48x32", "--out", out)
    run_cli("export", "bbcu_m_x2_small", *args, check=True)
    bench = tmp_path / "bench.json"
    args = ("--device", "host", "--threads", "1", "--warmup", "1", "--runs", "2", "--max-secs", "2")
    run_cli("bench", out, *args, "--json-out", bench, check=True)
    rows = {r["format"]: r for r in json.loads(bench.read_text())["results"] if r["role"] == "binary"}
    assert "error" not in rows["lce-int8"] and rows["lce-int8"]["runtime"] == "lce"
    choice, lce_choice = rows["lce-int8"]["kernel_choice"], rows["lce"]["kernel_choice"]
    assert choice["tolerance"] > lce_choice["tolerance"] and all(c["identical"] for c in choice["candidates"])
    images = tmp_path / "images"
    images.mkdir()
    save_image(images / "a.png", photo[:90, :121])
    proc = run_cli("eval", out, "--images", images, "--out", tmp_path / "eval", "--json", check=True)
    by = {m.get("format"): m for m in json.loads(proc.stdout)["models"]}
    assert by["lce-int8"]["kernel_check"]["identical"] and by["lce-int8"]["kernel"] == "indirect_bgemm+xnnpack"
