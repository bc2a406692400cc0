"""``bnn-deploy upscale``: one image of any size through a checkpoint or a deployed artifact, in tiles, under a
memory budget, with its parity against PyTorch measured tile by tile.

**What runs.** ``target`` is

* a checkpoint file or a bundled model's name: the model in PyTorch;
* an export folder: its artifact of format ``artifact`` (default: the first exported of lce,
  tflite-float, onnx, pytorch — the source checkpoint —, tflite-int8); ``tflite-float`` is the
  binary model on float kernels, ``tflite-int8`` the float reference quantized;
* an artifact file inside an export folder, as listed in its ``manifest.json`` (which gives the
  scale and the PyTorch model the file came from).

**Tiles.** The image always goes through :func:`bnn_deploy.core.tiling.run_tiled` and is stitched
into an 8-bit image (the PNG's pixels; one byte per value, not four). A fixed-shape graph (LCE,
TFLite) tiles at its input size — the largest exported size that fits inside the image and the
memory budget. PyTorch and ONNX Runtime take any size; they tile at the largest tile the budget
allows (the whole image when it fits).

**Memory budget** (``memory_budget`` bytes; default :func:`default_budget`: 1.5 GiB, or 3/4 of the
memory available when the command starts if that is less) bounds the resident memory of the whole
run. Once the runtimes and the PyTorch reference are loaded, what is resident (interpreter,
libraries, models, the decoded image) plus the buffers still to come (the 8-bit output and the PNG
encoder's copy of it) is subtracted; the rest is the tiles' share. A tile's need is *measured*:
:func:`bnn_deploy.runtimes.isolated.measure_peak_memory` runs the artifact — and the PyTorch
reference, whose need is added — on a tile in a fresh process; the sum is multiplied by
:data:`NEED_MARGIN` for the run-to-run variation of allocators and threads. A fixed-shape graph is
measured at its exported sizes, largest first, until one fits
(:func:`bnn_deploy.core.tiling.choose_input_size`). For PyTorch and ONNX Runtime one
:data:`PROBE`-pixel square tile is measured (halved until it fits) and the need is scaled with the
tile's pixels, up to :data:`MAX_TILE` pixels a side (larger tiles save little overlap work). LCE runs
its fastest kernel, which also needs about half the memory of its default one. The result reports the
process's measured peak (``VmHWM``) next to the budget.

**Parity** is computed tile by tile: each tile the artifact ran also runs in PyTorch (the model the
artifact was exported from), and the two outputs are compared (:func:`bnn_deploy.core.parity.compare`);
the figure is the worst tile's. PyTorch never runs on the whole image unless that is one tile.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.formats import FORMATS
from bnn_deploy.core.parity import Parity

DEFAULT_BUDGET = 3 << 29  # 1.5 GiB
AVAILABLE_SHARE = 0.75  # of MemAvailable, when that is less than DEFAULT_BUDGET
PROBE = 256  # LR pixels per side of the tile measured for PyTorch and ONNX Runtime
MIN_TILE = 64  # the smallest probe side (below it the overlap would dominate the work)
MAX_TILE = 512  # the largest tile side for PyTorch and ONNX Runtime: larger saves little overlap work
# A tile's measured need is multiplied by this: the same run's peak varies by up to ~20 % between processes
# (PyTorch with 2 threads at 256x256: 179 to 218 MB), and repeated tiles keep some freed memory: two 379x300
# PyTorch tiles took 305-320 MB above the loaded process alone but 395 MB once inside the test suite, 1.32x
# the unmargined estimate from a 256x256 probe (1.25 let that run exceed a 620 MB budget by 3 %).
NEED_MARGIN = 1.4
ARTIFACT_CHOICES = tuple(FORMATS)
_DEFAULT_ORDER = ("lce", "lce-int8", "tflite-float", "onnx", "pytorch", "tflite-int8")
_ARTIFACT_SUFFIXES = (".tflite", ".onnx")
MB = 1 << 20


@dataclass
class UpscaleResult:
    """What :func:`upscale` returns (and ``bnn-deploy upscale --json`` prints)."""

    source: str  # the checkpoint, export folder or artifact file given
    file: str  # the file that ran
    format: str  # a key of core.formats.FORMATS
    runtime: str
    kernel: str
    threads: int
    model: str
    scale: int
    image: str
    output: str
    input_size: list[int]  # [width, height]
    output_size: list[int]
    tile: dict  # size "WxH", overlap, count, whole_image, chosen (how)
    memory: dict  # budget_bytes, budget_from, fixed_bytes, tile_share_bytes, tile_need_bytes, peak_rss_bytes, ...
    parity: Parity
    seconds: float  # wall time of the whole call, loading included
    run_seconds: dict  # {"tiles", "artifact", "reference"}: the tile loop and its two parts
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k != "parity"}
        out["parity"] = self.parity.to_json()
        return out


# ---------------------------------------------------------------- the budget


def available_memory() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (None where unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_budget() -> tuple[int, str]:
    """``(bytes, how it was chosen)``: 1.5 GiB, or 3/4 of the memory available now if that is less."""
    available = available_memory()
    if available is not None and available * AVAILABLE_SHARE < DEFAULT_BUDGET:
        share = int(available * AVAILABLE_SHARE)
        return share, f"default: 3/4 of the {available / MB:.0f} MB available, less than 1.5 GiB"
    return DEFAULT_BUDGET, "default: 1.5 GiB"


def _reset_peak() -> bool:
    """Restart this process's resident high-water mark (``VmHWM``) at its current size, where Linux allows."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _resident() -> tuple[int, int | None]:
    """``(VmRSS, VmHWM)`` of this process in bytes (HWM None where unknown)."""
    from bnn_deploy.runtimes.worker import read_memory

    mem = read_memory()
    rss = mem["rss_mb"] if mem["rss_mb"] is not None else mem["ru_maxrss_mb"]
    hwm = mem["hwm_mb"] if mem["hwm_mb"] is not None else mem["ru_maxrss_mb"]
    return int(rss * MB), None if hwm is None else int(hwm * MB)


