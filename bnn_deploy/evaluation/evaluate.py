"""``bnn-deploy eval EXPORT_DIR|CKPT``: quality of every deployment, and pictures of what differs.

Each image (default: the bundled held-out photos; or every image file in ``--images DIR``) is the
HR ground truth: mod-cropped to the scale and bicubic-downscaled to the LR input (as
:mod:`bnn_deploy.models.quality`). Then, per image, PSNR/SSIM vs HR (Y channel, border = scale,
uint8-rounded — BasicSR's protocol) of

* bicubic upscaling;
* the PyTorch models (the checkpoint; for an export dir the source model and the float
  reference, when the manifest's checkpoints are found);
* each deployed artifact of an export dir, run on the whole image: fixed-shape graphs (LCE,
  TFLite) by overlapping tiles (:mod:`bnn_deploy.core.tiling`) at the exported size that fits
  ``memory_budget``, ONNX Runtime on the whole image. Their ``parity_db`` is the PSNR (raw floats,
  peak 1) against PyTorch running the same model on the *whole* image, so it includes tiling.

Per image one side-by-side PNG crop — HR | bicubic | float | binary | amplified |difference|
heat map — is written to ``out_dir/crops``; the crop window is where the difference is largest.
"float" is the float reference model when the export has one, else PyTorch running the binary
model itself (the heat map then shows deployment error); "binary" is the LCE artifact (or the best
available deployment, or the checkpoint itself).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.exports import check_tile_overlap
from bnn_deploy.core.jsonio import REPORT_DIGITS, write_json

# Every eval JSON says what it is and which shape it has (version 1: bnn-deploy 0.1, no key;
# version 2: per-model ``parity`` as a Parity, ``model_source`` with the evaluated model's SHA-256).
EVAL_FORMAT = "bnn-deploy-eval"
EVAL_SCHEMA_VERSION = 2

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CROP = 96  # HR pixels per side of each crop panel (shown at 2x)
ZOOM = 2
DIFF_GAIN = 10.0  # |difference| of luma is multiplied by this before the heat-map colours
_SSIM_WINDOW = 11
_BINARY_PREFERENCE = ("lce", "tflite-float", "onnx")
LCE_KERNEL = "indirect_bgemm+xnnpack"  # output identical to LCE's default kernel (see runtimes.lce), fastest, and
# about half the memory of LCE's default kernel (XNNPACK runs the float ops); upscale runs it too


# ---------------------------------------------------------------- images


def min_image_side(scale: int) -> int:
    """Smallest HR side the protocol can score: SSIM's 11×11 window after cropping ``scale`` per side."""
    return _SSIM_WINDOW + 2 * scale


def image_files(images_dir: str) -> list[Path]:
    """The image files of ``--images DIR`` (sorted); a missing or empty folder is a one-line error."""
    folder = Path(images_dir)
    if not folder.is_dir():
        raise BnnDeployError(f"--images {folder} is not a directory; give a folder of PNG/JPEG images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BnnDeployError(
            f"--images {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}); add some or pick another folder"
        )
    return files


def load_eval_images(images_dir: str | None, scale: int) -> list[tuple[str, np.ndarray]]:
    """``[(name, HR image)]`` from ``images_dir`` (sorted), or the bundled held-out photos."""
    from bnn_deploy.core.images import load_image
    from bnn_deploy.core.photos import holdout_photos

    if images_dir is None:
        images = holdout_photos()
    else:
        images = [(p.name, load_image(p)) for p in image_files(images_dir)]
    need = min_image_side(scale)
    for name, img in images:
        h, w = img.shape[:2]
        if min(h, w) < need:
            raise BnnDeployError(
                f"image {name} is {w}x{h}, too small to evaluate at x{scale} (needs at least "
                f"{need}x{need} HR pixels); remove it or use larger images"
            )
    return images


