"""ONNX route: canonical binary-conv export, ONNX Runtime parity, pattern matching, bad ONNX input."""

from __future__ import annotations

import copy
import os
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from bnn_deploy.conversion.onnx_check import onnx_parity
from bnn_deploy.conversion.onnx_export import PATTERN_VERSION, binary_conv_modules, export_onnx, export_onnx_artifact
from bnn_deploy.conversion.onnx_pattern import coverage_report, find_convs, load_onnx, read_metadata
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.photos import crop_center, load_photo
from bnn_deploy.models.binary import BinaryConv2d, LearnableBias, RPReLU
from bnn_deploy.models.registry import create_model
from bnn_deploy.runtimes.onnxrt import ort_session

MIN_DB = 60.0
LR_SIZES = ((24, 24), (31, 27))  # (H, W); the second is odd in both dimensions


def attention(binary_attn: str, residual_attn: str) -> dict:
    return {"kind": "attention", "binary_attn": binary_attn, "residual_attn": residual_attn}


BBCU_TINY = {"num_feat": 8, "num_block": 1}
FAMILIES = {
    "bbcu_l_x2": ("bbcu_l", {"scale": 2, **BBCU_TINY}),
    "bbcu_l_x4": ("bbcu_l", {"scale": 4, **BBCU_TINY}),
    "bbcu_m_x2": ("bbcu_m", {"scale": 2, **BBCU_TINY}),
    "bbcu_m_x3": ("bbcu_m", {"scale": 3, **BBCU_TINY}),
    "bbcu_m_x4": ("bbcu_m", {"scale": 4, **BBCU_TINY}),
    "msrresnet_x2": ("msrresnet", {"scale": 2, **BBCU_TINY}),
    "edsr_x2": ("edsr", {"scale": 2, "n_feats": 8, "n_resblocks": 1}),
    "binary_edsr_x2": ("binary_edsr", {"scale": 2, "n_feats": 8, "n_resblocks": 1}),
    # Each attention kind on the binary and on the residual branch.
    "attn_se_spatial": ("bbcu_m", {"scale": 2, **BBCU_TINY, "unit": attention("se", "spatial")}),
    "attn_spatial_pixel": ("bbcu_m", {"scale": 2, **BBCU_TINY, "unit": attention("spatial", "pixel")}),
    "attn_pixel_se": ("bbcu_l", {"scale": 2, **BBCU_TINY, "unit": attention("pixel", "se")}),
    "attn_edsr_se_none": ("binary_edsr", {"scale": 2, "n_feats": 8, "n_resblocks": 1, "unit": attention("se", "none")}),
}


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights in which the binary branches matter, so a wrong export fails parity.

    At init the float convs are Kaiming × 0.1 and binary filters tiny, so the skip paths dominate
    and a missing threshold would still pass 60 dB. Here float convs get full Kaiming weights,
    binary filters ×10 (α ≈ 0.1–0.3), thresholds (move0) N(0, 1), RPReLU slopes U(0.05, 0.5),
    learned α × U(0.5, 2), branch scales U(0.5, 1.5), float biases N(0, 0.01).
    """
    gen = torch.Generator().manual_seed(seed)

    def rand_like(t, lo, hi):
        return lo + (hi - lo) * torch.rand(t.shape, generator=gen)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LearnableBias):
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
            elif isinstance(m, RPReLU):
                m.pr_prelu.weight.copy_(rand_like(m.pr_prelu.weight, 0.05, 0.5))
            elif isinstance(m, BinaryConv2d):
                m.weight.mul_(10.0)
                if m.alpha_mode == "learned":
                    m.alpha.mul_(10.0 * rand_like(m.alpha, 0.5, 2.0))
            elif isinstance(m, nn.Conv2d) and m.weight.requires_grad:  # not EDSR's fixed MeanShift
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.01)
        for name, p in model.named_parameters():
            if name.endswith(("a1", "a2")):
                p.copy_(rand_like(p, 0.5, 1.5))
    return model.eval()


def photo_nchw(name: str, h: int, w: int) -> np.ndarray:
    return np.ascontiguousarray(crop_center(load_photo(name), h, w).transpose(2, 0, 1)[None])


PARITY_IMAGES = [
    (f"astronaut[{LR_SIZES[0]}]", photo_nchw("astronaut.png", *LR_SIZES[0])),
    (f"chelsea[{LR_SIZES[1]}]", photo_nchw("chelsea.png", *LR_SIZES[1])),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Export every family once: {family: (model, path, info)}."""
    out = tmp_path_factory.mktemp("onnx")
    cache = {}

    def get(family):
        if family not in cache:
            arch, cfg = FAMILIES[family]
            torch.manual_seed(1)
            model = randomize(create_model(arch, **cfg))
            info = export_onnx(model, out / f"{family}.onnx")
            cache[family] = (model, out / f"{family}.onnx", info)
        return cache[family]

    return get


