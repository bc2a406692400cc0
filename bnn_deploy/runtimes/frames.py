"""Whole frames through one artifact, timed end to end in a fresh process.

A deployment upscales frames, not tiles. :func:`time_frame` runs one artifact on one LR frame in a
worker of its own (:func:`bnn_deploy.runtimes.isolated.run_worker`) and times, per frame, the
whole tiled run — cutting the tiles, every tile, stitching and cropping
(:func:`bnn_deploy.core.tiling.predict_image`) — next to the sum of its tiles' run times; a graph
that takes any size (PyTorch, ONNX Runtime) runs the frame whole. The same worker measures the
memory of the graph as the bench does (load, one tile run twice) and of the whole frame.

The frame is the output (HR) size. One that is not a multiple of the scale is covered by
``ceil(W / s) × ceil(H / s)`` LR pixels, and the output cropped to ``W × H``
(:class:`FrameGeometry`). Its content is the first held-out photo at that LR size (the bench's
input: :func:`bnn_deploy.core.photos.bench_input`).

Used by ``bnn-deploy bench --frame`` and ``bnn-deploy plan``; this module sits below both (they
are siblings, and neither imports the other).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.photos import bench_input
from bnn_deploy.core.tiling import tiling_work

FRAME_MEMORY_METHOD = (
    "one fresh process per artifact: VmHWM/VmRSS from /proc/self/status. tile_peak_over_import_mb: the "
    "high-water mark after loading the model and running one tile twice, minus the resident size after "
    "importing the runtime library (the bench's peak_over_import_mb); frame_peak_over_import_mb: the same "
    "after the whole frames ran (adds the LR and HR frame buffers and stitching)"
)
FRAME_TIMING = (
    "wall time of each whole frame: cutting the tiles, running every tile, stitching and cropping; "
    "tiles_sum_ms adds up the tiles' own run times in that frame; stitching_ms is the difference"
)


@dataclass(frozen=True)
class FrameGeometry:
    """An output frame and the LR frame that produces it."""

    width: int  # HR
    height: int
    scale: int

    @property
    def lr_hw(self) -> tuple[int, int]:
        """``(height, width)`` of the LR frame: ``ceil`` of the frame over the scale."""
        return math.ceil(self.height / self.scale), math.ceil(self.width / self.scale)

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def lr_label(self) -> str:
        return f"{self.lr_hw[1]}x{self.lr_hw[0]}"

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self) -> str:
        """How the frame is produced, e.g. ``1921x1081 at ×2: LR 961x541, output 1922x1082 cropped ...``."""
        h, w = self.lr_hw
        cols, rows = w * self.scale - self.width, h * self.scale - self.height
        text = f"{self.label} at ×{self.scale}: LR frame {self.lr_label}"
        if cols or rows:
            text += (
                f", output {w * self.scale}x{h * self.scale} cropped by {cols} column(s) and {rows} row(s) "
                "(the frame is not a multiple of the scale)"
            )
        return text


def frame_geometry(frame_wh: tuple[int, int], scale: int) -> FrameGeometry:
    """The :class:`FrameGeometry` of a ``(width, height)`` output frame at ``scale``."""
    try:
        width, height = (int(v) for v in frame_wh)
    except (TypeError, ValueError) as exc:
        raise BnnDeployError(f"--frame {frame_wh!r} is not WIDTHxHEIGHT; give e.g. 1920x1080") from exc
    if width < 1 or height < 1:
        raise BnnDeployError(f"--frame {width}x{height}: give a positive width and height, e.g. 1920x1080")
    return FrameGeometry(width, height, int(scale))


def check_frame(geometry: FrameGeometry, tile_hw: tuple[int, int], what: str) -> None:
    """Refuse, before any work, a frame whose LR frame is smaller than a tile of ``what``."""
    (h, w), (th, tw) = geometry.lr_hw, tile_hw
    if h < th or w < tw:
        s = geometry.scale
        raise BnnDeployError(
            f"--frame {geometry.label} at ×{s} is a {w}x{h} LR frame, smaller than the {tw}x{th} tile of {what}; "
            f"give a frame of at least {tw * s}x{th * s}, or export a smaller --input-size"
        )


def time_frame(
    artifact,
    geometry: FrameGeometry,
    *,
    overlap: int,
    threads: int = 1,
    kernel: str | None = None,
    runs: int = 3,
    warmup: int = 0,
    max_secs: float | None = None,
    keep_output: bool = False,
    workdir: str | Path | None = None,
) -> dict:
    """Time whole frames of ``geometry`` through ``artifact`` in a fresh worker; returns the frame row.

    The worker loads the artifact and runs one tile twice (memory as the bench measures it, and
    the graph warm), then ``warmup`` untimed and up to ``runs`` timed frames, stopping once
    ``max_secs`` have passed (at least one). The first frame's output is returned under
    ``"output"`` with ``keep_output``. ``runs=0`` runs no frame: memory of the tile only. A worker
    failure is ``{"error": ...}`` in the row.
    """
    from bnn_deploy.core.fileio import scratch_dir
    from bnn_deploy.runtimes.isolated import load_outputs, run_worker, worker_spec

    tile_hw = tuple(artifact.input_hw) if artifact.input_hw is not None else None
    if tile_hw is not None:
        check_frame(geometry, tile_hw, artifact.name)
    work = tiling_work(geometry.lr_hw, tile_hw or geometry.lr_hw, overlap)
    row = {
        "label": "measured",
        "where": "this host",
        "artifact": artifact.name,
        "format": artifact.format,
        "role": artifact.role,
        "file": artifact.file,
        "sha256": artifact.sha256,
        "tile": None if tile_hw is None else f"{tile_hw[1]}x{tile_hw[0]}",
        "threads": threads,
        "frame": geometry.label,
        "lr_frame": geometry.lr_label,
        "frame_note": geometry.describe(),
        "overlap": overlap if tile_hw is not None else None,
        "tiles": work.tiles,
        "grid": list(work.grid),
        "work_overhead": work.overhead,
        "least_work_overhead": work.least_overhead,
        "timing": FRAME_TIMING,
    }
    context = nullcontext(Path(workdir)) if workdir is not None else scratch_dir("bnn-deploy-frame-")
    with context as folder:
        tag = f"frame-{Path(artifact.file).stem}-{threads}t"
        lr_path, tile_path = folder / f"{tag}.lr.npy", folder / f"{tag}.tile.npy"
        frame = bench_input(geometry.lr_hw, geometry.scale)[0]
        np.save(lr_path, frame)
        np.save(tile_path, bench_input(tile_hw, geometry.scale) if tile_hw is not None else frame[None])
        spec = worker_spec(
            artifact,
            threads=threads,
            input_path=tile_path,
            scale=geometry.scale,
            overlap=overlap,
            warmup=warmup,
            runs=runs,
            max_secs=max_secs,
            kernel=kernel,
        )
        spec["frame"] = {"input": str(lr_path), "hw": [geometry.height, geometry.width], "runs": runs}
        result = run_worker(spec, folder, tag)
        if "error" in result:
            return {**row, "error": result["error"]}
        outputs = load_outputs(result) if keep_output else None
    return {**row, **_summary(result), **({"output": outputs["frame"]} if outputs else {})}


def _summary(result: dict) -> dict:
    """A worker's frame figures as the row's timing, FPS and memory."""
    from bnn_deploy.runtimes.base import latency_stats

    frames, sums = result["frames_ms"], result["tiles_sum_ms"]
    stats = latency_stats(frames) if frames else None
    return {
        "kernel": result["kernel"],
        "frame_ms": stats,
        "fps": 1e3 / stats["median"] if stats else None,
        "tiles_sum_ms": latency_stats(sums) if sums else None,
        "tile_ms": latency_stats(result["tile_ms"]) if result["tile_ms"] else None,
        "stitching_ms": float(np.median(np.subtract(frames, sums))) if frames else None,
        "stopped_by": result["stopped_by"],
        "memory": result["memory"],
    }


# ---------------------------------------------------------------- in the worker process


def measure_frame(spec: dict) -> dict:
    """The worker's side of :func:`time_frame` (run by ``python -m bnn_deploy.runtimes.worker``)."""
    from bnn_deploy.core.tiling import predict_image
    from bnn_deploy.runtimes.artifacts import import_runtime
    from bnn_deploy.runtimes.worker import _open, _save_npz, read_memory

    import_runtime(spec["runtime"])
    mem_import = read_memory()
    runner = _open(spec, spec["kernel"])
    x = np.load(spec["input"])
    runner.predict(x)
    runner.predict(x)  # the second run can peak higher: kernels allocate transiently
    mem_tile = read_memory()
    lr = np.load(spec["frame"]["input"])
    height, width = spec["frame"]["hw"]
    clock = time.perf_counter
    tile_ms: list[float] = []

    def timed(tile):
        start = clock()
        out = runner.predict(tile)
        tile_ms.append((clock() - start) * 1e3)
        return out

    def one_frame():
        tile_ms.clear()
        start = clock()
        out = predict_image(timed, runner.input_shape, lr, spec["scale"], spec["overlap"])[0][:height, :width]
        return (clock() - start) * 1e3, out

    frames, sums, tiles, stopped_by = [], [], [], "runs"
    runs = max(0, int(spec["frame"]["runs"]))
    saved = False
    for _ in range(max(0, int(spec["warmup"])) if runs else 0):
        _, out = one_frame()
        if not saved:
            _save_npz(spec["outputs"], {"frame": out})
            saved = True
    deadline = None if spec["max_secs"] is None else clock() + float(spec["max_secs"])
    for _ in range(runs):
        ms, out = one_frame()
        if not saved:
            _save_npz(spec["outputs"], {"frame": out})
            saved = True
        frames.append(ms)
        sums.append(sum(tile_ms))
        tiles += tile_ms
        if deadline is not None and clock() >= deadline and len(frames) < runs:
            stopped_by = "max-secs"
            break
    mem_frame = read_memory()
    base = mem_import["rss_mb"] or 0.0
    return {
        "runtime": runner.runtime,
        "kernel": runner.kernel,
        "threads": runner.threads,
        "frames_ms": frames,
        "tiles_sum_ms": sums,
        "tile_ms": tiles,
        "stopped_by": stopped_by,
        "memory": {
            "method": FRAME_MEMORY_METHOD,
            "rss_after_import_mb": mem_import["rss_mb"],
            "tile_peak_over_import_mb": (mem_tile["hwm_mb"] or mem_tile["ru_maxrss_mb"]) - base,
            "frame_peak_over_import_mb": (mem_frame["hwm_mb"] or mem_frame["ru_maxrss_mb"]) - base,
            "peak_rss_mb": mem_frame["hwm_mb"] or mem_frame["ru_maxrss_mb"],
        },
    }