def output_buffers(image_hw: tuple[int, int], scale: int) -> int:
    """Bytes of the buffers the output still needs: the 8-bit image and the PNG encoder's copy (4 bytes a pixel)."""
    pixels = image_hw[0] * scale * image_hw[1] * scale
    return pixels * 3 + pixels * 4


# ---------------------------------------------------------------- what runs


@dataclass
class _Plan:
    """Everything checked before any model loads."""

    source: str
    kind: str  # "checkpoint" | "export"
    fmt: str
    artifacts: list  # core.exports.Artifact candidates of that format and role (one per size)
    reference: object | None  # the PyTorch Artifact to compare with (None: the artifact is PyTorch)
    checkpoint: str | None  # the checkpoint file (kind "checkpoint")
    scale: int | None
    notes: list[str]
    overlap: int | None = None  # the tile overlap the export measured for the model (None: a checkpoint)


def _is_artifact_file(path: str) -> bool:
    return os.path.isfile(path) and path.lower().endswith(_ARTIFACT_SUFFIXES)


def _plan(target: str, artifact: str | None) -> _Plan:
    """Which file runs and what it is compared with, from ``target`` and ``artifact`` (no model loads)."""
    from bnn_deploy.core.exports import read_export
    from bnn_deploy.models.zoo import resolve_model_path

    if artifact is not None and artifact not in ARTIFACT_CHOICES:
        raise BnnDeployError(f"unknown --artifact {artifact!r}; choose one of {', '.join(ARTIFACT_CHOICES)}")
    target = os.fspath(target)
    if os.path.isdir(target) or _is_artifact_file(target):
        folder = target if os.path.isdir(target) else os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(target) and not os.path.isfile(os.path.join(folder, "manifest.json")):
            raise BnnDeployError(
                f"{target} is not inside an export folder (no manifest.json beside it); upscale needs the "
                "folder bnn-deploy export wrote (for the scale and the PyTorch model parity is measured "
                "against): give the file there, or the folder"
            )
        exp = read_export(folder)
        if os.path.isfile(target):
            chosen = next((a for a in exp.artifacts if Path(a.file) == Path(target).resolve()), None)
            if chosen is None:
                raise BnnDeployError(
                    f"{target} is not listed in {folder}/manifest.json; give a file the export wrote, or the folder"
                )
            if artifact is not None and artifact != chosen.format:
                raise BnnDeployError(
                    f"--artifact {artifact} does not match {Path(target).name} (a {chosen.format} file); "
                    "drop --artifact or give the export folder"
                )
            candidates = [chosen]
        else:
            candidates = _export_candidates(exp, target, artifact)
        chosen = candidates[0]
        reference = None if chosen.format == "pytorch" else exp.reference_for(chosen)
        notes = []
        if chosen.format != "pytorch" and reference is None:
            notes.append(
                f"the PyTorch model of {Path(chosen.file).name} was not found (or changed since export): "
                "parity is not measured"
            )
        return _Plan(target, "export", chosen.format, candidates, reference, None, exp.scale, notes, exp.tile_overlap())
    if artifact not in (None, "pytorch"):
        raise BnnDeployError(
            f"--artifact {artifact}: a checkpoint runs in PyTorch only; export it first "
            f"(bnn-deploy export {target} --format {artifact}) and give the "
            "export folder"
        )
    path = resolve_model_path(target)
    if not os.path.isfile(path):
        raise BnnDeployError(
            f"{target} not found; give a checkpoint (.pt/.pth), a bundled model name, an export folder or "
            "an artifact file inside one"
        )
    return _Plan(target, "checkpoint", "pytorch", [], None, path, None, [])


