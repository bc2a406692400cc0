"""Tiny hand-made .tflite files for the latency-model tests (not a conftest: that name is taken)."""

from __future__ import annotations


def build_tflite(ops, shape=(1, 8, 8, 4)) -> bytes:
    """A minimal TFLite flatbuffer: a chain of ops on float tensors of ``shape``.

    ``ops`` are builtin names (``"ADD"``, ``"CUMSUM"``) or ``"custom:Name"``; each op reads the
    previous tensor (ADD reads it twice) and writes a new one. Only the op list matters to the
    latency model; the file is not meant to run.
    """
    import flatbuffers

    from bnn_deploy.core.flatbuffer import load_schema

    s = load_schema()
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    graph = s.SubGraphT()
    graph.tensors, graph.operators, model.operatorCodes = [], [], []

    def tensor(name):
        t = s.TensorT()
        t.shape, t.type, t.buffer, t.name = list(shape), s.TensorType.FLOAT32, 0, name.encode()
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    x = tensor("input")
    graph.inputs = [x]
    for i, kind in enumerate(ops):
        code = s.OperatorCodeT()
        if kind.startswith("custom:"):
            code.builtinCode, code.customCode = s.BuiltinOperator.CUSTOM, kind.split(":", 1)[1].encode()
        else:
            code.builtinCode = getattr(s.BuiltinOperator, kind)
        code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
        model.operatorCodes.append(code)
        op = s.OperatorT()
        y = tensor(f"/body/body.{i}/{kind.split(':')[-1]}")
        op.opcodeIndex, op.inputs, op.outputs = i, [x, x] if kind == "ADD" else [x], [y]
        graph.operators.append(op)
        x = y
    graph.outputs = [x]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