# ---------------------------------------------------------------- several artifacts (bench --frame)


def time_frames(
    jobs, geometry: FrameGeometry, *, overlap: int, runs: int, warmup: int = 0, max_secs=None, progress=None
):
    """:func:`time_frame` for each ``(artifact, threads, kernel)`` of ``jobs``, in order; the rows.

    Each row's ``parity`` compares its frame with the frame of the PyTorch artifact of the same
    role and thread count among ``jobs`` (PyTorch on the whole frame), when there is one.
    """
    from bnn_deploy.core.parity import Parity, compare

    say = progress or (lambda _m: None)
    rows, outputs = [], []
    for n, (artifact, threads, kernel) in enumerate(jobs, 1):
        say(f"[frame {n}/{len(jobs)}] {artifact.name}, {threads} thread(s): {geometry.label} frames")
        row = time_frame(
            artifact,
            geometry,
            overlap=overlap,
            threads=threads,
            kernel=kernel,
            runs=runs,
            warmup=warmup,
            max_secs=max_secs,
            keep_output=True,
        )
        outputs.append(row.pop("output", None))
        rows.append(row)
    refs = {
        (row["role"], row["threads"]): out
        for row, out in zip(rows, outputs)
        if row["format"] == "pytorch" and out is not None
    }
    for row, out in zip(rows, outputs):
        ref = refs.get((row["role"], row["threads"]))
        if out is None:
            continue
        if row["format"] == "pytorch":
            parity = Parity(psnr_db=float("inf"), max_abs_error=0.0, reference="itself (the reference)")
        elif ref is None:
            parity = Parity.not_measured("no PyTorch frame of this model")
        else:
            parity = compare([out], [ref], names=[geometry.label], reference="PyTorch on the whole frame, same model")
        row["parity"] = parity.to_json()
    return rows