PARITY_FIGURES: dict[str, list[float]] = {}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_exports_and_matches_pytorch_on_ort(family, exported):
    model, path, info = exported(family)
    proto = load_onnx(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["lr"] and [o.name for o in proto.graph.output] == ["sr"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, "height", "width"]

    parity = onnx_parity(model, path, PARITY_IMAGES)
    PARITY_FIGURES[family] = [r.psnr_db for r in parity.images]
    scale = model.config["scale"]
    for row in parity.images:
        assert row.psnr_db >= MIN_DB, (family, row)
    assert parity.psnr_db >= MIN_DB
    out = ort_session(path).run(None, {"lr": PARITY_IMAGES[1][1]})[0]
    assert out.shape == (1, 3, LR_SIZES[1][0] * scale, LR_SIZES[1][1] * scale)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_binary_conv_matches_the_pattern(family, exported):
    model, path, info = exported(family)
    matches = find_convs(load_onnx(path))
    modules = dict(binary_conv_modules(model))
    n_float = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    binary = [m for m in matches if m.is_binary]
    assert len(binary) == len(modules) == len(info["binary_layers"])
    assert len(matches) - len(binary) == n_float
    for m in matches:
        if not m.is_binary:
            assert m.reason, m.name
    for m in binary:
        name = m.weight_name.removesuffix(".deploy_weight")
        module = modules[name]
        assert m.sign_op == "Where" and m.sign_at_threshold == 1.0 and m.sign_threshold == 0.0
        assert m.pads == (1, 1, 1, 1) and m.bias is None
        np.testing.assert_allclose(m.alpha, module.scale().detach().reshape(-1).numpy(), rtol=1e-6)
        np.testing.assert_array_equal(np.abs(m.weight), np.broadcast_to(m.alpha[:, None, None, None], m.weight.shape))
        # The move0 Add in front is reported as the threshold t = -b (sign(x + b) = +1 iff x >= -b).
        unit = model.get_submodule(name.rsplit(".", 1)[0])
        np.testing.assert_array_equal(m.threshold, -unit.move0.bias.detach().reshape(-1).numpy())
    report = coverage_report(matches)
    assert report["binary"] == len(modules) and report["convs"] == len(matches)
    assert all(layer["reason"] for layer in report["layers"] if not layer["binary"])


BINARY_FAMILIES = sorted(f for f, (arch, _) in FAMILIES.items() if arch not in ("edsr", "msrresnet"))


@pytest.mark.parametrize("family", BINARY_FAMILIES)
def test_parity_check_fails_when_thresholds_are_lost(family, exported):
    """The 60 dB bar is meaningful: the same model without its thresholds (move0 = 0) is far off."""
    model, path, _ = exported(family)
    wrong = copy.deepcopy(model)
    with torch.no_grad():
        for m in wrong.modules():
            if hasattr(m, "move0"):
                m.move0.bias.zero_()
    assert onnx_parity(wrong, path, PARITY_IMAGES).psnr_db < MIN_DB


def test_export_metadata_and_no_weight_subgraphs(exported):
    model, path, info = exported("bbcu_m_x2")
    proto = load_onnx(path)
    meta = read_metadata(proto)
    assert meta["arch"] == "bbcu_m" and meta["scale"] == 2 and meta["k"] == 130.0
    assert meta["config"] == model.config and meta["pattern"] == PATTERN_VERSION
    assert meta["binary_layers"] == [n for n, _ in binary_conv_modules(model)] == info["binary_layers"]
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"Abs", "ReduceMean", "Sign"}
    onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    assert info["size"] == os.path.getsize(path) and len(info["sha256"]) == 64


