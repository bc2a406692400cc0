"""The walk over a folded ONNX graph inside a TF trace, and what it hands every lowering.

:class:`LoweringContext` holds the state the lowerings share — TensorFlow (passed in, so nothing
here imports it), the opset, the graph's constants and their pixel-shuffle overrides, the
binary-conv matches — and the helpers they all need (:meth:`~LoweringContext.nhwc`,
:meth:`~LoweringContext.fail`). :meth:`~LoweringContext.run` visits the nodes in graph order and
dispatches each to its registered lowering, inside the node's TF name scope
(:mod:`bnn_deploy.conversion.onnx_ops.naming`), so every op it emits is named after its ONNX node.
"""

from __future__ import annotations

import numpy as np

from bnn_deploy.conversion.onnx_ops.conv import lce_sign
from bnn_deploy.conversion.onnx_ops.layout import align4, onnx_attrs, onnx_opset
from bnn_deploy.conversion.onnx_ops.naming import node_label, node_scopes
from bnn_deploy.conversion.onnx_ops.registry import OnnxNode, UnsupportedOnnxOp, lookup


class LoweringContext:
    """Walks the folded graph inside a TF trace; lowerings read and extend its state."""

    def __init__(self, tf, onnx_model, matches, overrides, plans, where: str, fake_quant: dict | None = None):
        from onnx import numpy_helper

        self.tf, self.where = tf, where
        self.fake_quant = dict(fake_quant or {})  # tensor -> (min, max): an 8-bit fake-quant node on it
        self.graph = onnx_model.graph
        self.opset = onnx_opset(onnx_model)
        self.consts = {init.name: numpy_helper.to_array(init) for init in self.graph.initializer}
        self.overrides, self.plans = overrides, plans
        self.binary = {m.output: m for m in matches if m.is_binary}  # keyed by the conv's output tensor
        # The tensor each binary conv reads (before any zero Pad) → its match: emitted as LCE's sign.
        self.sign_outputs = {}
        producers = {out: node for node in self.graph.node for out in node.output}
        for m in self.binary.values():
            signed = producers[m.input].input[0] if m.pad_node else m.input
            self.sign_outputs[signed] = m
        self.naming = node_scopes(self.graph, self.consts)
        self.binary_layers: dict[str, str] = {}
        self.values: dict = {}
        self.unquantized: dict = {}  # tensors given a fake-quant node: their value before it

    # -- values

    def value(self, name: str, node_index: int, input_index: int):
        """Input ``input_index`` of a node: its permuted override, a constant, or a TF tensor."""
        if (node_index, input_index) in self.overrides:
            return self.overrides[(node_index, input_index)]
        if name in self.consts:
            return self.consts[name]
        return self.values[name]

    def nhwc(self, value):
        """A TF operand in NHWC: tensors pass through, constants are aligned and transposed."""
        if isinstance(value, np.ndarray) or np.isscalar(value):
            arr = np.asarray(value)
            if arr.ndim == 0:
                return self.tf.constant(arr.astype(np.float32) if arr.dtype == np.float64 else arr)
            arr = align4(arr).transpose(0, 2, 3, 1)
            # Drop leading 1s ([1, 1, 1, C] → [C]; broadcasting is unchanged): LCE fuses an add after
            # a bconv as its post-activation bias, and its kernel rejects a bias that is not 1-D.
            while arr.ndim > 1 and arr.shape[0] == 1:
                arr = arr[0]
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            return self.tf.constant(np.ascontiguousarray(arr))
        return value

    def fail(self, node: OnnxNode, detail: str):
        """Refuse ``node``: one :class:`UnsupportedOnnxOp` naming it, its op and why."""
        raise UnsupportedOnnxOp(
            f"{self.where}: ONNX {node.op} at {node.label!r} is not supported here: {detail}; "
            "export that layer differently",
            [(node.label, node.op, detail)],
        )

    # -- the walk

    def run(self, x, input_name: str):
        """Emit every node on the input ``x`` (NHWC); return the graph output's TF tensor."""
        self.unquantized = {}
        with self.tf.name_scope("./input/"):  # the model itself, for core.flatbuffer.module_path
            self.values = {input_name: self.quantized(input_name, x)}
        for index, proto in enumerate(self.graph.node):
            node = OnnxNode(proto, index, node_label(proto, index), onnx_attrs(proto))
            ins = [self.value(n, index, i) if n else None for i, n in enumerate(proto.input)]
            with self.tf.name_scope(self.naming.scopes[index]):
                out = self.emit(node, ins)
            for name in proto.output[:1]:
                if name:
                    if not isinstance(out, np.ndarray) and out.shape.rank != 4:
                        self.fail(
                            node,
                            f"it yields a rank-{out.shape.rank} activation; only 4-D NCHW activations are supported",
                        )
                    self.values[name] = out
                    if name in self.fake_quant and name not in self.sign_outputs:
                        with self.tf.name_scope(self.naming.scopes[index]):
                            self.values[name] = self.quantized(name, out)
                        self.unquantized[name] = out
        # Recorded per trace: the saved graph carries the names of the last one.
        self.binary_layers = self._binary_layer_names()
        return self.values[self.graph.output[0].name]

    def quantized(self, name: str, x):
        """``x`` through an 8-bit fake-quant node when ``name`` has a calibrated range, else ``x``."""
        if name not in self.fake_quant or isinstance(x, np.ndarray):
            return x
        lo, hi = self.fake_quant[name]
        return self.tf.quantization.fake_quant_with_min_max_args(x, min=float(lo), max=float(hi), num_bits=8)

    def _binary_layer_names(self) -> dict[str, str]:
        """TF op name → ONNX node name per binary conv, in graph order. The op is the last one folded
        into the conv (e.g. its bias Add): the name LCE puts first on the ``LceBconv2d``, so it
        survives the converter's 50-character cut."""
        names = {}
        for proto in self.graph.node:
            match = self.binary.get(proto.output[0]) if proto.op_type == "Conv" else None
            if match is not None:
                tail = self.naming.conv_tail[match.output]
                names[self.unquantized.get(tail, self.values[tail]).op.name] = match.name
        return names

    def emit(self, node: OnnxNode, ins: list):
        """The node's output: LCE's sign if a binary conv reads it, else its registered lowering."""
        if node.proto.output[0] in self.sign_outputs:
            return lce_sign(self, self.sign_outputs[node.proto.output[0]])
        lowering = lookup(node.op)
        if lowering is None:
            self.fail(node, "no TF rebuild for this op")
        return lowering(self, node, ins)