def _export_candidates(exp, folder: str, artifact: str | None) -> list:
    """The export's artifacts of the asked format (one per exported size), binary role first."""
    have = [f for f in _DEFAULT_ORDER if exp.of(f, "binary") or exp.of(f, "float-ref")]
    fmt = artifact or (have[0] if have else None)
    if fmt is None or fmt not in have:
        raise BnnDeployError(
            f"{folder} has no {fmt or 'runnable'} artifact (it has: {', '.join(have) or 'none'}); "
            + (f"choose one of those with --artifact, or re-export with --format {fmt}" if fmt else "re-export it")
        )
    return exp.of(fmt, "binary") or exp.of(fmt, "float-ref")


def _check_request(image: str, output: str, overlap: int, threads: int) -> None:
    from bnn_deploy.core.fileio import check_output_path
    from bnn_deploy.core.values import check_thread_counts

    check_output_path(output, "-o", suffixes=(".png",))
    if Path(output).resolve() == Path(image).resolve():
        raise BnnDeployError(f"-o {output} is the input image; choose another path so the input is kept")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise BnnDeployError(f"--overlap {overlap!r} must be a whole number of LR pixels, 0 or more")
    check_thread_counts([threads], os.cpu_count() or 1, "this machine")


def _fixed_sizes_in_image(plan: _Plan, image_hw: tuple[int, int], image: str) -> list:
    """The candidates whose tile fits inside the image (a fixed-shape graph); a clear error when none does."""
    fitting = [a for a in plan.artifacts if a.input_hw[0] <= image_hw[0] and a.input_hw[1] <= image_hw[1]]
    if not fitting:
        h, w = min((a.input_hw for a in plan.artifacts), key=lambda hw: hw[0] * hw[1])
        raise BnnDeployError(
            f"image {image} is {image_hw[1]}x{image_hw[0]}, smaller than one {w}x{h} tile of the {plan.fmt} "
            f"artifact; give an image at least {w}x{h}, export a smaller --input-size, or use --artifact onnx "
            "or pytorch (any size)"
        )
    return fitting


def _tileable(plan: _Plan, candidates: list, image_hw: tuple[int, int], overlap: int) -> list:
    """The candidates whose tiles can cover the image overlapping by ``overlap``; a clear error when none can
    (before any model loads, rather than after the memory measurements)."""
    from bnn_deploy.core.tiling import tile_count

    fitting = []
    for art in candidates:
        try:
            tile_count(image_hw, art.input_hw, overlap)
        except BnnDeployError:
            continue
        fitting.append(art)
    if not fitting:
        side = max(min(a.input_hw) for a in candidates)
        raise BnnDeployError(
            f"--overlap {overlap} does not fit the {plan.fmt} artifact's tiles (short side at most {side} px): "
            f"tiles must overlap by less than that; pass --overlap {side // 2} (or export a larger --input-size)"
        )
    return fitting


# ---------------------------------------------------------------- choosing the tile


class _TooBig(Exception):
    """Even the smallest tile tried needs more than the tiles' share of the budget."""

    def __init__(self, hw: tuple[int, int], need: int):
        super().__init__(hw, need)
        self.hw, self.need = hw, need