def test_export_leaves_model_untouched_and_batch_is_dynamic(tmp_path):
    model = randomize(create_model("bbcu_m", scale=2, **BBCU_TINY)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, tmp_path / "m.onnx")
    after = model.state_dict()
    assert model.training and before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not any("forward" in m.__dict__ for m in model.modules())
    batch = np.concatenate([PARITY_IMAGES[0][1]] * 2)
    out = ort_session(tmp_path / "m.onnx").run(None, {"lr": batch})[0]
    assert out.shape == (2, 3, 48, 48)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left


def test_static_export_has_fixed_shape(tmp_path):
    model = randomize(create_model("bbcu_l", scale=2, **BBCU_TINY))
    export_onnx(model, tmp_path / "s.onnx", dynamic=False, sample_hw=(24, 20))
    dims = load_onnx(tmp_path / "s.onnx").graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 3, 24, 20]


def test_export_rejects_old_opset(tmp_path):
    with pytest.raises(BnnDeployError, match="opset 13"):
        export_onnx(create_model("edsr", scale=2, n_feats=8, n_resblocks=1), tmp_path / "x.onnx", opset=13)


def test_artifact_writes_file_with_parity_and_coverage(tmp_path):
    model = randomize(create_model("bbcu_m", scale=2, **BBCU_TINY))
    loaded = SimpleNamespace(model=model, path=str(tmp_path / "tiny_m.pt"), arch="bbcu_m", config=model.config)
    result = export_onnx_artifact(loaded, tmp_path / "out")
    assert result["file"] == str(tmp_path / "out" / "tiny_m.onnx") and os.path.isfile(result["file"])
    assert result["parity"].psnr_db >= MIN_DB  # inf when bit-identical
    assert len(result["parity"].images) == 2
    assert any(img.name.endswith("[27x31]") for img in result["parity"].images)  # an odd size
    assert result["coverage"]["binary"] == 4 and result["opset"] >= 17


def test_artifact_below_threshold_leaves_nothing(tmp_path):
    model = randomize(create_model("bbcu_m", scale=2, **BBCU_TINY))
    loaded = SimpleNamespace(model=model, path="tiny_m.pt")
    with pytest.raises(BnnDeployError, match="differs from PyTorch") as err:
        export_onnx_artifact(loaded, tmp_path, parity_images=PARITY_IMAGES[:1], min_parity_db=1e9)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- hand-built graphs


