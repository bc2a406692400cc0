"""The Python API: what the command line does, as functions that return what the commands print.

``import bnn_deploy`` offers these functions (``bnn_deploy.__all__``); each is loaded on first use,
and none imports PyTorch or TensorFlow until it runs, so ``import bnn_deploy`` and ``bnn-deploy
--help`` stay fast. A worked example is in ``docs/api.md``.

Every function checks its arguments before any long work and raises
:class:`~bnn_deploy.core.errors.BnnDeployError` (one line: what is wrong, what to do) for anything
the caller can fix. ``progress`` takes a callable that receives status lines (e.g. ``print``);
progress bars show when stderr is a terminal (:func:`bnn_deploy.core.progress.silenced` turns them
off). Sizes may be given as ``"320x180"`` or ``(320, 180)`` (width, height), memory as bytes or
``"1GB"``, thread counts as ``1``, ``[1, 2]`` or ``"1,2"``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bnn_deploy.core.errors import BnnDeployError

if TYPE_CHECKING:
    from bnn_deploy.benchmarking.options import BenchOptions
    from bnn_deploy.conversion.export import ExportResult
    from bnn_deploy.evaluation.upscale import UpscaleResult
    from bnn_deploy.models.checkpoint import LoadedCheckpoint

Progress = Callable[[str], None] | None

__all__ = ["export", "evaluate", "bench", "profile", "predict", "upscale", "load_checkpoint", "create_model"]


def _names(value, what: str) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` as a list of names."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    try:
        return [str(v).strip() for v in value]
    except TypeError:
        raise BnnDeployError(f"{what} {value!r} is not a list; give e.g. {what}=['lce', 'onnx']") from None


def _sizes(value) -> list[tuple[int, int]]:
    """``"320x180"``, ``(320, 180)`` or a list of either, as ``[(width, height)]``."""
    from bnn_deploy.core.values import parse_size

    if isinstance(value, str):
        return [parse_size(part, "input_sizes") for part in value.split(",") if part.strip()]
    items = list(value) if isinstance(value, Iterable) else [value]
    if len(items) == 2 and all(isinstance(v, int) for v in items):
        items = [tuple(items)]  # one (width, height) pair
    sizes = []
    for item in items:
        if isinstance(item, str):
            sizes += _sizes(item)
        else:
            try:
                width, height = (int(v) for v in item)
            except (TypeError, ValueError):
                raise BnnDeployError(f"input_sizes {item!r} is not WIDTHxHEIGHT; give e.g. '320x180'") from None
            sizes.append(parse_size(f"{width}x{height}", "input_sizes"))
    return sizes


def _memory(value) -> int | None:
    """Bytes from an int or a text such as ``"256MB"``; None stays None."""
    from bnn_deploy.core.values import parse_memory

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BnnDeployError(f"memory_budget {value!r} is not a memory size; give bytes or e.g. '1GB'")
    return parse_memory(str(value), "memory_budget")


def export(
    source: str | os.PathLike,
    *,
    formats: str | Iterable[str] = ("lce",),
    input_sizes="320x180",
    target: str = "arm64",
    out_dir: str | os.PathLike | None = None,
    min_parity_db: float = 60.0,
    float_ref: str | os.PathLike | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    fold: bool = True,
    progress: Progress = None,
) -> ExportResult:
    """Export a checkpoint (file or bundled model name) or an ``.onnx`` file, as ``bnn-deploy export``.

    ``formats``: lce, lce-int8, tflite-float, tflite-int8 (needs ``float_ref``), onnx. ``input_sizes``: one
    flatbuffer per LR size. ``fold=False`` exports the float glue as it was (``--no-fold``). Returns the
    :class:`~bnn_deploy.conversion.export.ExportResult` (``.manifest``: every artifact with its bitpacking
    report and parity; ``.out_dir``; ``.changes``), also written as ``out_dir/manifest.json``. A failed
    export leaves ``out_dir`` as it was.
    """
    from bnn_deploy.conversion.export import export_model

    return export_model(
        source,
        formats=_names(formats, "formats"),
        input_sizes=_sizes(input_sizes),
        target=target,
        out_dir=out_dir,
        min_parity_db=min_parity_db,
        float_ref=float_ref,
        k=k,
        trust_pickle=trust_pickle,
        fold=fold,
        progress=progress,
    )


def evaluate(
    target: str | os.PathLike,
    *,
    images_dir: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    memory_budget: int | str | None = None,
    overlap: int | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    progress: Progress = None,
) -> dict:
    """PSNR/SSIM of bicubic, the PyTorch models and every deployed artifact, as ``bnn-deploy eval``.

    ``target``: an export folder or a checkpoint. Returns the report ``eval --json`` prints (per
    model: ``name``, per-image ``images``, ``mean`` PSNR/SSIM, and for an artifact its ``parity``
    against PyTorch); ``out_dir`` (default ``EXPORT_DIR/eval``) receives ``eval.json`` and the crops.
    """
    from bnn_deploy.evaluation.evaluate import evaluate as run_eval

    return run_eval(
        os.fspath(target),
        images_dir=None if images_dir is None else os.fspath(images_dir),
        out_dir=None if out_dir is None else os.fspath(out_dir),
        memory_budget=_memory(memory_budget),
        overlap=overlap,
        k=k,
        trust_pickle=trust_pickle,
        progress=progress,
    )


def _bench_options(what: str, options, keywords: dict):
    """A checked :class:`BenchOptions` from an object or from keywords (not both), for bench and profile."""
    import dataclasses

    from bnn_deploy.benchmarking.options import BenchOptions

    if options is not None and keywords:
        raise BnnDeployError(
            f"{what} got both a BenchOptions and the keywords {', '.join(sorted(keywords))}; give one or the other"
        )
    if options is None:
        fields = {f.name for f in dataclasses.fields(BenchOptions)}
        unknown = sorted(set(keywords) - fields)
        if unknown:
            raise BnnDeployError(
                f"{what} has no option {', '.join(unknown)}; the options are {', '.join(sorted(fields))}"
            )
        if "threads" in keywords:
            keywords["threads"] = _threads(keywords["threads"])
        return BenchOptions(**keywords)
    if not isinstance(options, BenchOptions):
        raise BnnDeployError(f"{what} options must be a BenchOptions, not {type(options).__name__}; or give keywords")
    return options


def bench(
    export_dir: str | os.PathLike, options: BenchOptions | None = None, /, *, progress: Progress = None, **keywords
) -> dict:
    """Latency, memory, size, parity and quality of every artifact of an export, as ``bnn-deploy bench``.

    Give a :class:`~bnn_deploy.benchmarking.options.BenchOptions`, or its fields as keywords
    (``device="host"``, ``threads=[1, 2]``, ``runs=20``, ``warmup``, ``max_secs``, ``kernel``,
    ``plot``, and a board's ``host``, ``key``, ``serial``, ...). Returns the report ``bench --json``
    prints.
    """
    from bnn_deploy.benchmarking.board import bench as run_bench

    return run_bench(os.fspath(export_dir), _bench_options("bench", options, keywords), progress=progress)


def profile(
    export_dir: str | os.PathLike, options: BenchOptions | None = None, /, *, progress: Progress = None, **keywords
) -> dict:
    """Where the time goes, per op of each LCE/TFLite artifact, as ``bnn-deploy profile`` (options as for
    :func:`bench`: ``device``, ``kernel``, ``threads``, ...). Returns the report ``profile --json`` prints."""
    from bnn_deploy.benchmarking.profile import profile as run_profile

    return run_profile(os.fspath(export_dir), _bench_options("profile", options, keywords), progress=progress)


def _threads(value) -> list[int]:
    from bnn_deploy.core.values import parse_threads

    if isinstance(value, str):
        return parse_threads(value)
    if isinstance(value, int):
        return [value]
    return list(value)


def predict(
    path_or_export_dir: str | os.PathLike,
    devices: str | Iterable[str] = ("pi4",),
    *,
    threads=(1,),
    kernel: str | None = None,
    allow_unknown: bool = False,
    formats: str | Iterable[str] = ("lce",),
) -> dict:
    """Predicted latency on ARM boards, per op, of a ``.tflite`` file or an export's artifacts (nothing runs).

    Every figure is labelled a prediction (``docs/predict.md``). Returns ``{"label": "predicted",
    "predictions": [...], "model", "notes"}``, one prediction per artifact, device and thread count.
    """
    from bnn_deploy.prediction.predict import predict as run_predict

    return run_predict(
        os.fspath(path_or_export_dir),
        devices=_names(devices, "devices"),
        threads=_threads(threads),
        kernel=kernel,
        allow_unknown=allow_unknown,
        formats=tuple(_names(formats, "formats")),
    )


def upscale(
    target: str | os.PathLike,
    image: str | os.PathLike,
    output: str | os.PathLike,
    *,
    artifact: str | None = None,
    memory_budget: int | str | None = None,
    overlap: int | None = None,
    threads: int | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    progress: Progress = None,
) -> UpscaleResult:
    """Upscale one image of any size with a checkpoint or an export's artifact, as ``bnn-deploy upscale``.

    Runs in tiles under ``memory_budget`` (default 1.5 GiB, or 3/4 of the available memory if less)
    and compares each tile with PyTorch. Returns the
    :class:`~bnn_deploy.evaluation.upscale.UpscaleResult` (``.tile``, ``.parity``, ``.memory``,
    ``.seconds``); the PNG is written to ``output``.
    """
    from bnn_deploy.evaluation.upscale import upscale as run_upscale

    return run_upscale(
        target,
        image,
        output,
        artifact=artifact,
        memory_budget=_memory(memory_budget),
        overlap=overlap,
        threads=threads,
        k=k,
        trust_pickle=trust_pickle,
        progress=progress,
    )


def load_checkpoint(path: str | os.PathLike, *, k: float | None = None, trust_pickle: bool = False) -> LoadedCheckpoint:
    """Read a checkpoint (a file or a bundled model's name) into a PyTorch model in eval mode.

    Returns a :class:`~bnn_deploy.models.checkpoint.LoadedCheckpoint` (``.model``, ``.arch``,
    ``.config``, ``.path``, ``.sha256``). Files are read with ``weights_only=True``; a pickled
    ``nn.Module`` needs ``trust_pickle=True``.
    """
    from bnn_deploy.models.checkpoint import load_checkpoint as load

    return load(path, k=k, trust_pickle=trust_pickle)


def create_model(arch: str, **config):
    """A new PyTorch model of architecture ``arch`` (``bbcu_l``, ``bbcu_m``, ``msrresnet``, ``edsr``,
    ``binary_edsr``) built with ``config`` (e.g. ``scale=2, num_feat=32, num_block=4``)."""
    from bnn_deploy.models.registry import create_model as create

    return create(arch, **config)