def check_request(target: str, images_dir: str | None, out_dir: str | None, k: float | None = None) -> Path:
    """Every path ``eval`` reads or writes, checked before anything loads; returns the output folder.

    ``target`` must be an export folder, a checkpoint file or a bundled model's name; ``--images``
    a folder holding images; the output folder (``--out``, else ``EXPORT_DIR/eval`` or
    ``bnn-deploy-out/eval/NAME``) creatable and writable — found out at the end, that cost the
    whole evaluation.
    """
    from bnn_deploy.core.fileio import DEFAULT_OUT_ROOT, check_output_dir
    from bnn_deploy.models.zoo import resolve_model_path

    if os.path.isdir(target):
        if k is not None:
            raise BnnDeployError(f"--k applies to a checkpoint, and {target} is an export folder; drop --k")
        default = Path(target) / "eval"
    else:
        path = resolve_model_path(target)
        if not os.path.isfile(path):
            raise BnnDeployError(
                f"{target} not found; give an export folder, a checkpoint (.pt/.pth) or a bundled model "
                "name (bnn-deploy models lists them)"
            )
        default = Path(DEFAULT_OUT_ROOT) / "eval" / Path(path).stem
    if images_dir is not None:
        image_files(images_dir)
    out = Path(out_dir) if out_dir is not None else default
    check_output_dir(out, "--out" if out_dir is not None else "the default output folder (choose one with --out)")
    return out


# ---------------------------------------------------------------- what runs


def _pytorch_predict(checkpoint: str, *, k=None, trust_pickle=False, model=None):
    from bnn_deploy.runtimes.torch_eager import open_torch

    if model is None:
        from bnn_deploy.models.checkpoint import load_checkpoint

        model = load_checkpoint(checkpoint, k=k, trust_pickle=trust_pickle).model
    return open_torch(checkpoint, model=model).predict


def _artifact_size_for_budget(exp, fmt: str, role: str, budget: int | None, kernel: str | None):
    """The artifact of ``fmt``/``role`` with the largest input size whose measured peak fits ``budget``."""
    from bnn_deploy.core.tiling import choose_input_size
    from bnn_deploy.runtimes.isolated import measure_peak_memory

    arts = exp.of(fmt, role)
    if not arts:
        return None, None
    if arts[0].input_hw is None:
        return arts[0], None
    by_hw = {tuple(a.input_hw): a for a in arts}
    hw, need = choose_input_size(
        list(by_hw), budget, lambda size: measure_peak_memory(by_hw[size], scale=exp.scale, kernel=kernel)
    )
    return by_hw[hw], need


def _deployed(exp, budget: int | None) -> list[dict]:
    """``[{name, format, role, artifact, runner, estimated_bytes}]`` for one artifact per format and role.

    ``estimated_bytes``: the measured peak of the chosen size under ``budget`` (None without one).
    """
    from bnn_deploy.core.photos import bench_input
    from bnn_deploy.runtimes.artifacts import open_artifact
    from bnn_deploy.runtimes.lce import kernel_tolerance, verify_kernel

    out = []
    for fmt, role in (
        ("lce", "binary"),
        ("lce-int8", "binary"),
        ("tflite-float", "binary"),
        ("onnx", "binary"),
        ("tflite-float", "float-ref"),
        ("tflite-int8", "float-ref"),
    ):
        kernel = LCE_KERNEL if fmt in ("lce", "lce-int8") else None
        art, need = _artifact_size_for_budget(exp, fmt, role, budget, kernel)
        if art is None:
            continue
        check = None
        if kernel is not None:
            x = bench_input(art.input_hw, exp.scale)
            check = verify_kernel(art.file, x, LCE_KERNEL, tolerance=kernel_tolerance(fmt))
            kernel = check["kernel"]
        out.append(
            {
                "name": art.name,
                "format": fmt,
                "role": role,
                "artifact": art,
                "runner": open_artifact(art, kernel=kernel),
                "estimated_bytes": need,
                "kernel_check": check,
            }
        )
    return out


# ---------------------------------------------------------------- the evaluation


