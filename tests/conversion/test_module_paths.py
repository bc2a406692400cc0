"""Every op of a converted flatbuffer names the PyTorch module it came from (issue 13's profile rows).

Real exports through the real LCE converter; the paths are checked against ``model.named_modules()``.
"""

from __future__ import annotations

import onnx
import pytest
from torch import nn

from bnn_deploy.conversion.export import export_model
from bnn_deploy.conversion.lce import convert_lce, convert_tflite_float
from bnn_deploy.conversion.onnx_export import binary_conv_modules, export_onnx
from bnn_deploy.conversion.onnx_ops.naming import node_label, node_scope, node_where, scope_module_path
from bnn_deploy.conversion.onnx_to_tf import rebuild_tf, save_saved_model
from bnn_deploy.conversion.sources import module_for_node
from bnn_deploy.core.flatbuffer import Op, module_path, read_flatbuffer
from support.models import tiny_model

HW = (24, 32)


def _convert(onnx_model, tmp_path, convert=convert_lce):
    rebuilt = rebuild_tf(onnx_model, HW)
    return rebuilt, read_flatbuffer(convert(save_saved_model(rebuilt, tmp_path / "sm")))


def _onnx(model, tmp_path):
    export_onnx(model, tmp_path / "m.onnx")
    return onnx.load(tmp_path / "m.onnx")


def _check_paths(model, fb) -> list[str | None]:
    """Every op but the one writing the graph output names a real module; binary convs their own."""
    modules = dict(model.named_modules())
    paths = [module_path(op) for op in fb.ops]
    unnamed = [op.output_names[0] for op, path in zip(fb.ops, paths, strict=True) if path is None]
    assert len(unnamed) == 1 and "/" not in unnamed[0]  # the output tensor, named after the signature
    assert all(path in modules for path in paths if path is not None)
    binary = [name for name, _ in binary_conv_modules(model)]
    assert [p for op, p in zip(fb.ops, paths, strict=True) if op.kind == "LceBconv2d"] == binary
    for op, path in zip(fb.ops, paths, strict=True):
        if op.kind == "CONV_2D" and path is not None:
            assert isinstance(modules[path], nn.Conv2d)
    return paths


@pytest.mark.parametrize("arch,scale", [("bbcu_l", 2), ("bbcu_l", 4), ("bbcu_m", 2), ("bbcu_m", 4)])
def test_every_lce_op_names_its_pytorch_module(tmp_path, arch, scale):
    model = tiny_model(arch, scale=scale, num_block=2)
    rebuilt, fb = _convert(_onnx(model, tmp_path), tmp_path)
    paths = _check_paths(model, fb)
    binary = [name for name, _ in binary_conv_modules(model)]
    # The sign is computed in the unit's forward: each LceQuantize names the unit of its conv.
    assert [p for op, p in zip(fb.ops, paths, strict=True) if op.kind == "LceQuantize"] == [
        name.rsplit(".", 1)[0] for name in binary
    ]
    # check_bitpacked names layers by these TF op names: each must be on exactly its LceBconv2d.
    bconvs = [op for op in fb.ops if op.kind == "LceBconv2d"]
    assert [[tf_name in op.name_tokens() for tf_name in rebuilt.binary_layers] for op in bconvs] == [
        [i == j for j in range(len(bconvs))] for i in range(len(bconvs))
    ]


def test_bundled_model_export_names_every_module(tmp_path):
    """The export pipeline itself (bundled default model, LCE and float-kernel flatbuffers)."""
    from bnn_deploy.models.checkpoint import load_checkpoint
    from bnn_deploy.models.zoo import resolve_model_path

    out = tmp_path / "out"
    manifest = export_model(
        "bbcu_m_x2_small", formats=["lce", "tflite-float"], input_sizes=[(32, 24)], out_dir=out
    ).to_json()
    model = load_checkpoint(resolve_model_path("bbcu_m_x2_small")).model
    binary = [name for name, _ in binary_conv_modules(model)]
    by_format = {a["format"]: read_flatbuffer((out / a["file"]).read_bytes()) for a in manifest["artifacts"]}
    paths = _check_paths(model, by_format["lce"])
    assert len(binary) == 10 and "conv_first" in paths and "upconv1.relu.pr_prelu" in paths
    float_paths = [module_path(op) for op in by_format["tflite-float"].ops if op.kind == "CONV_2D"]
    assert [p for p in float_paths if p in binary] == binary  # the same convs, run by float kernels