def render_frames(frames: list[dict]) -> str:
    """Text table: per artifact the measured ms per frame, FPS, the sum of its tiles and the stitching."""
    if not frames:
        return ""
    first = frames[0]
    lines = [
        f"whole frames, measured on this host: {first['frame_note']} ({FRAME_TIMING})",
        f"  {'artifact':<28} {'thr':>3} {'tiles':>5} {'work':>7} {'ms/frame':>9} {'FPS':>7} {'tiles sum':>9} "
        f"{'stitch':>7} {'peak MB':>8} {'vs PyTorch':>10}",
    ]
    for f in frames:
        if "error" in f:
            lines.append(f"  {f['artifact']:<28} {f['threads']:>3} error: {f['error']}")
            continue
        par = (f.get("parity") or {}).get("psnr_db")
        par_s = "-" if par is None else ("exact" if par == "inf" else f"{par:.1f} dB")
        lines.append(
            f"  {f['artifact']:<28} {f['threads']:>3} {f['tiles']:>5} {f['work_overhead']:>6.3f}× "
            f"{f['frame_ms']['median']:>9.1f} {f['fps']:>7.3f} {f['tiles_sum_ms']['median']:>9.1f} "
            f"{f['stitching_ms']:>7.1f} {f['memory']['frame_peak_over_import_mb']:>8.0f} {par_s:>10}"
        )
    return "\n".join(lines)