class _Needs:
    """A tile's need in bytes: the measured peaks of the artifact and the PyTorch reference (each in a fresh
    process), summed, times :data:`NEED_MARGIN`."""

    def __init__(self, reference, scale: int, threads: int, say):
        self.reference, self.scale, self.threads, self.say = reference, scale, threads, say
        self.measured: dict[tuple[int, int], int] = {}

    def __call__(self, artifact, hw: tuple[int, int]) -> int:
        from bnn_deploy.runtimes.isolated import measure_peak_memory

        h, w = hw
        who = artifact.format + (" and the PyTorch reference" if self.reference is not None else "")
        self.say(f"measuring the memory of a {w}x{h} tile: {who} (a fresh process each)")
        need = measure_peak_memory(
            replace(artifact, input_hw=hw), scale=self.scale, threads=self.threads, kernel=kernel_for(artifact)
        )
        if self.reference is not None:
            need += measure_peak_memory(replace(self.reference, input_hw=hw), scale=self.scale, threads=self.threads)
        need = int(need * NEED_MARGIN)
        self.measured[hw] = need
        return need

    def smallest(self) -> tuple[tuple[int, int], int]:
        hw = min(self.measured, key=lambda s: s[0] * s[1])
        return hw, self.measured[hw]


def fixed_tile(candidates: list, share: int, needs: _Needs) -> tuple[object, tuple[int, int], int]:
    """The artifact of the largest exported size whose measured need fits ``share``: ``(artifact, hw, need)``."""
    from bnn_deploy.core.tiling import choose_input_size

    by_hw = {tuple(a.input_hw): a for a in candidates}
    try:
        hw, need = choose_input_size(list(by_hw), share, lambda size: needs(by_hw[size], size))
    except BnnDeployError:
        if len(needs.measured) < len(by_hw):  # not "nothing fits": a measurement failed
            raise
        raise _TooBig(*needs.smallest()) from None
    return by_hw[hw], hw, need


