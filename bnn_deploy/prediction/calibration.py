"""Fit the board constants marked "fitted" in ``boards.py`` from published timings, reproducibly.

Order matters and is fixed:

1. **float / int8 convs** from XNNPACK's published MobileNet v1 timings (graphs built here exactly
   as XNNPACK's ``models/fp32-mobilenet-v1.cc`` builds them); MobileNet v2 is only checked;
2. **binary convs** from LCE's published QuickNetSmall and QuickNetLarge timings, with the float
   constants of step 1 pricing their float glue. QuickNet (the middle model) is never used here:
   it is the independent check.

Each constant is solved by bisection so that the model reproduces the published figures (for two
figures, their geometric mean). ``benchmarks/calibrate_predict.py`` prints the result;
``tests/prediction/test_calibration.py`` checks that ``boards.py`` still holds it.
"""

from __future__ import annotations

import math
from pathlib import Path

from bnn_deploy.core.flatbuffer import Graph, OpInfo, TensorInfo, read_graph
from bnn_deploy.prediction import boards as B
from bnn_deploy.prediction import published as P
from bnn_deploy.prediction.model import op_cost

# --- reference graphs (XNNPACK models/fp32-mobilenet-v{1,2}.cc) ------------------------------------


class _Builder:
    """Builds a synthetic op list: NHWC tensors, conv/dwconv/add/mean ops, float32 or int8."""

    def __init__(self, hw: int, channels: int, int8: bool = False):
        self.act = "INT8" if int8 else "FLOAT32"
        self.ops: list[OpInfo] = []
        self.count = 0
        self.x = self.tensor((1, hw, hw, channels))

    def tensor(self, shape, dtype=None, constant=False) -> TensorInfo:
        self.count += 1
        return TensorInfo(self.count, f"t{self.count}", tuple(shape), dtype or self.act, constant)

    def conv(self, cout: int, k: int = 1, stride: int = 1, depthwise: bool = False) -> TensorInfo:
        """A (depthwise) conv with bias and fused ReLU6, 'SAME' padding."""
        n, h, w, cin = self.x.shape
        oh, ow = -(-h // stride), -(-w // stride)
        wdtype = self.act if self.act == "INT8" else "FLOAT32"
        fshape = (1, k, k, cin) if depthwise else (cout, k, k, cin)
        cout = cin if depthwise else cout
        filt = self.tensor(fshape, wdtype, True)
        bias = self.tensor((cout,), "INT32" if self.act == "INT8" else "FLOAT32", True)
        y = self.tensor((n, oh, ow, cout))
        kind = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
        self.ops.append(
            OpInfo(len(self.ops), kind, [self.x, filt, bias], [y], {"padding": 0, "strideH": stride, "strideW": stride})
        )
        self.x = y
        return y

    def add(self, other: TensorInfo) -> None:
        y = self.tensor(self.x.shape)
        self.ops.append(OpInfo(len(self.ops), "ADD", [self.x, other], [y]))
        self.x = y

    def pool(self, kind: str, k: int, stride: int) -> None:
        """MAX_POOL_2D / AVERAGE_POOL_2D with 'SAME' padding."""
        n, h, w, c = self.x.shape
        y = self.tensor((n, -(-h // stride), -(-w // stride), c))
        self.ops.append(
            OpInfo(
                len(self.ops),
                kind,
                [self.x],
                [y],
                {"padding": 0, "strideH": stride, "strideW": stride, "filterHeight": k, "filterWidth": k},
            )
        )
        self.x = y

    def binary_conv(self, cout: int, stride: int = 1) -> None:
        """LceQuantize then a 3x3 LceBconv2d with float output, SAME zero padding (larq's default)."""
        n, h, w, cin = self.x.shape
        words = -(-cin // 32)
        packed = self.tensor((n, h, w, words), "INT32")
        self.ops.append(OpInfo(len(self.ops), "LceQuantize", [self.x], [packed], custom=True))
        filt = self.tensor((cout, 3, 3, words), "INT32", True)
        y = self.tensor((n, -(-h // stride), -(-w // stride), cout))
        opts = {
            "channels_in": cin,
            "padding": 0,
            "pad_values": 0,
            "stride_height": stride,
            "stride_width": stride,
            "dilation_height_factor": 1,
            "dilation_width_factor": 1,
            "fused_activation_function": 0,
        }
        self.ops.append(OpInfo(len(self.ops), "LceBconv2d", [packed, filt, None, None, None], [y], opts, custom=True))
        self.x = y

    def global_pool(self) -> None:
        n, _, _, c = self.x.shape
        y = self.tensor((n, 1, 1, c))
        self.ops.append(OpInfo(len(self.ops), "MEAN", [self.x, self.tensor((2,), "INT32", True)], [y]))
        self.x = y

    def graph(self, name: str) -> Graph:
        return Graph(name, 0, self.ops, [], [self.x])


def mobilenet_v1(int8: bool = False) -> Graph:
    """MobileNet v1 1.0 at 224x224 as XNNPACK's end2end benchmark builds it (ReLU6 fused)."""
    b = _Builder(224, 3, int8)
    b.conv(32, 3, 2)
    for cout, stride in (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    ):
        b.conv(0, 3, stride, depthwise=True)
        b.conv(cout, 1)
    b.global_pool()
    b.conv(1001, 1)
    return b.graph("mobilenet_v1" + ("_int8" if int8 else ""))


def mobilenet_v2(int8: bool = False) -> Graph:
    """MobileNet v2 1.0 at 224x224 as XNNPACK's end2end benchmark builds it (10 residual ADDs)."""
    b = _Builder(224, 3, int8)
    b.conv(32, 3, 2)
    b.conv(0, 3, 1, depthwise=True)
    b.conv(16, 1)
    for t, c, n, s in [(6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            x, cin = b.x, b.x.shape[3]
            b.conv(cin * t, 1)
            b.conv(0, 3, s if i == 0 else 1, depthwise=True)
            b.conv(c, 1)
            if i > 0:
                b.add(x)
    b.conv(1280, 1)
    b.global_pool()
    b.conv(1001, 1)
    return b.graph("mobilenet_v2" + ("_int8" if int8 else ""))


def birealnet() -> Graph:
    """Bi-Real Net 18 as larq-zoo builds it (larq_zoo/literature/birealnet.py) after LCE conversion.

    Float 7x7/2 stem, 3x3/2 max pool, 16 residual blocks of LceQuantize -> 3x3 LceBconv2d (BN
    folded into its float output) -> ADD; where the width doubles, the shortcut is a 2x2 average
    pool and a float 1x1 conv. Used only as an independent check (LCE README: 41.6 ms on a Pixel 1).
    """
    b = _Builder(224, 3)
    b.conv(64, 7, 2)
    b.pool("MAX_POOL_2D", 3, 2)
    for filters in (64, 128, 256, 512):
        for layer in range(4):
            shortcut = b.x
            stride = 2 if filters != 64 and layer == 0 else 1
            if stride == 2:
                x = b.x
                b.pool("AVERAGE_POOL_2D", 2, 2)
                shortcut = b.conv(filters, 1)
                b.x = x
            b.binary_conv(filters, stride)
            b.add(shortcut)
    b.global_pool()
    n, _, _, c = b.x.shape
    fc = b.tensor((n, 1000))
    b.ops.append(OpInfo(len(b.ops), "FULLY_CONNECTED", [b.x, b.tensor((1000, c), constant=True)], [fc]))
    b.x = fc
    return b.graph("birealnet")


# --- fitting -----------------------------------------------------------------------------------


def total_ms(graph: Graph, board: B.Board, threads: int, kernel: str = B.DEFAULT_KERNEL) -> float:
    """Predicted total of a graph (all its ops must be known to the model)."""
    return sum(op_cost(op, board, threads, kernel).seconds() for op in graph.ops) * 1e3


def _bisect(f, lo: float, hi: float, steps: int = 60) -> float:
    """x in [lo, hi] with f(x) = 0 for a monotone f (geometric bisection: the constants are rates)."""
    flo, fhi = f(lo), f(hi)
    if (flo > 0) == (fhi > 0):
        raise ValueError(f"no solution in [{lo}, {hi}]: the model cannot reproduce the published figure")
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        fm = f(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _log_error(cells, board) -> float:
    """Mean log(predicted / published) over ``[(graph, threads, published_ms)]``."""
    return sum(math.log(total_ms(g, board, n) / ms) for g, n, ms in cells) / len(cells)


def fit_float(
    board: B.Board, t1: float | None, tn: float, n: int, graph: Graph | None = None, ratio: float | None = None
) -> dict:
    """``f32_gmacs`` and ``f32_par_eff`` reproducing MobileNet v1 at 1 and ``n`` threads.

    Either the 1-thread time ``t1`` is published (phones), or only ``tn`` and a published
    ``t1/tn`` ratio (Pi 4): then both are solved together.
    """
    graph = graph or mobilenet_v1()
    if t1 is not None:
        rate = _bisect(lambda r: total_ms(graph, B.with_constants(board, f32_gmacs=r), 1) - t1, 0.1, 100)
        b = B.with_constants(board, f32_gmacs=rate)
        eff = _bisect(lambda e: total_ms(graph, B.with_constants(b, f32_par_eff=e), n) - tn, 1e-3, 1.0)
        return {"f32_gmacs": rate, "f32_par_eff": eff}

    def rate_for(eff: float) -> float:
        b = B.with_constants(board, f32_par_eff=eff)
        return _bisect(lambda r: total_ms(graph, B.with_constants(b, f32_gmacs=r), n) - tn, 0.1, 100)

    def ratio_error(eff: float) -> float:
        b = B.with_constants(board, f32_par_eff=eff, f32_gmacs=rate_for(eff))
        return total_ms(graph, b, 1) / total_ms(graph, b, n) - ratio

    eff = _bisect(ratio_error, 1e-3, 1.0, steps=40)
    return {"f32_gmacs": rate_for(eff), "f32_par_eff": eff}


def fit_int8(board: B.Board, tn: float, n: int) -> dict:
    """``i8_gmacs`` reproducing int8 MobileNet v1 at ``n`` threads (same parallel efficiency as float)."""
    graph = mobilenet_v1(int8=True)
    rate = _bisect(lambda r: total_ms(graph, B.with_constants(board, i8_gmacs=r), n) - tn, 0.1, 200)
    return {"i8_gmacs": rate}


def fit_binary(board: B.Board, graphs: dict[str, Graph]) -> dict:
    """``bgemm_eff`` (1-thread cells) then ``bin_par_eff`` (4-thread cells) from the fit models."""
    table = P.LCE_QUICKNET["ms"]
    one = [(graphs[m], 1, table[m][(board.name, 1)]) for m in P.QUICKNET_FIT]
    four = [(graphs[m], 4, table[m][(board.name, 4)]) for m in P.QUICKNET_FIT]
    eff = _bisect(lambda e: _log_error(one, B.with_constants(board, bgemm_eff=e)), 0.01, 1.0)
    b = B.with_constants(board, bgemm_eff=eff)
    par = _bisect(lambda e: _log_error(four, B.with_constants(b, bin_par_eff=e)), 1e-3, 1.0)
    return {"bgemm_eff": eff, "bin_par_eff": par}


def load_quicknets(zoo_dir: str | Path) -> dict[str, Graph]:
    """The three QuickNet flatbuffers of an lce-zoo directory."""
    return {m: read_graph(Path(zoo_dir) / f"{m}.tflite") for m in P.LCE_QUICKNET["ms"]}


def calibrate(zoo_dir: str | Path) -> dict[str, dict]:
    """Re-derive every fitted constant of ``boards.py``: ``{board: {constant: value}}``."""
    xnn = P.XNNPACK_README["ms"]
    graphs = load_quicknets(zoo_dir)
    pi4 = B.BOARDS["pi4"]
    fitted = {
        "pi4": fit_float(
            pi4, None, xnn[("pi4", "fp32_mobilenet_v1", 4)], 4, ratio=P.XNNPACK_PI4_THREAD_RATIO["t1_over_t4"]
        )
    }
    pi4 = B.with_constants(pi4, **fitted["pi4"])
    fitted["pi4"].update(fit_int8(pi4, xnn[("pi4", "int8_mobilenet_v1", 4)], 4))
    pi4 = B.with_constants(pi4, **fitted["pi4"])
    fitted["pi4"].update(fit_binary(pi4, graphs))

    pixel1 = B.BOARDS["pixel1"]
    fitted["pixel1"] = fit_float(
        pixel1, xnn[("pixel1", "fp32_mobilenet_v1", 1)], xnn[("pixel1", "fp32_mobilenet_v1", 2)], 2
    )
    pixel1 = B.with_constants(pixel1, **fitted["pixel1"])
    fitted["pixel1"].update(fit_binary(pixel1, graphs))

    phone = B.BOARDS["android-arm64"]
    fitted["android-arm64"] = fit_float(
        phone, xnn[("pixel3a", "fp32_mobilenet_v1", 1)], xnn[("pixel3a", "fp32_mobilenet_v1", 2)], 2
    )
    return fitted


def float_checks() -> list[dict]:
    """Model vs XNNPACK's published MobileNet figures (v1 fitted, v2 only checked)."""
    rows = []
    cases = {"pi4": "pi4", "pixel1": "pixel1", "pixel3a": "android-arm64"}
    for (device, model, n), ms in P.XNNPACK_README["ms"].items():
        if device not in cases:
            continue
        int8 = model.startswith("int8")
        graph = (mobilenet_v1 if "v1" in model else mobilenet_v2)(int8=int8)
        predicted = total_ms(graph, B.BOARDS[cases[device]], n)
        rows.append(
            {
                "device": cases[device],
                "model": model,
                "threads": n,
                "published_ms": ms,
                "predicted_ms": predicted,
                "error_pct": 100 * (predicted - ms) / ms,
                "role": "fitted" if "v1" in model else "check",
            }
        )
    return rows