def conv_graph(
    weight: np.ndarray,
    *,
    sign: str = "Sign",
    pre: list | None = None,
    stride: int = 1,
    pad_node: dict | None = None,
    extra_inputs: list | None = None,
    input_shape=("N", 2, "H", "W"),
) -> onnx.ModelProto:
    """x → [pre nodes] → sign → [Pad] → Conv(W, pads=1) → y, built with onnx.helper."""
    o, i = weight.shape[:2]
    inits = [numpy_helper.from_array(weight.astype(np.float32), "W")]
    nodes = list(pre or [])
    src = nodes[-1].output[0] if nodes else "x"
    if sign == "Sign":
        nodes.append(helper.make_node("Sign", [src], ["s"], name="sign"))
    elif sign == "larq":
        inits.append(numpy_helper.from_array(np.array(0.1, np.float32), "c"))
        nodes += [
            helper.make_node("Sign", [src], ["s0"], name="sign0"),
            helper.make_node("Add", ["s0", "c"], ["s1"], name="addc"),
            helper.make_node("Sign", ["s1"], ["s"], name="sign1"),
        ]
    else:  # Where(GreaterOrEqual(x, 0.25), 1, -1)
        inits += [
            numpy_helper.from_array(np.array(v, np.float32), n)
            for n, v in (("t", 0.25), ("one", 1.0), ("minus_one", -1.0))
        ]
        nodes += [
            helper.make_node("GreaterOrEqual", [src, "t"], ["ge"], name="ge"),
            helper.make_node("Where", ["ge", "one", "minus_one"], ["s"], name="where"),
        ]
    conv_in, pads = "s", [1, 1, 1, 1]
    if pad_node is not None:
        inits.append(numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads"))
        nodes.append(helper.make_node("Pad", ["s", "pads"], ["sp"], name="pad", **pad_node))
        conv_in, pads = "sp", [0, 0, 0, 0]
    nodes.append(
        helper.make_node(
            "Conv", [conv_in, "W"], ["y"], name="conv", pads=pads, strides=[stride, stride], kernel_shape=[3, 3]
        )
    )
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))]
    inputs += extra_inputs or []
    graph = helper.make_graph(
        nodes, "g", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "Ho", "Wo"])], inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def pm_alpha(o=4, i=2, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    alpha = rng.uniform(0.1, 2.0, o).astype(np.float32)
    signs = rng.choice([-1.0, 1.0], size=(o, i, 3, 3)).astype(np.float32)
    return alpha[:, None, None, None] * signs, alpha


def test_third_party_sign_with_alpha_initializer_matches():
    weight, alpha = pm_alpha()
    (m,) = find_convs(conv_graph(weight))
    assert m.is_binary and m.reason == "" and m.sign_op == "Sign" and m.sign_at_threshold == 0.0
    np.testing.assert_allclose(m.alpha, alpha, rtol=1e-6)
    assert m.pads == (1, 1, 1, 1) and m.sign_nodes == ["sign"] and m.sign_input == "x"


def test_sub_threshold_where_sign_and_zero_pad_match():
    weight, _ = pm_alpha()
    t = np.array([0.5, -1.0], np.float32).reshape(1, 2, 1, 1)
    model = conv_graph(
        weight,
        sign="where",
        pre=[helper.make_node("Sub", ["x", "tc"], ["xs"], name="sub")],
        pad_node={"mode": "constant"},
    )
    model.graph.initializer.append(numpy_helper.from_array(t, "tc"))
    onnx.checker.check_model(model)
    (m,) = find_convs(model)
    assert m.is_binary, m.reason
    assert m.sign_op == "Where" and m.sign_at_threshold == 1.0 and m.sign_threshold == pytest.approx(0.25)
    # (x - t) >= 0.25  <=>  x >= t + 0.25
    np.testing.assert_allclose(m.threshold, [0.75, -0.75])
    assert m.threshold_node == "sub" and m.threshold_input == "x"
    assert m.pad_node == "pad" and m.pads == (1, 1, 1, 1)


def test_larq_double_sign_matches_with_lce_semantics():
    weight, _ = pm_alpha()
    (m,) = find_convs(conv_graph(weight, sign="larq"))
    assert m.is_binary and m.sign_op == "Sign(Sign(x)+c)" and m.sign_at_threshold == 1.0
    assert m.sign_input == "x"


def test_weights_not_pm_alpha_are_rejected_with_reason():
    weight, _ = pm_alpha()
    weight[3, 0, 1, 1] *= 1.5
    (m,) = find_convs(conv_graph(weight))
    assert not m.is_binary
    assert "weights not ±alpha per output channel (channel 3 has 2 distinct magnitudes" in m.reason


def test_within_lce_tolerance_is_binary():
    weight, _ = pm_alpha()
    weight[0, 0, 0, 0] *= 1.003  # 0.3 % off: LCE still accepts it
    assert find_convs(conv_graph(weight))[0].is_binary


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"stride": 2}, "stride 2x2"),
        ({"pad_node": {"mode": "reflect"}}, "Pad in reflect mode"),
    ],
)
def test_rejections_name_the_cause(kwargs, reason):
    weight, _ = pm_alpha()
    (m,) = find_convs(conv_graph(weight, **kwargs))
    assert not m.is_binary and reason in m.reason


