"""Predict one op's time on a board: a sum of terms, each tied to one group of board constants.

Every op cost is built from a few mechanisms, each with its own constants (``boards.py``):

* **binary kernel**: NEON instructions of LCE's BGEMM (from its source: 0.75 per 32-bit word-op in
  the inner loop, plus an epilogue per 8x4 block) over the core's NEON issue rate times a fitted
  kernel efficiency; channels are padded to 32 (bitpacking word) in and 8 (kernel block) out, depth
  to 4 words, pixels to 4;
* **float / int8 convs** (XNNPACK): MACs over a fitted MAC rate per core;
* **memory**: bytes moved over bandwidth, where the share of the working set that fits in L2 moves
  at cache bandwidth and the rest at DRAM bandwidth;
* **overhead**: a fixed dispatch cost per op, plus a thread-pool wake-up per parallel op.

Threads: ops that LCE/XNNPACK parallelise get ``speedup = c0 + eff * (c1 + ... + c_{n-1})`` over
the cores' relative capacities ``c`` (big cores first); LceQuantize, im2col, the indirect and
reference bconv kernels, and ops XNNPACK does not take run on one thread in LCE v0.16.0.

Each term's relative uncertainty comes from its group; an op's low/high add the terms' lows/highs,
so uncalibrated constants widen the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bnn_deploy.core.flatbuffer import PADDING, OpInfo, TensorInfo
from bnn_deploy.prediction import boards as B

# Ops TFLite's XNNPACK delegate takes when their tensors are float32 (or int8 where XNNPACK has
# a quantized kernel): these run multi-threaded. Others run on TFLite's builtin kernels, 1 thread.
XNNPACK_OPS = {
    "ABS",
    "ADD",
    "AVERAGE_POOL_2D",
    "BATCH_MATMUL",
    "CEIL",
    "CONCATENATION",
    "CONV_2D",
    "DEPTH_TO_SPACE",
    "DEPTHWISE_CONV_2D",
    "DEQUANTIZE",
    "DIV",
    "ELU",
    "FLOOR",
    "FULLY_CONNECTED",
    "GELU",
    "HARD_SWISH",
    "LEAKY_RELU",
    "LOGISTIC",
    "MAX_POOL_2D",
    "MAXIMUM",
    "MEAN",
    "MINIMUM",
    "MUL",
    "NEG",
    "PAD",
    "PRELU",
    "QUANTIZE",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RESHAPE",
    "RESIZE_BILINEAR",
    "ROUND",
    "RSQRT",
    "SLICE",
    "SOFTMAX",
    "SPACE_TO_DEPTH",
    "SPLIT",
    "SQRT",
    "SQUARE",
    "SQUARED_DIFFERENCE",
    "STRIDED_SLICE",
    "SUB",
    "TANH",
    "TRANSPOSE",
    "TRANSPOSE_CONV",
}
# Elementwise ops: cost = bytes moved (+ per-element compute for the transcendental ones).
ELEMENTWISE = {
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "MAXIMUM",
    "MINIMUM",
    "PRELU",
    "LEAKY_RELU",
    "RELU",
    "RELU6",
    "RELU_N1_TO_1",
    "RELU_0_TO_1",
    "ABS",
    "NEG",
    "SQUARE",
    "SQRT",
    "RSQRT",
    "SQUARED_DIFFERENCE",
    "FLOOR",
    "CEIL",
    "ROUND",
    "SIGN",
    "SELECT",
    "SELECT_V2",
    "GREATER",
    "GREATER_EQUAL",
    "LESS",
    "LESS_EQUAL",
    "EQUAL",
    "NOT_EQUAL",
    "LOGICAL_AND",
    "LOGICAL_OR",
    "LOGICAL_NOT",
    "CAST",
    "HARD_SWISH",
    "ELU",
    "FLOOR_DIV",
    "FLOOR_MOD",
    "POW",
    "ADD_N",
    "L2_NORMALIZATION",
}
TRANSCENDENTAL = {"LOGISTIC", "TANH", "EXP", "LOG", "GELU", "SOFTMAX", "LOG_SOFTMAX", "SIN", "COS"}
# Pure data movement: bytes in + bytes out.
MOVEMENT = {
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "PAD",
    "PADV2",
    "MIRROR_PAD",
    "CONCATENATION",
    "DEPTH_TO_SPACE",
    "SPACE_TO_DEPTH",
    "TRANSPOSE",
    "SLICE",
    "STRIDED_SLICE",
    "SPLIT",
    "SPLIT_V",
    "GATHER",
    "GATHER_ND",
    "TILE",
    "PACK",
    "UNPACK",
    "BROADCAST_TO",
    "RESIZE_NEAREST_NEIGHBOR",
    "REVERSE_V2",
    "SPACE_TO_BATCH_ND",
    "BATCH_TO_SPACE_ND",
}
REDUCTIONS = {"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "ARG_MAX", "ARG_MIN"}
POOLS = {"MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D", "LceBMaxPool2d"}
CONVS = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL"}
BITPACK_OPS = {"LceQuantize", "LceDequantize"}
QUANT_OPS = {"QUANTIZE", "DEQUANTIZE"}
KNOWN_OPS = (
    ELEMENTWISE
    | TRANSCENDENTAL
    | MOVEMENT
    | REDUCTIONS
    | POOLS
    | CONVS
    | BITPACK_OPS
    | QUANT_OPS
    | {"LceBconv2d", "RESIZE_BILINEAR"}
)
BINARY_OPS = {"LceBconv2d", "LceBMaxPool2d"}
XNNPACK_CHANNEL_TILE = 8


@dataclass
class OpCost:
    """The predicted time of one op: terms by group, and what the model assumed."""

    op: OpInfo
    category: str  # binary, bitpack, float, int8, unknown
    terms: list[tuple[float, str]] = field(default_factory=list)  # (seconds, group)
    parallel: bool = False
    detail: str = ""

    @property
    def known(self) -> bool:
        """False for ops the model cannot price."""
        return self.category != "unknown"

    @property
    def binary(self) -> bool:
        """True for bitpacked binary compute (LceBconv2d, LceBMaxPool2d)."""
        return self.op.kind in BINARY_OPS

    def seconds(self) -> float:
        """The central prediction."""
        return sum(t for t, _ in self.terms)

    def bounds(self, board: B.Board) -> tuple[float, float]:
        """(low, high) seconds: each term divided / multiplied by (1 + its group's uncertainty)."""
        low = sum(t / (1 + board.relative_error(g)) for t, g in self.terms)
        high = sum(t * (1 + board.relative_error(g)) for t, g in self.terms)
        return low, high


# --- helpers -----------------------------------------------------------------------------------


def _ceil_to(x: int, m: int) -> int:
    return -(-int(x) // m) * m


def _hw(t: TensorInfo) -> tuple[int, int]:
    """(H, W) of an NHWC tensor (1, 1 for lower ranks)."""
    s = t.shape
    return (int(s[1]), int(s[2])) if len(s) == 4 else (1, 1)


def speedup(board: B.Board, threads: int, par_eff: float) -> float:
    """Throughput of ``threads`` threads relative to one big core, for a parallelised op."""
    caps = board.core_capacity[: max(1, min(threads, board.cores))]
    return caps[0] + par_eff * sum(caps[1:])


def bandwidth(board: B.Board, threads: int, working_set: float) -> float:
    """Effective bytes/s for an op whose data spans ``working_set`` bytes.

    The share that fits in the usable L2 moves at cache bandwidth (scaled by the cores in use), the
    rest at DRAM bandwidth (one core's, up to the all-core figure). The two are blended by time, so
    a working set twice the cache costs half at each rate.
    """
    n = max(1, min(threads, board.cores))
    dram = min(board.dram_gbps * n, board.dram_gbps_all) * 1e9
    cache = board.cache_gbps * speedup(board, n, 1.0) * 1e9
    fit = min(1.0, board.l2_kb * 1024 * B.CACHE_USABLE / max(working_set, 1.0))
    return 1.0 / (fit / cache + (1.0 - fit) / dram)


def _mem_seconds(board, threads, nbytes, working_set=None) -> float:
    """Seconds to move ``nbytes`` for an op whose working set is ``working_set`` (default nbytes)."""
    return nbytes / bandwidth(board, threads, nbytes if working_set is None else working_set)


def mem_group(threads: int) -> str:
    """The constant group of a memory term: one core's bandwidth is measured, all cores' assumed."""
    return "memory" if threads <= 1 else "memory_mt"


def _neon_rate(board: B.Board) -> float:
    """128-bit NEON instructions per second of one big core at full issue."""
    return board.neon_q_per_cycle * board.clock_ghz * 1e9


def _activation_bytes(op: OpInfo) -> int:
    """Bytes of the op's non-constant inputs and all outputs."""
    return sum(t.nbytes for t in op.data_inputs()) + sum(t.nbytes for t in op.outputs)


# --- binary convolution ------------------------------------------------------------------------


def bconv_geometry(op: OpInfo) -> dict:
    """Shapes of an LceBconv2d as its kernels see them (padding to kernel blocks included).

    Input channels are bitpacked in 32-bit words (``channels_in`` is the true count, the filter's
    last dimension the words); the 8x4 kernel pads output channels to 8 and pixels to 4, and ruy
    pads the GEMM depth (kh*kw*words) to 4 words.
    """
    inp, filt, out = op.inputs[0], op.inputs[1], op.outputs[0]
    cout, kh, kw, words = (int(d) for d in filt.shape)
    cin = int(op.options.get("channels_in", words * B.BITPACK_WORD))
    oh, ow = _hw(out)
    ih, iw = _hw(inp)
    out_kind = {"INT32": "bitpacked", "INT8": "int8"}.get(out.dtype, "float")
    depth = kh * kw * words
    block_n, block_m, block_k = B.BGEMM_BLOCK
    return {
        "cin": cin,
        "cout": cout,
        "kh": kh,
        "kw": kw,
        "words": words,
        "ih": ih,
        "iw": iw,
        "oh": oh,
        "ow": ow,
        "pixels": oh * ow,
        "depth_words": depth,
        "out_kind": out_kind,
        "n_pad": _ceil_to(cout, block_n),
        "m_pad": _ceil_to(oh * ow, block_m),
        "k_pad": _ceil_to(depth, block_k),
        "stride": (int(op.options.get("stride_height", 1)), int(op.options.get("stride_width", 1))),
        "dilation": (int(op.options.get("dilation_height_factor", 1)), int(op.options.get("dilation_width_factor", 1))),
        "padding": PADDING.get(int(op.options.get("padding", 1)), "VALID"),
        "pad_values": int(op.options.get("pad_values", 0)),
        "binary_macs": oh * ow * cout * kh * kw * cin,
    }


def _bconv_output_bytes(g: dict) -> int:
    per_px = {"float": 4 * g["cout"], "int8": g["cout"], "bitpacked": 4 * -(-g["cout"] // B.BITPACK_WORD)}[
        g["out_kind"]
    ]
    return g["pixels"] * per_px


def _zero_pad_correction(board, g: dict) -> list[tuple[float, str]]:
    """LCE's SAME-zero-padding correction: a float pass over the border pixels only."""
    if g["padding"] != "SAME" or g["pad_values"] != 0 or g["out_kind"] != "float":
        return []
    rows = min(g["oh"], g["kh"] - 1)
    cols = min(g["ow"], g["kw"] - 1)
    border = g["pixels"] - max(g["oh"] - rows, 0) * max(g["ow"] - cols, 0)
    return [(_mem_seconds(board, 1, border * g["cout"] * 4 * 2), "memory")]


def bconv_cost(op: OpInfo, board: B.Board, threads: int, kernel: str) -> OpCost:
    """LceBconv2d under the chosen kernel (see the module docstring)."""
    g = bconv_geometry(op)
    out_bytes = _bconv_output_bytes(g)
    in_bytes = op.inputs[0].nbytes
    cost = OpCost(op, "binary")
    blocks = (g["n_pad"] // B.BGEMM_BLOCK[0]) * (g["m_pad"] // B.BGEMM_BLOCK[1])
    neon = g["n_pad"] * g["m_pad"] * g["k_pad"] * B.BGEMM_NEON_PER_WORD_OP + blocks * B.BGEMM_EPILOGUE[g["out_kind"]]
    if kernel == "xnnpack":
        par = speedup(board, threads, board.bin_par_eff)
        cost.parallel = threads > 1
        needs_im2col = (g["kh"], g["kw"], g["stride"], g["dilation"]) != (1, 1, (1, 1), (1, 1))
        col_bytes = g["pixels"] * g["depth_words"] * 4
        if needs_im2col:  # TFLite's Im2col, before ruy: one thread
            cost.terms.append((_mem_seconds(board, 1, in_bytes + col_bytes, in_bytes + col_bytes), "memory"))
        packed = g["m_pad"] * g["k_pad"] * 4  # ruy packs the RHS per block, inside the threads
        cost.terms.append((_mem_seconds(board, threads, col_bytes + packed, col_bytes + out_bytes), mem_group(threads)))
        compute = neon / (_neon_rate(board) * board.bgemm_eff * par)
        store = _mem_seconds(board, threads, out_bytes, col_bytes + out_bytes)
        cost.terms.append((max(compute, store), "binary" if compute >= store else mem_group(threads)))
        cost.detail = (
            f"{g['cin']}->{g['cout']} {g['kh']}x{g['kw']} at {g['oh']}x{g['ow']}, "
            f"GEMM {g['n_pad']}x{g['m_pad']}x{g['k_pad']} words, {g['out_kind']} out"
        )
    elif kernel == "indirect_bgemm+xnnpack":
        # v0.16.0 indirect kernels: 8x4 blocks, no im2col, no threading; bitpacked output falls
        # back to the portable C++ kernel (select_kernel.h).
        if g["out_kind"] == "bitpacked":
            seconds = (
                g["n_pad"] * g["m_pad"] * g["depth_words"] * B.REFERENCE_CYCLES_PER_WORD_OP / (board.clock_ghz * 1e9)
            )
        else:
            seconds = neon / (_neon_rate(board) * board.bgemm_eff)
        store = _mem_seconds(board, 1, out_bytes + in_bytes)
        cost.terms.append((max(seconds, store), "binary_indirect"))
        cost.detail = f"indirect BGEMM, 1 thread, {g['out_kind']} out"
    else:  # reference
        seconds = g["cout"] * g["pixels"] * g["depth_words"] * B.REFERENCE_CYCLES_PER_WORD_OP / (board.clock_ghz * 1e9)
        cost.terms.append((seconds, "binary_reference"))
        cost.detail = "reference C++ kernel, 1 thread"
    cost.terms += _zero_pad_correction(board, g)
    return cost


def bitpack_cost(op: OpInfo, board: B.Board, threads: int) -> OpCost:
    """LceQuantize / LceDequantize: one pass over the float (or int8) tensor, single-threaded."""
    cost = OpCost(op, "bitpack")
    nbytes = _activation_bytes(op)
    elements = max(t.elements for t in op.data_inputs() + op.outputs) if op.outputs else 0
    big = op.outputs[0] if op.kind == "LceDequantize" else (op.data_inputs() or op.outputs)[0]
    compute = big.elements * B.BITPACK_NEON_PER_ELEMENT / _neon_rate(board)
    mem = _mem_seconds(board, 1, nbytes)
    cost.terms.append((compute, "bitpack"))
    cost.terms.append((mem, "memory"))
    cost.detail = f"{elements} elements, 1 thread"
    return cost


# --- float / int8 ops --------------------------------------------------------------------------


def _is_int8(op: OpInfo) -> bool:
    data = op.data_inputs() or op.outputs
    return bool(data) and data[0].dtype in ("INT8", "UINT8")


def conv_macs(op: OpInfo) -> int:
    """Multiply-accumulates of a (depthwise/transposed) conv, fully connected or batch matmul."""
    out = op.outputs[0]
    if op.kind == "CONV_2D":
        cout, kh, kw, cin = (int(d) for d in op.inputs[1].shape)
        oh, ow = _hw(out)
        return oh * ow * cout * kh * kw * cin
    if op.kind == "DEPTHWISE_CONV_2D":
        _, kh, kw, c = (int(d) for d in op.inputs[1].shape)
        oh, ow = _hw(out)
        return oh * ow * c * kh * kw
    if op.kind == "TRANSPOSE_CONV":  # inputs: output_shape, weights [O, kh, kw, I], input
        cout, kh, kw, cin = (int(d) for d in op.inputs[1].shape)
        ih, iw = _hw(op.inputs[2])
        return ih * iw * cout * kh * kw * cin
    if op.kind == "FULLY_CONNECTED":
        units, depth = (int(d) for d in op.inputs[1].shape[-2:])
        rows = max(out.elements // max(units, 1), 1)
        return rows * units * depth
    if op.kind == "BATCH_MATMUL":
        a, b = op.inputs[0], op.inputs[1]
        k = int(a.shape[-1])
        return out.elements * k if b is not None else 0
    return 0


def _channel_padding(op: OpInfo) -> float:
    """XNNPACK's GEMM/IGEMM kernels on aarch64 compute 8 output channels at a time (f32 4x8, qs8
    2x8/4x8 in src/configs/gemm-config.c), its depthwise kernels 8 channels: the MAC multiplier."""
    if op.kind == "FULLY_CONNECTED":
        channels = int(op.inputs[1].shape[0])
    elif op.kind == "BATCH_MATMUL":
        return 1.0
    else:
        channels = int(op.inputs[1].shape[3 if op.kind == "DEPTHWISE_CONV_2D" else 0])
    return _ceil_to(channels, XNNPACK_CHANNEL_TILE) / max(channels, 1)


def conv_cost(op: OpInfo, board: B.Board, threads: int) -> OpCost:
    """A float or int8 conv-like op under XNNPACK: roofline of MACs vs bytes, multi-threaded."""
    int8 = _is_int8(op)
    group = "int8" if int8 else "float"
    cost = OpCost(op, group, parallel=threads > 1)
    macs = conv_macs(op)
    padded = macs * _channel_padding(op)
    rate = (board.i8_gmacs if int8 else board.f32_gmacs) * 1e9
    if op.kind == "DEPTHWISE_CONV_2D":
        rate *= B.DEPTHWISE_GEMM_RATIO
    compute = padded / (rate * speedup(board, threads, board.f32_par_eff))
    weights = sum(t.nbytes for t in op.inputs if t is not None and t.constant)
    nbytes = _activation_bytes(op) + weights
    mem = _mem_seconds(board, threads, nbytes)
    cost.terms.append((max(compute, mem), group if compute >= mem else mem_group(threads)))
    cost.detail = f"{macs / 1e6:.1f} M {'int8' if int8 else 'float'} MACs" + (
        f" (x{padded / macs:.2f} for channel padding)" if padded > macs * 1.01 else ""
    )
    return cost


def _elementwise_neon(op: OpInfo) -> float:
    """NEON instructions of the ops whose arithmetic is not negligible next to their memory traffic.

    Assumed (uncalibrated): ~5 per element for exp/tanh/logistic polynomials, 3 per bilinear-resize
    output (4 loads, 3 FMAs per 4 lanes, plus index math), 0.5 per pooling-window element.
    """
    elements = op.outputs[0].elements if op.outputs else 0
    if op.kind in TRANSCENDENTAL:
        return 5.0 * elements
    if op.kind == "RESIZE_BILINEAR":
        return 3.0 * elements
    if op.kind in POOLS:
        opts = op.options
        window = int(opts.get("filterHeight", opts.get("filter_height", 1))) * int(
            opts.get("filterWidth", opts.get("filter_width", 1))
        )
        return 0.5 * window * elements
    return 0.0


def elementwise_cost(op: OpInfo, board: B.Board, threads: int) -> OpCost:
    """Elementwise and data-movement ops: bytes over bandwidth (+ compute for transcendental ones)."""
    int8 = _is_int8(op)
    cost = OpCost(op, "int8" if int8 else "float")
    xnn = op.kind in XNNPACK_OPS
    n = threads if xnn else 1
    cost.parallel = xnn and threads > 1
    nbytes = _activation_bytes(op) + sum(t.nbytes for t in op.inputs if t is not None and t.constant)
    if op.kind in {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}:
        nbytes = nbytes / 2 if xnn else 0  # TFLite shares the buffer; XNNPACK copies
    mem = _mem_seconds(board, n, nbytes)
    compute = _elementwise_neon(op) / (_neon_rate(board) * speedup(board, n, board.f32_par_eff))
    cost.terms.append((max(mem, compute), mem_group(n) if mem >= compute else "float"))
    cost.detail = f"{nbytes / 1e6:.2f} MB moved{'' if xnn else ', 1 thread (not XNNPACK)'}"
    return cost


def quant_cost(op: OpInfo, board: B.Board, threads: int) -> OpCost:
    """QUANTIZE / DEQUANTIZE: a float <-> int8 pass, bytes over bandwidth (XNNPACK, threaded)."""
    cost = OpCost(op, "int8", parallel=threads > 1)
    cost.terms.append((_mem_seconds(board, threads, _activation_bytes(op)), mem_group(threads)))
    cost.detail = "float <-> int8 conversion"
    return cost


# --- entry point -------------------------------------------------------------------------------


def op_cost(op: OpInfo, board: B.Board, threads: int, kernel: str = B.DEFAULT_KERNEL) -> OpCost:
    """Predicted cost of ``op``; category ``unknown`` (no terms) if the model does not know it."""
    kind = op.kind
    if kind not in KNOWN_OPS or not op.outputs:
        return OpCost(op, "unknown", detail="no model for this op")
    if not op.data_inputs() and op.inputs:
        # e.g. DEQUANTIZE of fp16/int8 weights: TFLite and XNNPACK evaluate it once, at init
        cost = OpCost(op, "float", detail="constant inputs: evaluated once at init")
        cost.terms.append((0.0, "overhead"))
        return cost
    if kind == "LceBconv2d":
        cost = bconv_cost(op, board, threads, kernel)
    elif kind in BITPACK_OPS:
        cost = bitpack_cost(op, board, threads)
    elif kind in CONVS:
        cost = conv_cost(op, board, threads)
    elif kind in QUANT_OPS:
        cost = quant_cost(op, board, threads)
    else:
        cost = elementwise_cost(op, board, threads)
        if kind == "LceBMaxPool2d":
            cost.category = "binary"
    cost.terms.append((board.op_overhead_us * 1e-6, "overhead"))
    if cost.parallel:
        cost.terms.append((board.sync_overhead_us * 1e-6, "overhead"))
    return cost
