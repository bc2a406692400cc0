"""``bnn-deploy plan``: the tile size that gives the fastest whole frame within a memory budget.

A deployed LCE graph takes one input size, so a frame runs as overlapping tiles, and the tile size
decides most of the frame's cost: how many pixels the tiles compute beyond the frame (the overlap,
and tiles sticking out), how fast the graph runs per pixel at that shape (caches), and how much
memory one tile needs. The plan, for one output frame size and one device:

1. checks every option before any work (device, threads, the frame against the export's tiles,
   the budget against what the frame's own buffers need, the ``--export`` folder);
2. takes the tile overlap the model needs (the export's ``tile_overlap``, else measured now as the
   export does, :mod:`bnn_deploy.conversion.overlap`);
3. enumerates the candidate tiles (:mod:`bnn_deploy.planning.candidates`: each tile count's
   smallest tile, on the Pareto front of tile pixels vs work);
4. measures a few of them, each exported to a scratch folder (LCE, the export's own pipeline and
   parity gate — for an export directory, the gate it was exported with) and run in a fresh worker
   (:func:`bnn_deploy.runtimes.frames.time_frame`): the smallest first (a budget it exceeds fails
   here, seconds in), then the largest whose memory fits (from a linear fit of the peaks measured
   so far), then sizes spread between them in tile pixels, then the neighbours of the fastest —
   at most :data:`MAX_MEASURED`, plus the export's default 320x180 size for comparison;
5. on this host: frame latency and memory are **measured** (whole tiled frames, peak resident
   memory over the runtime library); on a board: tile latency is **predicted** by the latency model
   (:mod:`bnn_deploy.prediction`) and frame latency is tiles × tile, memory is **estimated** from the
   same flatbuffer on this host (LCE's default kernel + XNNPACK, as ``lce_benchmark_model`` runs);
6. chooses the fastest candidate that fits (within :data:`TIE` of the fastest, the one computing
   the fewest pixels), checks its stitched frame against PyTorch on the whole frame (≥ 50 dB), and
   with ``export`` exports that size.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.tiling import DEFAULT_OVERLAP, OVERLAP_THRESHOLD_DB
from bnn_deploy.planning.candidates import MIN_TILE, Candidate, enumerate_candidates, fixed_candidate
from bnn_deploy.runtimes.frames import frame_geometry

HOST = "host"
MAX_MEASURED = 5  # candidates measured (exported and run) besides the default size
TIE = 0.05  # frame latencies within 5 % count as equal (run-to-run spread on a shared host)
HOST_KERNEL = "indirect_bgemm+xnnpack"  # LCE's fastest host kernel with the default kernel's output
BOARD_MEMORY_KERNEL = "xnnpack"  # LCE's default bconv + XNNPACK: what lce_benchmark_model runs on a board
DEFAULT_SIZE = (320, 180)  # the export's default --input-size (width, height)
FRAME_RUNS = 1  # whole frames timed per candidate (each already runs every tile; bench --frame runs more)
BYTES_PER_PIXEL = 3 * 4  # float32 RGB


def plan(
    target: str,
    *,
    frame: tuple[int, int],
    device: str = HOST,
    memory_budget: int | None = None,
    threads: int = 1,
    export: str | None = None,
    max_measured: int = MAX_MEASURED,
    runs: int = FRAME_RUNS,
    cache: str | os.PathLike | None = None,
    progress=None,
) -> dict:
    """Plan tiles for ``frame`` (output ``(width, height)``) on ``device``; see the module docstring.

    ``target`` is a checkpoint (or bundled model name) or an export directory. ``cache``: a folder
    where candidate exports are kept and reused by later plans of the same checkpoint (default: a
    scratch folder removed at the end). Returns the report (``candidates`` rows, ``chosen``,
    ``reference``, ``comparison``, ``overlap``, ...).
    """
    from bnn_deploy.core.fileio import scratch_dir

    say = progress or (lambda _m: None)
    started = time.perf_counter()
    job = _Job.check(target, frame, device, memory_budget, threads, export, max_measured, runs)
    with scratch_dir("bnn-deploy-plan-") as scratch:
        job.scratch = scratch
        job.cache = Path(cache) if cache is not None else scratch
        job.say = say
        job.prepare()
        job.search()
        chosen = job.choose()
        report = job.report(chosen)
        if export is not None:
            report["export"] = job.export_chosen(chosen)
    report["wall_seconds"] = time.perf_counter() - started
    return report


class _Job:
    """One plan: the checked request, what was measured, and the choice."""

    def __init__(self):
        self.rows: dict[str, dict] = {}  # candidate label -> measured row
        self.artifacts: dict[str, object] = {}  # candidate label -> its LCE artifact
        self.failed: dict[str, str] = {}  # candidate label -> why its export failed
        self.notes: list[str] = []
        self.reference_frame = None

    # ------------------------------------------------------------ checks (no work)

    @classmethod
    def check(cls, target, frame, device, budget, threads, export, max_measured, runs) -> _Job:
        from bnn_deploy.core.values import check_thread_counts

        job = cls()
        job.device = str(device)
        job.board = None
        if job.device != HOST:
            from bnn_deploy.prediction.boards import BOARDS

            if job.device not in BOARDS:
                raise BnnDeployError(
                    f"unknown --device {job.device!r}; choose host (measured here) or a board the latency "
                    f"model knows ({', '.join(BOARDS)}: predicted)"
                )
            job.board = BOARDS[job.device]
        cores = (os.cpu_count() or 1) if job.board is None else job.board.cores
        job.threads = check_thread_counts([threads], cores, "this machine" if job.board is None else job.device)[0]
        if max_measured < 1 or runs < 1:
            raise BnnDeployError("measure at least one candidate and one frame each")
        job.max_measured, job.runs, job.budget = int(max_measured), int(runs), budget
        job._read_target(target)
        job.geometry = frame_geometry(frame, job.scale)
        job._check_frame_and_budget()
        job.export_dir = None
        if export is not None:
            from bnn_deploy.conversion.export_folder import check_out

            if job.source_path is None:
                raise BnnDeployError(
                    f"--export needs the model's checkpoint, and {target}'s source was not found; plan the checkpoint"
                )
            check_out(Path(export), [job.source_path])
            job.export_dir = Path(export)
        return job

    def _read_target(self, target: str) -> None:
        """The model (checkpoint, or an export and its source when found), its scale and known overlap."""
        self.exp, self.source_path, self.overlap_info, self.overlap_from = None, None, None, None
        self.min_parity_db = None  # the export's default gate for a checkpoint
        if os.path.isdir(target):
            from bnn_deploy.core.exports import read_export

            self.exp = read_export(target)
            self.scale = self.exp.scale
            self.min_parity_db = self.exp.manifest.min_parity_db  # new sizes pass the export's own gate
            refs = self.exp.of("pytorch")
            self.source_path = refs[0].file if refs else None
            self.model_name = Path(self.exp.manifest.source.path).stem
            if self.exp.manifest.tile_overlap is not None:
                self.overlap_info, self.overlap_from = self.exp.manifest.tile_overlap, "the export's manifest"
            if not self.exp.of("lce") and self.source_path is None:
                raise BnnDeployError(
                    f"{target} has no LCE artifact and its checkpoint was not found; export with --format lce"
                )
            if self.source_path is None:
                self.notes.append(
                    "the export's checkpoint was not found: only its exported sizes are candidates, and "
                    "parity against PyTorch is not measured"
                )
            return
        from bnn_deploy.conversion.sources import is_onnx_path
        from bnn_deploy.models.checkpoint import load_checkpoint

        if is_onnx_path(target):
            raise BnnDeployError(
                f"{target} is ONNX: export it first (bnn-deploy export {target} --format lce --input-size WxH) "
                "and plan that export directory"
            )
        loaded = load_checkpoint(target)
        self.source_path, self.scale, self.model_name = loaded.path, int(loaded.config["scale"]), loaded.name

    def _check_frame_and_budget(self) -> None:
        lr_h, lr_w = self.geometry.lr_hw
        if self.exp is not None and self.source_path is None:
            from bnn_deploy.runtimes.frames import check_frame

            sizes = [a.input_hw for a in self.exp.of("lce")]
            fitting = [hw for hw in sizes if hw[0] <= lr_h and hw[1] <= lr_w]
            if not fitting:
                check_frame(self.geometry, min(sizes, key=lambda hw: hw[0] * hw[1]), "the smallest exported graph")
        if self.budget is None:
            return
        tile = min(MIN_TILE, lr_h) * min(MIN_TILE, lr_w)
        floor = (lr_h * lr_w + self.geometry.pixels + tile * (1 + self.scale**2)) * BYTES_PER_PIXEL
        if self.budget < floor:
            raise BnnDeployError(
                f"--memory-budget {_mb(self.budget)} is below what any plan for {self.geometry.label} frames needs: "
                f"the LR and output frames and one {min(MIN_TILE, lr_w)}x{min(MIN_TILE, lr_h)} tile's input and "
                f"output alone take {_mb(floor)} (float32), before the model's own memory; give a larger budget "
                "(a 320x180 tile of the bundled model peaks at ~260 MB on this host)"
            )

    # ------------------------------------------------------------ work

    def prepare(self) -> None:
        """The overlap (known or measured), the candidates, and the default size for comparison."""
        say = self.say
        say(f"planning {self.geometry.describe()} on {self.device}")
        if self.overlap_info is None and self.source_path is not None:
            from bnn_deploy.conversion.overlap import measure_tile_overlap
            from bnn_deploy.conversion.sources import load_source

            source = load_source(self.source_path, str(self.scratch))
            self.overlap_info, self.overlap_from = measure_tile_overlap(source, say), "measured by this plan"
        if self.overlap_info is not None:
            self.overlap = int(self.overlap_info.pixels)
        else:
            self.overlap, self.overlap_from = DEFAULT_OVERLAP, "the default (nothing measured)"
        lr_hw = self.geometry.lr_hw
        self.front = enumerate_candidates(lr_hw, self.overlap) if self.source_path is not None else []
        self.fixed: list[Candidate] = []
        if self.exp is not None:
            self.fixed += [fixed_candidate(a.input_hw, lr_hw, self.overlap, "exported") for a in self.exp.of("lce")]
        default_hw = (DEFAULT_SIZE[1], DEFAULT_SIZE[0])
        if self.source_path is not None and all(c.tile_hw != default_hw for c in self.fixed):
            if default_hw[0] <= lr_hw[0] and default_hw[1] <= lr_hw[1]:
                self.fixed.append(fixed_candidate(default_hw, lr_hw, self.overlap, "default export"))
            else:
                self.notes.append(
                    f"the default {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]} export is larger than the "
                    f"{self.geometry.lr_label} LR frame: not compared"
                )
        self.fixed = [c for c in self.fixed if not c.work.padded] or self.fixed
        say(
            f"tile overlap {self.overlap} LR px ({self.overlap_from}); {len(self.front)} candidate tile sizes "
            f"on the front of tile pixels vs work; measuring up to {self.max_measured}"
            + (f" and {len(self.fixed)} given size(s)" if self.fixed else "")
        )

    def search(self) -> None:
        """Measure candidates in the order of the module docstring (step 4)."""
        front = self.front
        pool = front + [c for c in self.fixed if c.label not in {f.label for f in front}]
        for cand in sorted(self.fixed, key=lambda c: c.pixels):
            self._measure(cand)
        if not front:
            return
        budget_left = self.max_measured
        probe = self._measure(front[0])
        budget_left -= 1
        if probe is not None and self.budget is not None and probe["memory_mb"] * 2**20 > self.budget:
            self._refuse_budget(front[0])
        # The largest that fits: re-estimated after each measurement (a wrong guess is measured, then refit).
        while budget_left > 0:
            fits = [c for c in front if self._fits_estimate(c)]
            largest = fits[-1] if fits else front[0]
            if self._tried(largest):
                break
            self._measure(largest)
            budget_left -= 1
        fits = [c for c in front if self._fits_estimate(c)]
        # Spread between the ends in tile pixels, then the fastest's neighbours.
        if budget_left > 0 and len(fits) > 2:
            lo, hi = math.log(fits[0].pixels), math.log(fits[-1].pixels)
            spread = max(1, budget_left - 1)
            for i in range(1, spread + 1):
                goal = lo + (hi - lo) * i / (spread + 1)
                cand = min(fits, key=lambda c, g=goal: abs(math.log(c.pixels) - g))
                if not self._tried(cand) and budget_left > 0:
                    self._measure(cand)
                    budget_left -= 1
        while budget_left > 0:
            best = self._fastest()
            if best is None:
                break
            i = next((i for i, c in enumerate(front) if c.label == best["tile"]), None)
            near = [front[j] for j in (i - 1, i + 1) if i is not None and 0 <= j < len(front)]
            near = [c for c in near if not self._tried(c) and self._fits_estimate(c)]
            if not near:
                break
            self._measure(min(near, key=self._estimate_ms))
            budget_left -= 1
        self.pool = pool

    def _tried(self, cand: Candidate) -> bool:
        return cand.label in self.rows or cand.label in self.failed

    def _measure(self, cand: Candidate) -> dict | None:
        """Export (unless exported already) and run one candidate; its row (None: its export failed)."""
        if self._tried(cand):
            return self.rows.get(cand.label)
        n = len(self.rows) + len(self.failed) + 1
        tag = f"[{n}] {cand.label} ({cand.work.tiles} tiles, {cand.work.overhead:.3f}× the frame's pixels)"
        try:
            art = self.artifacts[cand.label] = self._artifact(cand, tag)
        except BnnDeployError as exc:  # e.g. this size's graph fails the parity gate: try the others
            if cand.origin != "planned":
                raise
            from bnn_deploy.core.errors import first_line

            self.failed[cand.label] = first_line(exc)
            self.say(f"{tag}: not exported ({self.failed[cand.label]})")
            return None
        if self.board is None:
            row = self._measure_host(cand, art, tag)
        else:
            row = self._measure_board(cand, art, tag)
        self.rows[cand.label] = row
        return row

    def _artifact(self, cand: Candidate, tag: str):
        if cand.origin == "exported":
            return next(a for a in self.exp.of("lce") if tuple(a.input_hw) == cand.tile_hw)
        from bnn_deploy.conversion.export import export_model
        from bnn_deploy.core.exports import read_export
        from bnn_deploy.core.fileio import sha256_file

        out = self.cache / f"{Path(self.source_path).stem}-{sha256_file(self.source_path)[:12]}" / cand.label
        if (out / "manifest.json").is_file():
            exp = read_export(out)
            if exp.tile_overlap() == self.overlap:
                self.say(f"{tag}: reusing the export in {out}")
                return exp.of("lce")[0]
        self.say(f"{tag}: exporting")
        export_model(
            self.source_path,
            formats=("lce",),
            input_sizes=[cand.size_wh],
            out_dir=out,
            parity_photos=1,
            tile_overlap=self.overlap_info,
            **({} if self.min_parity_db is None else {"min_parity_db": self.min_parity_db}),
        )
        return read_export(out).of("lce")[0]

    def _base_row(self, cand: Candidate) -> dict:
        return {
            "tile": cand.label,
            "origin": cand.origin,
            "tiles": cand.work.tiles,
            "grid": list(cand.work.grid),
            "tile_pixels": cand.pixels,
            "work_overhead": cand.work.overhead,
            "least_work_overhead": cand.work.least_overhead,
            "status": "measured",
        }

    def _frames(self, art, what: str, *, kernel: str, runs: int, threads: int) -> dict:
        """Whole frames of ``art`` in a fresh worker (:func:`bnn_deploy.runtimes.frames.time_frame`)."""
        from bnn_deploy.runtimes.frames import time_frame

        frame = time_frame(
            art,
            self.geometry,
            overlap=self.overlap,
            threads=threads,
            kernel=kernel,
            runs=runs,
            keep_output=runs > 0,
            workdir=self.scratch,
        )
        if "error" in frame:
            raise BnnDeployError(f"{what} failed: {frame['error']}")
        return frame

    def _measure_host(self, cand: Candidate, art, tag: str) -> dict:
        self.say(f"{tag}: running whole frames in a fresh process")
        frame = self._frames(
            art, f"measuring {cand.label} tiles", kernel=HOST_KERNEL, runs=self.runs, threads=self.threads
        )
        memory = frame["memory"]["frame_peak_over_import_mb"]
        row = {
            **self._base_row(cand),
            "latency_label": "measured",
            "tile_ms": frame["tile_ms"]["median"],
            "frame_ms": frame["frame_ms"]["median"],
            "frame_ms_min": frame["frame_ms"]["min"],
            "frames_timed": frame["frame_ms"]["runs"],
            "tiles_sum_ms": frame["tiles_sum_ms"]["median"],
            "stitching_ms": frame["stitching_ms"],
            "fps": frame["fps"],
            "us_per_computed_pixel": 1e3 * frame["tile_ms"]["median"] / cand.pixels,
            "memory_label": "measured",
            "memory_mb": memory,
            "tile_memory_mb": frame["memory"]["tile_peak_over_import_mb"],
            "memory_what": "peak resident memory over the runtime library while running whole frames (this host)",
            "kernel": frame["kernel"],
            "parity": self._parity(frame.get("output")),
        }
        self._say_row(tag, row)
        return row

    def _measure_board(self, cand: Candidate, art, tag: str) -> dict:
        from bnn_deploy.core.flatbuffer import read_graph
        from bnn_deploy.prediction.boards import DEFAULT_KERNEL
        from bnn_deploy.prediction.predict import predict_graph

        pred = predict_graph(read_graph(art.file), self.board, self.threads, DEFAULT_KERNEL)
        self.say(f"{tag}: estimating its memory on this host (LCE default kernel + XNNPACK)")
        mem = self._frames(
            art, f"measuring the memory of {cand.label} tiles", kernel=BOARD_MEMORY_KERNEL, runs=0, threads=1
        )
        tile_mb = mem["memory"]["tile_peak_over_import_mb"]
        buffers_mb = (self.geometry.lr_hw[0] * self.geometry.lr_hw[1] + self.geometry.pixels) * BYTES_PER_PIXEL / 2**20
        row = {
            **self._base_row(cand),
            "latency_label": "predicted",
            "tile_ms": pred["predicted_ms"],
            "tile_ms_range": [pred["low_ms"], pred["high_ms"]],
            "frame_ms": pred["predicted_ms"] * cand.work.tiles,
            "frame_ms_range": [pred["low_ms"] * cand.work.tiles, pred["high_ms"] * cand.work.tiles],
            "fps": 1e3 / (pred["predicted_ms"] * cand.work.tiles),
            "us_per_computed_pixel": 1e3 * pred["predicted_ms"] / cand.pixels,
            "calibrated": pred["calibrated"],
            "uncalibrated": pred["uncalibrated"],
            "memory_label": "estimated",
            "memory_mb": tile_mb + buffers_mb,
            "tile_memory_mb": tile_mb,
            "memory_what": (
                f"ESTIMATED for {self.device}: this host's peak resident memory over the runtime library running "
                "one tile of the same flatbuffer with LCE's default bconv kernel + XNNPACK (as lce_benchmark_model "
                "runs), plus the LR and output frames (float32)"
            ),
            "kernel": DEFAULT_KERNEL,  # as the latency model names it: LCE's default bconv kernel + XNNPACK
            "parity": None,
        }
        self._say_row(tag, row)
        return row

    def _say_row(self, tag: str, row: dict) -> None:
        what = "PREDICTED" if row["latency_label"] == "predicted" else "measured"
        self.say(
            f"{tag}: {what} {row['frame_ms']:.0f} ms per frame ({row['tile_ms']:.1f} ms per tile), "
            f"{row['memory_label']} {row['memory_mb']:.0f} MB"
        )

    # ------------------------------------------------------------ estimates for what is not measured

    def _memory_fit(self) -> tuple[float, float]:
        """``(a, b)``: MB = a + b · tile pixels, fitted to the measured peaks (through the origin with one)."""
        points = [(r["tile_pixels"], r["memory_mb"]) for r in self.rows.values()]
        if not points:
            return 0.0, 0.0
        if len(points) == 1:
            return 0.0, points[0][1] / points[0][0]
        x, y = np.array([p for p, _ in points], float), np.array([m for _, m in points], float)
        b, a = np.polyfit(x, y, 1)
        return max(0.0, float(a)), float(b)

    def _memory_estimate(self, cand: Candidate) -> float:
        if cand.label in self.rows:
            return self.rows[cand.label]["memory_mb"]
        a, b = self._memory_fit()
        return a + b * cand.pixels

    def _fits_estimate(self, cand: Candidate) -> bool:
        return self.budget is None or self._memory_estimate(cand) * 2**20 <= self.budget

    def _estimate_ms(self, cand: Candidate) -> float:
        """Frame ms from the measured per-pixel speed, interpolated in log tile pixels."""
        if cand.label in self.rows:
            return self.rows[cand.label]["frame_ms"]
        pts = sorted((math.log(r["tile_pixels"]), r["us_per_computed_pixel"]) for r in self.rows.values())
        if not pts:
            return math.inf
        rate = float(np.interp(math.log(cand.pixels), [p for p, _ in pts], [u for _, u in pts]))
        return rate * cand.pixels * cand.work.tiles / 1e3

    def _fastest(self) -> dict | None:
        fits = [r for r in self.rows.values() if self.budget is None or r["memory_mb"] * 2**20 <= self.budget]
        return min(fits, key=lambda r: r["frame_ms"]) if fits else None

    def _refuse_budget(self, smallest: Candidate) -> None:
        row = self.rows[smallest.label]
        a, b = self._memory_fit()
        default_mb = a + b * DEFAULT_SIZE[0] * DEFAULT_SIZE[1]
        where = "on this host" if self.board is None else f"(estimated for {self.device})"
        raise BnnDeployError(
            f"--memory-budget {_mb(self.budget)} is below the smallest candidate's peak: {smallest.label} LR tiles "
            f"need {row['memory_mb']:.0f} MB {where} for {self.geometry.label} frames; give at least "
            f"{math.ceil(row['memory_mb'] * 1.05)}MB (a {DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]} tile would need "
            f"~{default_mb:.0f} MB)"
        )

    # ------------------------------------------------------------ choice and report

    def choose(self) -> dict:
        fits = [r for r in self.rows.values() if self.budget is None or r["memory_mb"] * 2**20 <= self.budget]
        if not self.rows:
            raise BnnDeployError(
                "no candidate tile size could be exported: " + "; ".join(f"{k}: {v}" for k, v in self.failed.items())
            )
        if not fits:
            smallest = min(self.rows.values(), key=lambda r: r["memory_mb"])
            raise BnnDeployError(
                f"--memory-budget {_mb(self.budget)}: no measured tile size fits; the smallest peak is "
                f"{smallest['tile']} at {smallest['memory_mb']:.0f} MB; give at least "
                f"{math.ceil(smallest['memory_mb'] * 1.05)}MB"
            )
        best = min(r["frame_ms"] for r in fits)
        tied = [r for r in fits if r["frame_ms"] <= best * (1 + TIE)]
        chosen = min(tied, key=lambda r: (r["work_overhead"], r["frame_ms"]))
        if chosen["parity"] is None:
            chosen["parity"] = self._board_parity(chosen)
        psnr = (chosen["parity"] or {}).get("psnr_db")
        if isinstance(psnr, (int, float)) and psnr < OVERLAP_THRESHOLD_DB:
            self.notes.append(
                f"the chosen plan's stitched frame is {psnr:.1f} dB from PyTorch on the whole frame, below "
                f"{OVERLAP_THRESHOLD_DB:g} dB: the model's tile overlap ({self.overlap} px) is too small for it"
            )
        return chosen

    def _board_parity(self, row: dict) -> dict | None:
        """The chosen board plan's stitched frame on this host (same flatbuffer) vs PyTorch on the whole frame."""
        self.say(f"checking the chosen {row['tile']} plan's stitched frame on this host against PyTorch")
        frame = self._frames(
            self.artifacts[row["tile"]], "running the chosen plan", kernel=HOST_KERNEL, runs=1, threads=1
        )
        return self._parity(frame.get("output"), where="on this host (the same flatbuffer)")

    def _parity(self, output, where: str = "on this host") -> dict | None:
        """The stitched frame vs PyTorch running the model on the whole LR frame."""
        from bnn_deploy.core.parity import compare

        if output is None or self.source_path is None:
            return None
        if self.reference_frame is None:
            from bnn_deploy.core.photos import bench_input
            from bnn_deploy.runtimes.torch_eager import open_torch

            self.say("running PyTorch on the whole frame (the parity reference)")
            lr = bench_input(self.geometry.lr_hw, self.scale)
            whole = open_torch(self.source_path, threads=os.cpu_count() or 1).predict(lr)[0]
            self.reference_frame = whole[: self.geometry.height, : self.geometry.width]
        par = compare(
            [output],
            [self.reference_frame],
            names=[f"{self.geometry.label} frame"],
            reference=f"PyTorch on the whole frame, same model ({where})",
            threshold_db=OVERLAP_THRESHOLD_DB,
        )
        return par.to_json()

    def report(self, chosen: dict) -> dict:
        default_hw = (DEFAULT_SIZE[1], DEFAULT_SIZE[0])
        reference = next((self.rows[c.label] for c in self.fixed if c.tile_hw == default_hw), None)
        rows = sorted(self.rows.values(), key=lambda r: r["tile_pixels"])
        for row in rows:
            row["chosen"] = row is chosen
            row["fits_budget"] = None if self.budget is None else row["memory_mb"] * 2**20 <= self.budget
        measured = {r["tile"] for r in rows}
        skipped = [
            {
                **self._base_row(c),
                "status": f"export failed: {self.failed[c.label]}" if c.label in self.failed else "not measured",
                "memory_mb_estimate": self._memory_estimate(c),
                "frame_ms_estimate": self._estimate_ms(c),
            }
            for c in getattr(self, "pool", self.front)
            if c.label not in measured
        ]
        board = self.board is not None
        report = {
            "target": self.exp.path if self.exp is not None else self.source_path,
            "model": self.model_name,
            "scale": self.scale,
            "device": self.device,
            "threads": self.threads,
            "label": "predicted latency, estimated memory" if board else "measured",
            "frame": self.geometry.label,
            "lr_frame": self.geometry.lr_label,
            "frame_note": self.geometry.describe(),
            "memory_budget_bytes": self.budget,
            "overlap": {
                "pixels": self.overlap,
                "from": self.overlap_from,
                "measured": None if self.overlap_info is None else _overlap_json(self.overlap_info),
            },
            "enumerated": len(self.front),
            "candidates": rows,
            "not_measured": skipped,
            "chosen": chosen["tile"],
            "reference": reference["tile"] if reference else None,
            "comparison": _comparison(chosen, reference),
            "how": {
                "latency": (
                    f"PREDICTED for {self.device} by the latency model (docs/predict.md), LCE default kernel, "
                    f"{self.threads} thread(s): frame = tiles × tile; stitching on the board is not included"
                    if board
                    else f"measured on this host: whole tiled frames ({self.runs} per candidate after a warm-up "
                    f"tile) in a fresh process, LCE kernel {HOST_KERNEL}, {self.threads} thread(s)"
                ),
                "memory": rows[0]["memory_what"] if rows else "",
                "choice": f"the fastest that fits the budget; within {TIE:.0%} of it, the one computing the "
                "fewest pixels",
                "candidates": "each tile count's smallest tile, on the Pareto front of tile pixels vs work "
                "(bnn_deploy/planning/candidates.py); tiles of two sizes could only save the rounding between "
                "work_overhead and least_work_overhead",
            },
            "notes": self.notes,
        }
        return report

    def export_chosen(self, chosen: dict) -> dict:
        from bnn_deploy.conversion.export import export_model

        w, h = (int(v) for v in chosen["tile"].split("x"))
        self.say(f"exporting the chosen {chosen['tile']} graph to {self.export_dir}")
        result = export_model(
            self.source_path,
            formats=("lce",),
            input_sizes=[(w, h)],
            out_dir=self.export_dir,
            tile_overlap=self.overlap_info,
            **({} if self.min_parity_db is None else {"min_parity_db": self.min_parity_db}),
        )
        return {"out_dir": result.out_dir, "files": [a.file for a in result.manifest.artifacts]}


def _comparison(chosen: dict, reference: dict | None) -> dict | None:
    if reference is None:
        return None
    return {
        "reference": reference["tile"],
        "work_overhead": [chosen["work_overhead"], reference["work_overhead"]],
        "frame_ms": [chosen["frame_ms"], reference["frame_ms"]],
        "latency_ratio": chosen["frame_ms"] / reference["frame_ms"],
        "label": chosen["latency_label"],
    }


def _overlap_json(info) -> dict:
    import dataclasses

    return dataclasses.asdict(info)


def _mb(value: int | None) -> str:
    return "none" if value is None else f"{value / 2**20:.0f} MB"