def evaluate(
    target: str,
    *,
    images_dir: str | None = None,
    out_dir: str | None = None,
    memory_budget: int | None = None,
    overlap: int | None = None,
    k: float | None = None,
    trust_pickle: bool = False,
    progress=None,
) -> dict:
    """Evaluate an export directory or a checkpoint (see module docstring); returns the report."""
    from bnn_deploy.core.images import bicubic_upscale
    from bnn_deploy.core.metrics import protocol, sr_metrics
    from bnn_deploy.core.parity import Parity, compare
    from bnn_deploy.core.photos import lr_hr_pair
    from bnn_deploy.core.progress import bar
    from bnn_deploy.core.tiling import DEFAULT_OVERLAP, predict_image

    say = progress or (lambda _m: None)
    out = check_request(target, images_dir, out_dir, k)
    overlap_given = overlap is not None
    overlap = DEFAULT_OVERLAP if overlap is None else int(overlap)
    is_export = os.path.isdir(target)
    references: dict[str, dict] = {}  # role -> {name, predict}
    deployed: list[dict] = []
    if is_export:
        from bnn_deploy.core.exports import read_export

        exp = read_export(target)
        if not overlap_given:
            overlap = exp.tile_overlap()  # measured for this model by the export (else the default)
        check_tile_overlap(exp, overlap, explicit=overlap_given)
        scale, source = exp.scale, exp.path
        model_source = exp.manifest.source.identity()
        for role in ("binary", "float-ref"):
            ref = exp.of("pytorch", role)
            if ref:
                references[role] = {
                    "name": ref[0].name,
                    "file": ref[0].file,
                    "predict": _pytorch_predict(ref[0].file, k=ref[0].k),
                }
        deployed = _deployed(exp, memory_budget)
        notes = list(exp.notes)
    else:
        from bnn_deploy.core.manifest import SourceInfo
        from bnn_deploy.models.checkpoint import load_checkpoint

        loaded = load_checkpoint(target, k=k, trust_pickle=trust_pickle)
        scale, source = int(loaded.config["scale"]), loaded.path
        model_source = SourceInfo(path=loaded.path, sha256=loaded.sha256, arch=loaded.arch, scale=scale).identity()
        references["binary"] = {
            "name": "pytorch",
            "file": loaded.path,
            "predict": _pytorch_predict(loaded.path, model=loaded.model),
        }
        notes = []
    images = load_eval_images(images_dir, scale)
    crops_dir = out / "crops"

    names = ["bicubic"] + [r["name"] for r in references.values()] + [d["name"] for d in deployed]
    per_model: dict[str, list[dict]] = {n: [] for n in names}
    pairs: dict[str, list] = {d["name"]: [] for d in deployed}  # (image, output, its PyTorch reference's)
    crops, canvases = [], []  # written only once every image has been scored
    with bar("evaluating", total=len(images), unit="image") as shown:
        for i, (image_name, hr_full) in enumerate(images, 1):
            lr, hr = lr_hr_pair(hr_full, scale)
            say(f"[{i}/{len(images)}] {image_name} ({lr.shape[1]}x{lr.shape[0]} LR)")
            outputs = {"bicubic": bicubic_upscale(lr, scale)}
            for ref in references.values():
                outputs[ref["name"]] = ref["predict"](lr[None])[0]
            tiles = {}
            for d in deployed:
                outputs[d["name"]], tiles[d["name"]] = predict_image(
                    d["runner"].predict, d["runner"].input_shape, lr, scale, overlap
                )
            for name in names:
                row = {"image": image_name, **sr_metrics(outputs[name], hr, scale)}
                role_ref = next((d for d in deployed if d["name"] == name), None)
                if role_ref is not None:
                    ref = references.get(role_ref["role"])
                    row.update(tiles[name])
                    if ref is not None:
                        pairs[name].append((image_name, outputs[name], outputs[ref["name"]]))
                per_model[name].append(row)
            record, canvas = _crop(crops_dir, image_name, hr, outputs, references, deployed, scale)
            crops.append(record)
            canvases.append(canvas)
            shown.update()
    models = []
    for name in names:
        rows = per_model[name]
        entry = {
            "name": name,
            "images": rows,
            "mean": {m: float(np.mean([r[m] for r in rows])) for m in ("psnr", "ssim")},
        }
        d = next((d for d in deployed if d["name"] == name), None)
        if d is not None:
            got = pairs[name]
            parity = (
                compare(
                    [o for _, o, _ in got],
                    [r for _, _, r in got],
                    names=[n for n, _, _ in got],
                    reference="PyTorch on the whole image, same model",
                )
                if got
                else Parity.not_measured("the PyTorch model of this artifact was not found")
            )
            entry.update(
                {
                    "format": d["format"],
                    "role": d["role"],
                    "file": d["artifact"].file,
                    "sha256": d["artifact"].sha256,
                    "runtime": d["runner"].runtime,
                    "kernel": d["runner"].kernel,
                    "kernel_check": d["kernel_check"],
                    "tile": None
                    if d["runner"].input_shape is None
                    else {
                        "input_size": f"{d['runner'].input_shape[2]}x{d['runner'].input_shape[1]}",
                        "overlap": overlap,
                        "measured_peak_bytes": d["estimated_bytes"],
                    },
                    "parity": parity.to_json(),
                    "padded_images": [r["image"] for r in rows if r["padded"]],
                }
            )
        elif name != "bicubic":
            role = next(r for r, ref in references.items() if ref["name"] == name)
            entry.update({"format": "pytorch", "role": role, "file": references[role]["file"]})
        models.append(entry)
    report = {
        "format": EVAL_FORMAT,
        "schema_version": EVAL_SCHEMA_VERSION,
        "source": source,
        "model_source": model_source,
        "kind": "export" if is_export else "checkpoint",
        "scale": scale,
        "images": [name for name, _ in images],
        "protocol": protocol(scale),
        "memory_budget_bytes": memory_budget,
        "tile_overlap": overlap,
        "models": models,
        "crops": crops,
        "crops_dir": str(crops_dir),
        "notes": notes,
        # what `export` may remove when it replaces the artifacts these results describe
        "files_written": [os.path.relpath(c["file"], out) for c in crops],
    }
    _write_results(out, crops, canvases, report)
    report["json"] = str(out / "eval.json")
    return report