def any_size_tile(artifact, image_hw: tuple[int, int], share: int, needs: _Needs) -> tuple[tuple[int, int], int, str]:
    """The largest tile within ``share`` bytes for a runtime that takes any size: ``(hw, need, how)``.

    A :data:`PROBE`-pixel square (at most the image) is measured, halved until it fits (down to
    :data:`MIN_TILE`); the need is then scaled with the tile's pixels (its fixed part scales too,
    which errs high), up to :data:`MAX_TILE` a side and below any probe measured too big.
    """
    height, width = image_hw
    side, too_big = min(PROBE, MAX_TILE), MAX_TILE * MAX_TILE
    while True:
        probe = (min(side, height), min(side, width))
        need = needs(artifact, probe)
        if need <= share:
            break
        if max(probe) <= MIN_TILE:
            raise _TooBig(probe, need)
        too_big = probe[0] * probe[1] - 1  # never scale back up to a tile measured too big
        side = max(MIN_TILE, max(probe) // 2)
    if probe == tuple(image_hw):
        return probe, need, f"measured: the whole {width}x{height} image is one tile"
    pixels = min(int(share / need * probe[0] * probe[1]), too_big)
    if pixels >= height * width:
        tile = (height, width)
    else:
        t = math.isqrt(pixels)
        if t >= height:
            tile = (height, min(width, pixels // height))
        elif t >= width:
            tile = (min(height, pixels // width), width)
        else:
            tile = (t, t)
        tile = (min(tile[0], MAX_TILE), min(tile[1], MAX_TILE))
    estimate = int(need * tile[0] * tile[1] / (probe[0] * probe[1]))
    how = f"scaled by pixels from a measured {probe[1]}x{probe[0]} tile ({need / MB:.0f} MB with the margin)"
    return tile, estimate, how


def kernel_for(artifact) -> str | None:
    """The kernel an artifact runs with here: LCE's fastest (checked against PyTorch tile by tile), else the default."""
    from bnn_deploy.evaluation.evaluate import LCE_KERNEL

    return LCE_KERNEL if artifact.runtime == "lce" else None


def _tile_names(image_hw: tuple[int, int], tile_hw: tuple[int, int], overlap: int) -> list[str]:
    """``"tile 3 at x=296,y=0 (320x180)"`` for each tile, in :func:`~bnn_deploy.core.tiling.run_tiled`'s order."""
    from bnn_deploy.core.tiling import plan_axis

    rows, cols = plan_axis(image_hw[0], tile_hw[0], overlap), plan_axis(image_hw[1], tile_hw[1], overlap)
    size = f"{tile_hw[1]}x{tile_hw[0]}"
    starts = [(top, left) for top in rows.starts for left in cols.starts]
    return [f"tile {i} at x={left},y={top} ({size})" for i, (top, left) in enumerate(starts)]


# ---------------------------------------------------------------- loading


@dataclass
class _Loaded:
    """The runtimes loaded in this process, and what the memory measurements load in theirs."""

    scale: int
    model: str
    open: object  # artifact -> Runner
    measured: object  # the artifact the memory measurements load (a checkpoint: a saved copy)
    reference: object | None  # the PyTorch reference's Runner
    reference_artifact: object | None


def _load(plan: _Plan, scratch: Path, threads: int, k, trust_pickle, say) -> _Loaded:
    """Load the artifact's runtime library and the PyTorch reference (or, for a checkpoint, the model).

    A checkpoint is also saved to ``scratch`` in bnn-deploy's format, so that the fresh processes
    measuring memory load exactly this model (``k`` applied, no pickle needed).
    """
    from bnn_deploy.core.exports import Artifact
    from bnn_deploy.core.progress import step
    from bnn_deploy.runtimes.artifacts import import_runtime, open_artifact

    if plan.kind == "checkpoint":
        from bnn_deploy.models.checkpoint import load_checkpoint, save_checkpoint
        from bnn_deploy.runtimes.torch_eager import open_torch

        with step(f"loading {plan.source}", say):
            loaded = load_checkpoint(plan.checkpoint, k=k, trust_pickle=trust_pickle)
        copy = scratch / "model.pt"
        save_checkpoint(copy, loaded.model)
        art = Artifact(
            name="pytorch",
            file=str(copy),
            format="pytorch",
            role="binary",
            model=loaded.name,
            size_bytes=os.path.getsize(copy),
            sha256="",
            input_hw=None,
            scale=int(loaded.config["scale"]),
        )
        runner = open_torch(loaded.path, model=loaded.model, threads=threads)
        return _Loaded(art.scale, loaded.name, lambda _art: runner, art, None, None)
    first = plan.artifacts[0]
    with step(f"loading the {first.runtime} runtime" + (" and the PyTorch reference" if plan.reference else ""), say):
        import_runtime(first.runtime)
        reference = open_artifact(plan.reference, threads=threads) if plan.reference is not None else None
    return _Loaded(
        first.scale,
        first.model,
        lambda art: open_artifact(art, threads=threads, kernel=kernel_for(art)),
        first,
        reference,
        plan.reference,
    )


def _choose_tile(plan: _Plan, loaded: _Loaded, candidates: list, image_hw, fixed: int, budget: tuple, threads, say):
    """``(artifact, tile hw, need, how chosen)`` within the tiles' share of ``budget`` (bytes, how it was
    chosen) once ``fixed`` bytes are taken; a one-line error naming the budget needed when no tile fits."""
    needs = _Needs(loaded.reference_artifact, loaded.scale, threads, say)
    fixed_shape = FORMATS[plan.fmt].fixed_shape
    try:
        if fixed_shape:
            run_art, hw, need = fixed_tile(candidates, budget[0] - fixed, needs)
            return run_art, hw, need, "the largest exported input size inside the image whose measured need fits"
        hw, need, how = any_size_tile(loaded.measured, image_hw, budget[0] - fixed, needs)
        return (plan.artifacts[0] if plan.artifacts else None), hw, need, how
    except _TooBig as exc:
        (h, w), need = exc.hw, exc.need
        raise BnnDeployError(
            f"a {w}x{h} tile of {plan.fmt} needs ~{need / MB:.0f} MB and the libraries, models and image "
            f"buffers ~{fixed / MB:.0f} MB: over the {budget[0] / MB:.0f} MB budget ({budget[1]}); raise "
            f"--memory-budget to at least {math.ceil((need + fixed) / MB)}MB"
            + (" or export a smaller --input-size" if fixed_shape else "")
        ) from None


def _run_tiles(runner, reference, lr: np.ndarray, hw, scale: int, overlap: int, names: list[str]):
    """Every tile through ``runner`` (and ``reference``, compared), stitched into 8-bit pixels.

    Returns ``(sH x sW x 3 uint8, [ImageParity per tile], {"tiles", "artifact", "reference"} seconds)``.
    """
    from bnn_deploy.core.parity import compare
    from bnn_deploy.core.progress import bar
    from bnn_deploy.core.tiling import run_tiled

    compared, clock = [], {"tiles": 0.0, "artifact": 0.0, "reference": 0.0}

    def predict(tile: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        got = runner.predict(tile)
        clock["artifact"] += time.perf_counter() - t0
        if reference is not None:
            t0 = time.perf_counter()
            expected = reference.predict(tile)
            clock["reference"] += time.perf_counter() - t0
            compared.append(compare([got], [expected], reference="", names=[names[len(compared)]]).images[0])
        return got

    out = np.empty((lr.shape[0] * scale, lr.shape[1] * scale, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    with bar("upscaling", total=len(names), unit="tile") as shown:
        run_tiled(predict, lr, hw, scale, overlap, progress=shown.tick, out=out)
    clock["tiles"] = time.perf_counter() - t0
    return out, compared, clock


def _over_budget(what: str, fixed: int, budget: int, budget_from: str) -> BnnDeployError:
    return BnnDeployError(
        f"{what} alone take ~{fixed / MB:.0f} MB, over the {budget / MB:.0f} MB budget ({budget_from}); "
        f"raise --memory-budget to more than {math.ceil(fixed / MB)}MB or give a smaller image"
    )


# ---------------------------------------------------------------- the run


def upscale(
    target: str | os.PathLike,
    image: str | os.PathLike,
    output: str | os.PathLike,
    *,
    artifact: str | None = None,
    memory_budget: int | None = None,
    overlap: int | None = None,
    threads: int | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    progress=None,
) -> UpscaleResult:
    """Upscale ``image`` with ``target`` and write the PNG ``output`` (see the module docstring).

    Everything is checked before any model loads: the output path (``.png``, its folder exists and
    is writable, not the input image), ``artifact``, ``overlap``, ``threads``, the target, and the
    image (readable; at least one tile of a fixed-shape graph). ``memory_budget``: bytes (default
    :func:`default_budget`); ``threads``: default this machine's cores; ``k`` and ``trust_pickle``
    apply to a checkpoint target, as in :func:`bnn_deploy.models.checkpoint.load_checkpoint`.
    ``progress(message)`` receives status lines.
    """
    from bnn_deploy.core.fileio import scratch_dir
    from bnn_deploy.core.images import load_image, save_image
    from bnn_deploy.core.progress import step
    from bnn_deploy.core.tiling import DEFAULT_OVERLAP

    say = progress or (lambda _m: None)
    started = time.perf_counter()
    threads = (os.cpu_count() or 1) if threads is None else threads
    image, output = os.fspath(image), os.fspath(output)
    if memory_budget is None:
        budget, budget_from = default_budget()
    else:
        budget, budget_from = _check_budget(memory_budget), "--memory-budget"
    plan = _plan(target, artifact)
    if overlap is None:  # measured for this model by its export, else the default
        overlap = plan.overlap if plan.overlap is not None else DEFAULT_OVERLAP
    _check_request(image, output, overlap, threads)
    lr = load_image(image)
    image_hw = tuple(lr.shape[:2])
    fixed_shape = FORMATS[plan.fmt].fixed_shape
    candidates = (
        _tileable(plan, _fixed_sizes_in_image(plan, image_hw, image), image_hw, overlap)
        if fixed_shape
        else plan.artifacts
    )
    if plan.scale is not None and output_buffers(image_hw, plan.scale) + lr.nbytes >= budget:
        raise _over_budget(
            "the input and output image buffers", output_buffers(image_hw, plan.scale) + lr.nbytes, budget, budget_from
        )
    reset = _reset_peak()

    with scratch_dir("bnn-deploy-upscale-") as scratch:
        loaded = _load(plan, scratch, threads, k, trust_pickle, say)
        scale = loaded.scale
        fixed = _resident()[0] + output_buffers(image_hw, scale)
        share = budget - fixed
        if share <= 0:
            raise _over_budget("the libraries, models and image buffers", fixed, budget, budget_from)
        run_art, hw, need, how = _choose_tile(
            plan, loaded, candidates, image_hw, fixed, (budget, budget_from), threads, say
        )
        runner = loaded.open(run_art)
        names = _tile_names(image_hw, hw, overlap)
        say(
            f"{len(names)} tile(s) of {hw[1]}x{hw[0]} (overlap {overlap}) through {plan.fmt}"
            + (", each compared with PyTorch on the same tile" if loaded.reference is not None else "")
        )
        out, compared, clock = _run_tiles(runner, loaded.reference, lr, hw, scale, overlap, names)
        del lr
        with step(f"writing {output}", say):
            save_image(output, out)
    peak = _resident()[1]
    if loaded.reference is not None:
        parity = Parity.of_images(
            compared, reference=f"PyTorch on the same tiles ({Path(loaded.reference_artifact.file).name})"
        )
    else:
        parity = Parity.not_measured(
            "the output is PyTorch's own" if plan.fmt == "pytorch" else "no PyTorch model to compare with"
        )
    return UpscaleResult(
        source=os.fspath(target),
        file=run_art.file if run_art is not None else plan.checkpoint,
        format=plan.fmt,
        runtime=runner.runtime,
        kernel=runner.kernel,
        threads=threads,
        model=loaded.model,
        scale=scale,
        image=image,
        output=output,
        input_size=[image_hw[1], image_hw[0]],
        output_size=[image_hw[1] * scale, image_hw[0] * scale],
        tile={
            "size": f"{hw[1]}x{hw[0]}",
            "overlap": overlap,
            "count": len(names),
            "whole_image": hw == image_hw,
            "chosen": how,
        },
        memory={
            "budget_bytes": budget,
            "budget_from": budget_from,
            "fixed_bytes": fixed,
            "tile_share_bytes": share,
            "tile_need_bytes": need,
            "peak_rss_bytes": peak,
            "peak_rss_from": "VmHWM of this process" + (" since upscale started" if reset else " since it started"),
            "within_budget": None if peak is None else peak <= budget,
        },
        parity=parity,
        seconds=time.perf_counter() - started,
        run_seconds=clock,
        notes=plan.notes,
    )


def _check_budget(value) -> int:
    """A memory budget in bytes: an int, or text such as ``"1.5GB"`` (:func:`bnn_deploy.core.values.parse_memory`)."""
    from bnn_deploy.core.values import parse_memory

    if isinstance(value, str):
        return parse_memory(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < MB:
        raise BnnDeployError(f"memory budget {value!r} is not a number of bytes of at least 1 MB; give e.g. 1GB")
    return int(value)


# ---------------------------------------------------------------- text


def render_upscale(result: UpscaleResult) -> str:
    """What was written, what ran and how, parity, memory and time, one line each."""
    r, tile, mem = result, result.tile, result.memory
    lines = [
        f"wrote {r.output}  {r.input_size[0]}x{r.input_size[1]} -> {r.output_size[0]}x{r.output_size[1]}  "
        f"({r.format} {r.model} ×{r.scale}, {r.runtime} {r.kernel}, {r.threads} thread(s))",
        f"tiles: {tile['count']} of {tile['size']}, overlap {tile['overlap']}"
        + (" (the whole image)" if tile["whole_image"] else ""),
    ]
    par = r.parity
    if par.measured:
        worst = par.worst_image()
        lines.append(
            f"parity vs PyTorch, tile by tile: {_db(par.psnr_db)} worst tile ({worst.name}), "
            f"max |error| {par.max_abs_error:.2g}"
        )
    else:
        lines.append(f"parity vs PyTorch: not measured ({par.reference.removeprefix('none: ')})")
    peak = mem["peak_rss_bytes"]
    lines.append(
        f"memory: peak {'?' if peak is None else f'{peak / MB:.0f} MB'} of a {mem['budget_bytes'] / MB:.0f} MB budget "
        f"({mem['budget_from']}); a tile needs ~{mem['tile_need_bytes'] / MB:.0f} MB of its "
        f"{mem['tile_share_bytes'] / MB:.0f} MB share"
    )
    secs = r.run_seconds
    ref = f", PyTorch reference {secs['reference']:.1f} s" if par.measured else ""
    tiles = f"tiles {secs['tiles']:.1f} s ({r.format} {secs['artifact']:.1f} s{ref})"
    lines.append(f"time: {r.seconds:.1f} s in all; {tiles}")

    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


def _db(value: float) -> str:
    return "identical (inf dB)" if value == math.inf else f"{value:.1f} dB"
