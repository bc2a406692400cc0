"""The ONNX op registry: one table is both the supported list and the emitter, each op rebuilt
correctly (TF rebuild vs ONNX Runtime on a one-op graph), and the table readable without TF."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from bnn_deploy.conversion.onnx_ops import lookup, lower, supported_ops
from bnn_deploy.conversion.onnx_to_tf import UnsupportedOnnxOp, check_supported, rebuild_tf, run_tf
from bnn_deploy.runtimes.onnxrt import ort_session

C, H, W = 4, 6, 8
RNG = np.random.default_rng(1)

# The ops the rebuild supported before the registry existed: the registry must hold exactly these
# (a new op is added here together with its lowering and its case below).
EXPECTED_OPS = {
    "Abs",
    "Add",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Conv",
    "DepthToSpace",
    "Div",
    "Dropout",
    "Equal",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "Identity",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "PRelu",
    "Pad",
    "ReduceMax",
    "ReduceMean",
    "Relu",
    "Resize",
    "Sigmoid",
    "Sign",
    "SpaceToDepth",
    "Sub",
    "Tanh",
    "Where",
}


def _per_channel(positive: bool = False) -> np.ndarray:
    v = RNG.uniform(0.5, 1.5, (1, C, 1, 1)) if positive else RNG.standard_normal((1, C, 1, 1)) * 0.3
    return v.astype(np.float32)


def _centred(op: str, **attrs):
    """``op(x − 0.5)``: inputs of both signs for the sign-sensitive activations."""
    return [helper.make_node("Sub", ["x", "half"], ["xc"]), helper.make_node(op, ["xc"], ["y"], **attrs)], {
        "half": np.array(0.5, np.float32)
    }


def _binary(op: str, positive: bool = False):
    return [helper.make_node(op, ["x", "c"], ["y"])], {"c": _per_channel(positive)}


def _compare(op: str):
    """A comparison is a bool activation: select with it, as graphs do."""
    return [helper.make_node(op, ["x", "t"], ["m"]), helper.make_node("Where", ["m", "x", "zero"], ["y"])], {
        "t": (RNG.uniform(0.2, 0.8, (1, C, 1, 1))).astype(np.float32),
        "zero": np.array(0.0, np.float32),
    }


def _single(op: str, inputs=("x",), inits=None, **attrs):
    return [helper.make_node(op, list(inputs), ["y"], **attrs)], dict(inits or {})


CASES = {
    **{op: (lambda op=op: _binary(op)) for op in ("Add", "Sub", "Mul", "Max", "Min")},
    "Div": lambda: _binary("Div", positive=True),
    **{op: (lambda op=op: _compare(op)) for op in ("GreaterOrEqual", "Greater", "LessOrEqual", "Less")},
    "Equal": lambda: (
        [helper.make_node("Equal", ["x", "x"], ["m"]), helper.make_node("Where", ["m", "x", "zero"], ["y"])],
        {"zero": np.array(0.0, np.float32)},
    ),
    "Where": lambda: _compare("Greater"),
    **{op: (lambda op=op: _centred(op)) for op in ("Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Sign")},
    "LeakyRelu": lambda: _centred("LeakyRelu", alpha=0.2),
    "PRelu": lambda: (
        [helper.make_node("Sub", ["x", "half"], ["xc"]), helper.make_node("PRelu", ["xc", "s"], ["y"])],
        {"half": np.array(0.5, np.float32), "s": RNG.uniform(0, 0.3, (C, 1, 1)).astype(np.float32)},
    ),
    "Clip": lambda: _single(
        "Clip", ("x", "lo", "hi"), {"lo": np.array(0.2, np.float32), "hi": np.array(0.7, np.float32)}
    ),
    "Conv": lambda: _single(
        "Conv",
        ("x", "w", "b"),
        {
            "w": (RNG.standard_normal((5, C, 3, 3)) * 0.2).astype(np.float32),
            "b": (RNG.standard_normal(5) * 0.1).astype(np.float32),
        },
        pads=[1, 1, 1, 1],
    ),
    "BatchNormalization": lambda: _single(
        "BatchNormalization",
        ("x", "s", "b", "m", "v"),
        {
            "s": _per_channel(True).reshape(C),
            "b": _per_channel().reshape(C),
            "m": _per_channel().reshape(C),
            "v": _per_channel(True).reshape(C),
        },
    ),
    "DepthToSpace": lambda: _single("DepthToSpace", blocksize=2, mode="CRD"),
    "SpaceToDepth": lambda: _single("SpaceToDepth", blocksize=2),
    "Resize": lambda: _single(
        "Resize",
        ("x", "", "scales"),
        {"scales": np.array([1, 1, 2, 2], np.float32)},
        mode="linear",
        coordinate_transformation_mode="half_pixel",
    ),
    **{op: (lambda op=op: _single(op, axes=[2, 3], keepdims=1)) for op in ("ReduceMean", "ReduceMax")},
    **{op: (lambda op=op: _single(op)) for op in ("GlobalAveragePool", "GlobalMaxPool", "Identity", "Dropout")},
    "Cast": lambda: _single("Cast", to=TensorProto.FLOAT),
    "Concat": lambda: _single("Concat", ("x", "x"), axis=1),
    "Pad": lambda: _single("Pad", ("x", "pads"), {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)}),
}


def _graph(nodes, inits) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "one_op",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, W])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "c", "oh", "ow"])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_the_registry_is_the_supported_list():
    """One table: every registered op has a lowering, the set is the one the rebuild always had,
    and every op has a rebuild case below (so none is listed without being proven)."""
    assert set(supported_ops()) == EXPECTED_OPS
    assert list(supported_ops()) == sorted(supported_ops())
    assert all(callable(lookup(op)) for op in supported_ops())
    assert lookup("Erf") is None
    assert set(CASES) == set(supported_ops())


@pytest.mark.parametrize("op", sorted(CASES))
def test_each_supported_op_is_rebuilt_like_onnx_runtime(tmp_path, op):
    model = _graph(*CASES[op]())
    assert op in {n.op_type for n in model.graph.node}
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = RNG.random((1, C, H, W), dtype=np.float32)
    want = ort_session(path).run(None, {"x": x})[0]
    got = run_tf(rebuild_tf(model, (H, W)), x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_unsupported_ops_are_all_named_with_the_registry_list():
    nodes = [
        helper.make_node("Erf", ["x"], ["e"], name="gelu/erf"),
        helper.make_node("Relu", ["e"], ["r"]),
        helper.make_node("Softplus", ["r"], ["y"]),
    ]
    with pytest.raises(UnsupportedOnnxOp) as err:
        check_supported(_graph(nodes, {}), "m.onnx")
    message = str(err.value)
    assert "unsupported ONNX op Erf at 'gelu/erf', Softplus at 'Softplus_2'" in message
    assert f"the LCE route supports {', '.join(supported_ops())} —" in message
    assert [(name, op) for name, op, _ in err.value.nodes] == [("gelu/erf", "Erf"), ("Softplus_2", "Softplus")]


def test_an_op_cannot_be_lowered_twice():
    with pytest.raises(ValueError, match="ONNX Conv is lowered twice"):
        lower("Conv")(lambda ctx, node, ins: None)
    assert lookup("Conv").__module__ == "bnn_deploy.conversion.onnx_ops.conv"


def test_the_registry_imports_without_tensorflow_or_onnx():
    code = (
        "import sys; from bnn_deploy.conversion.onnx_ops import supported_ops; assert len(supported_ops()) > 30; "
        "print(sorted(m for m in ('tensorflow', 'onnx', 'torch', 'larq_compute_engine') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