def test_scope_rule_agrees_with_module_for_node(tmp_path):
    """The pure rule and the one export.py applies with the model give the same module per node."""
    model = tiny_model("bbcu_m", unit={"kind": "attention", "binary_attn": "se", "residual_attn": "spatial"})
    for node in _onnx(model, tmp_path).graph.node:
        found = module_for_node(node.name, model)
        assert found is not None
        assert scope_module_path(node.name) == ("" if found[0] == "(model)" else found[0])


def test_third_party_onnx_ops_name_their_nodes(tmp_path):
    """Names that are not TorchScript scopes come back as the cleaned node name."""
    from conversion.test_onnx_to_lce import _third_party_sr

    graph = _third_party_sr()
    _, fb = _convert(graph, tmp_path)
    paths = [module_path(op) for op in fb.ops]
    assert [p for op, p in zip(fb.ops, paths, strict=True) if op.kind == "LceBconv2d"] == ["b1.bconv", "b2.bconv"]
    wheres = {node_where(node_label(n, i)) for i, n in enumerate(graph.graph.node)}
    assert None not in paths[:-1] and set(paths[:-1]) <= wheres


def test_float_conversion_keeps_the_names(tmp_path):
    """The stock TFLite converter (tflite-float) carries the same names."""
    model = tiny_model("bbcu_l", scale=2)
    _, fb = _convert(_onnx(model, tmp_path), tmp_path, convert=convert_tflite_float)
    modules = dict(model.named_modules())
    paths = [module_path(op) for op in fb.ops]
    binary = [name for name, _ in binary_conv_modules(model)]
    assert [p for op, p in zip(fb.ops, paths, strict=True) if op.kind == "CONV_2D" and p in binary] == binary
    assert all(p in modules for p in paths if p is not None)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("/body/body.0/body/body.1/binary_conv/Conv", "body.0.body.1.binary_conv"),
        ("/body/body.0/body/body.0/relu/pr_prelu/PRelu", "body.0.body.0.relu.pr_prelu"),
        ("/conv_first/Conv", "conv_first"),
        ("/Mul", ""),
        ("b1/bconv", None),
        ("Conv_12", None),
    ],
)
def test_scope_module_path(name, expected):
    assert scope_module_path(name) == expected


def test_node_scopes_are_tf_names_module_path_reads_back():
    assert node_where("/body/body.3/body/body.1/binary_conv/Conv") == ".body.3.body.1.binary_conv"
    assert node_where("/Mul") == "."
    assert node_where("model/conv 1/Conv2D") == "model.conv_1.Conv2D"
    assert node_where("/") == "." and node_where("_x") == "n_x" and node_where(".x") == "x"
    assert node_scope(".body.0", "/body/body.0/Add_1", "Add") == ".body.0/Add_1/"
    assert node_scope("b1.bconv", "b1/bconv", "Conv") == "b1.bconv/Conv/"


@pytest.mark.parametrize(
    "names,expected",
    [
        ([".body.0.body.1.binary_conv/Add/Add;.body.0.body.1.binary_co"], "body.0.body.1.binary_conv"),
        (["./Mul/Mul"], ""),
        (["b1.bconv/Mul/Mul;b1.bconv/Conv/Conv2D"], "b1.bconv"),
        ([";;.upconv1/Where/SelectV2"], "upconv1"),
        (["PartitionedCall:0"], None),
        ([".body.0.body.0.a_very_long_attention_module_name_th1"], None),  # cut at 50 characters
        (["/x"], None),
        ([], None),
    ],
)
def test_module_path_reads_the_first_name(names, expected):
    assert module_path(Op(0, "ADD", [], [], names)) == expected