def test_conv_after_relu_is_float_with_reason():
    weight, _ = pm_alpha()
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Conv", ["r", "W"], ["y"], pads=[1] * 4)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "Ho", "Wo"])],
        [numpy_helper.from_array(weight, "W")],
    )
    (m,) = find_convs(helper.make_model(graph))
    assert not m.is_binary and m.reason == "input is not a sign (comes from Relu)"


# ---------------------------------------------------------------- bad ONNX input


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def one_line_error(path) -> str:
    with pytest.raises(BnnDeployError) as err:
        load_onnx(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_corrupt_file_is_a_clear_error(tmp_path, exported):
    _, good, _ = exported("bbcu_l_x2")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:2000])
    assert "is not a valid ONNX file" in one_line_error(truncated)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf \x00\xff\x13" * 7)
    assert "re-export it" in one_line_error(junk)
    assert "not found" in one_line_error(tmp_path / "missing.onnx")


def test_two_inputs_is_a_clear_error(tmp_path):
    weight, _ = pm_alpha()
    extra = [helper.make_tensor_value_info("x2", TensorProto.FLOAT, ["N", 2, "H", "W"])]
    path = save(conv_graph(weight, extra_inputs=extra), tmp_path / "two.onnx")
    assert "has 2 inputs ('x', 'x2')" in one_line_error(path)


def test_non_image_rank_is_a_clear_error(tmp_path):
    weight, _ = pm_alpha()
    rank3 = helper.make_graph(
        [helper.make_node("Unsqueeze", ["x", "axes"], ["x4"]), helper.make_node("Conv", ["x4", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "Ho", "Wo"])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(np.array([0], np.int64), "axes")],
    )
    path = save(helper.make_model(rank3, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "r3.onnx")
    assert "has rank 3; expects an NCHW image input" in one_line_error(path)


def test_wrong_static_channels_is_a_clear_error(tmp_path):
    weight, _ = pm_alpha()
    path = save(conv_graph(weight, input_shape=(1, 2, 8, 8)), tmp_path / "c2.onnx")
    assert "has 2 channels" in one_line_error(path)


def test_parity_figures_summary():
    """Print per-family parity (run with -s to see it); asserts were made in the family test."""
    for family, figures in sorted(PARITY_FIGURES.items()):
        print(f"{family:<22} " + "  ".join(f"{db:7.1f} dB" for db in figures))


def _external_model(tmp_path, location: str) -> str:
    """A one-Conv model whose weight is kept in an external data file at ``location``."""
    weight, _ = pm_alpha(i=3)
    model = conv_graph(weight, input_shape=("N", 3, "H", "W"))
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.ClearField("float_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    init.external_data.add(key="location", value=location)
    return save(model, tmp_path / "m.onnx")


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "sub/../../secret.bin", "link.bin"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    """A model file must not make bnn-deploy read files elsewhere (was: internal error ValidationError)."""
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    (model_dir / "link.bin").symlink_to(tmp_path / "secret.bin")
    path = _external_model(model_dir, location)
    message = one_line_error(path)
    assert f"keeps its data in {location!r}, outside the model's folder" in message


def test_external_data_inside_the_folder_loads_and_a_missing_file_is_named(tmp_path):
    weight, _ = pm_alpha(i=3)
    model = conv_graph(weight, input_shape=("N", 3, "H", "W"))
    path = tmp_path / "ok.onnx"
    onnx.save(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ok.data", size_threshold=0
    )
    loaded = load_onnx(path)
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.graph.initializer[0]), weight)
    (tmp_path / "ok.data").unlink()
    assert "keeps its data in 'ok.data', which is missing" in one_line_error(path)