def _write_results(out: Path, crops: list[dict], canvases: list[np.ndarray], report: dict) -> None:
    """The crops, then ``eval.json`` last: a failed or interrupted evaluation leaves ``out`` as it was
    (no folder made, no previous crop replaced by half a new set)."""
    from bnn_deploy.core.images import save_image

    crops_dir = Path(report["crops_dir"])
    try:
        crops_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BnnDeployError(f"cannot create {crops_dir}: {exc.strerror or exc}; pass a writable --out") from exc
    for record, canvas in zip(crops, canvases):
        save_image(record["file"], canvas)
    write_json(out / "eval.json", report, REPORT_DIGITS)


# ---------------------------------------------------------------- pictures


def heat_map(diff: np.ndarray) -> np.ndarray:
    """``|difference|`` (HxW, in [0, 1] units) × :data:`DIFF_GAIN` through a black-red-yellow-white ramp."""
    t = np.clip(diff * DIFF_GAIN, 0.0, 1.0)
    return np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], axis=2)


def _luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma in [0, 1] of an RGB float image (clipped to [0, 1] first, as a viewer would)."""
    return np.clip(img, 0, 1) @ np.array([0.299, 0.587, 0.114])


def _window(diff: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the ``size``² window with the largest summed ``diff`` (searched on a stride of size/4)."""
    h, w = diff.shape
    size_h, size_w = min(size, h), min(size, w)
    integral = np.pad(diff, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    best, where = -1.0, (0, 0)
    step = max(1, size // 4)
    for top in list(range(0, h - size_h + 1, step)) + [h - size_h]:
        for left in list(range(0, w - size_w + 1, step)) + [w - size_w]:
            total = (
                integral[top + size_h, left + size_w]
                - integral[top, left + size_w]
                - integral[top + size_h, left]
                + integral[top, left]
            )
            if total > best:
                best, where = total, (top, left)
    return where


def _crop(crops_dir: Path, image_name: str, hr, outputs, references, deployed, scale) -> tuple[dict, np.ndarray]:
    """One side-by-side picture, HR | bicubic | float | binary | heat map, each zoomed ×:data:`ZOOM`:
    its record (``file`` is where it goes in ``crops_dir``) and the picture."""
    float_name = (references.get("float-ref") or references.get("binary") or {}).get("name")
    binary = next(
        (d["name"] for fmt in _BINARY_PREFERENCE for d in deployed if d["format"] == fmt and d["role"] == "binary"),
        None,
    )
    binary = binary or (references.get("binary") or {}).get("name") or (deployed[0]["name"] if deployed else "bicubic")
    if float_name == binary:  # a checkpoint alone: the model against HR
        float_name = None
    against = float_name or "HR"
    diff = np.abs(_luma(outputs[binary]) - _luma(outputs[float_name] if float_name else hr))
    top, left = _window(diff, CROP)
    size_h, size_w = min(CROP, hr.shape[0]), min(CROP, hr.shape[1])
    panels = [("HR", hr), ("bicubic", outputs["bicubic"])]
    if float_name:
        who = "float ref" if references.get("float-ref", {}).get("name") == float_name else "PyTorch fp32"
        panels.append((f"{who}: {float_name}", outputs[float_name]))
    panels.append((f"binary: {binary}", outputs[binary]))
    crops = [(label, np.clip(img[top : top + size_h, left : left + size_w], 0, 1)) for label, img in panels]
    crops.append(
        (
            f"|binary - {'float' if float_name else 'HR'}| x{DIFF_GAIN:g}",
            heat_map(diff[top : top + size_h, left : left + size_w]),
        )
    )
    canvas = _side_by_side(crops)
    # Keep a non-PNG source's suffix in the name, so a.png and a.jpg do not overwrite one crop.
    name = image_name if image_name.lower().endswith(".png") else f"{image_name}.png"
    path = crops_dir / name
    record = {
        "image": image_name,
        "file": str(path),
        "window_hr": [left, top, size_w, size_h],
        "panels": [label for label, _ in crops],
        "diff_gain": DIFF_GAIN,
        "diff_between": [binary, against],
    }
    return record, canvas


def _side_by_side(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Panels zoomed ×ZOOM (nearest), 4 px apart, each under a white strip with its label."""
    from PIL import Image, ImageDraw

    strip, gap = 16, 4
    tiles = [np.repeat(np.repeat(img, ZOOM, 0), ZOOM, 1) for _, img in panels]
    h = max(t.shape[0] for t in tiles)
    w = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("RGB", (w, h + strip), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (label, _), tile in zip(panels, tiles):
        canvas.paste(Image.fromarray(np.round(tile * 255).astype(np.uint8)), (x, strip))
        draw.text((x + 2, 2), label[: max(8, tile.shape[1] // 6)], fill="black")
        x += tile.shape[1] + gap
    return np.asarray(canvas, dtype=np.float32) / 255.0


# ---------------------------------------------------------------- text


def render_eval(report: dict) -> str:
    """Text table: per model the mean PSNR/SSIM (and worst parity vs PyTorch), then where crops went."""
    nw = max([len(m["name"]) for m in report["models"]] + [8]) + 1
    lines = [
        f"{report['source']}  (x{report['scale']}, {len(report['images'])} images: "
        f"{', '.join(report['images'][:4])}{' ...' if len(report['images']) > 4 else ''})",
        f"{'model':<{nw}} {'PSNR':>7} {'SSIM':>7} {'parity vs PyTorch':>18} {'tiles':>16}",
    ]
    for m in report["models"]:
        par = (m.get("parity") or {}).get("psnr_db", "")
        par_s = "n/a" if par is None else (par if isinstance(par, str) else f"{par:.1f} dB")
        tile = m.get("tile")
        tile_s = f"{tile['input_size']} o{tile['overlap']}" if tile else ""
        lines.append(f"{m['name']:<{nw}} {m['mean']['psnr']:>7.2f} {m['mean']['ssim']:>7.4f} {par_s:>18} {tile_s:>16}")
    padded = {img for m in report["models"] for img in m.get("padded_images", [])}
    if padded:
        who = [m["name"] for m in report["models"] if m.get("padded_images")]
        lines.append(
            f"note: {', '.join(sorted(padded))} smaller than the input of {', '.join(who)}: edge-padded "
            "to the tile, so outputs near that border are approximate (see parity)"
        )
    lines.append(f"protocol: {report['protocol']}")
    lines.append(f"crops (HR | bicubic | float | binary | |diff| x{DIFF_GAIN:g}) in {report['crops_dir']}")
    lines.append(f"wrote {report['json']}")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
