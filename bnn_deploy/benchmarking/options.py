"""Everything ``bnn-deploy bench`` is asked to do, in one object, checked once before any work.

The CLI builds a :class:`BenchOptions` (``bench`` and ``profile`` alike); :meth:`BenchOptions.check`
validates every value (and refuses board options for the host and host options for a board) before
anything loads; the host bench reads it, and the board bench hands the devices layer its two parts,
:class:`~bnn_deploy.devices.remote_bench.BoardRun` (how each artifact runs) and
:class:`~bnn_deploy.devices.remote_bench.BoardAccess` (how the board is reached).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import check_output_path
from bnn_deploy.core.values import check_thread_counts
from bnn_deploy.devices.lce_benchmark import check_runtime_args
from bnn_deploy.devices.remote_bench import DEFAULT_TIMEOUT_S, BoardAccess, BoardRun
from bnn_deploy.runtimes.lce import check_kernel

HOST = "host"
_BOARD_FLAGS = {
    "host": "--host",
    "key": "--key",
    "serial": "--serial",
    "runtime_bin": "--runtime-bin",
    "cooldown": "--cooldown",
    "accept_new_host_key": "--accept-new-host-key",
    "inventory": "--inventory",
    "timeout": "--timeout",
    "runtime_args": "--runtime-arg",
    "print_commands": "--print-commands",
}


@dataclass
class BenchOptions:
    """``bnn-deploy bench``'s options (``bnn-deploy bench --help``; ``--json``/``--json-out`` are the CLI's)."""

    device: str = HOST
    threads: list[int] = field(default_factory=lambda: [1])
    warmup: int = 2
    runs: int = 20
    max_secs: float = 20.0
    kernel: str = "auto"
    overlap: int | None = None
    frame: tuple[int, int] | None = None  # (width, height) of output frames to time whole, tiled (host only)
    plot: str | None = None
    profile: bool = False  # add the per-op profile (bench --profile; always for bnn-deploy profile)
    trace: str | None = None  # Chrome trace-event JSON of the profile
    predict: tuple[str, ...] = ()  # boards to add PREDICTED rows for (bnn_deploy.prediction), host bench only
    predict_threads: tuple[int, ...] = (1,)
    # a board's
    host: str | None = None
    key: str | None = None
    serial: str | None = None
    runtime_bin: str | None = None
    cooldown: float | None = None
    accept_new_host_key: bool = False
    inventory: str | None = None
    timeout: float | None = None
    runtime_args: tuple[str, ...] = ()  # extra lce_benchmark_model flags, passed to every run
    print_commands: bool = False  # print the board's commands, run nothing

    @property
    def on_host(self) -> bool:
        return self.device == HOST

    def check(self) -> BenchOptions:
        """Validate every option (one-line errors) before any work; returns ``self``."""
        if self.warmup < 0 or self.runs < 1:
            raise BnnDeployError(f"--warmup {self.warmup} / --runs {self.runs}: give warmup >= 0 and runs >= 1")
        if not (isinstance(self.max_secs, (int, float)) and math.isfinite(self.max_secs) and self.max_secs > 0):
            raise BnnDeployError(f"--max-secs {self.max_secs} must be a positive number of seconds; give e.g. 20")
        if self.overlap is not None and self.overlap < 0:
            raise BnnDeployError(f"--overlap {self.overlap} must be 0 or more LR pixels")
        for name in ("cooldown", "timeout"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= (0 if name == "cooldown" else 1)):
                raise BnnDeployError(f"{_BOARD_FLAGS[name]} {value} is not a valid number of seconds")
        check_kernel(self.kernel)
        check_output_path(self.plot, "--plot", suffixes=(".png",))
        check_output_path(self.trace, "--trace", suffixes=(".json",))
        if self.trace is not None and not self.profile:
            raise BnnDeployError("--trace writes the per-op profile; add --profile")
        if self.on_host:
            self._check_host()
        else:
            self._check_board()
        return self

    def _check_predict(self) -> None:
        from bnn_deploy.prediction.boards import get_board

        for board in self.predict:
            get_board(board)  # unknown boards: one line listing the known ones
        check_thread_counts(list(self.predict_threads), None, "a board")

    def _check_host(self) -> None:
        given = [flag for name, flag in _BOARD_FLAGS.items() if getattr(self, name) not in (None, False, ())]
        if given:
            raise BnnDeployError(
                f"{', '.join(given)} apply to a board, not to --device host; name the board "
                "with --device (bnn-deploy devices lists them)"
            )
        check_thread_counts(self.threads, os.cpu_count() or 1, "this machine")
        self._check_predict()

    def _check_board(self) -> None:
        if self.frame is not None:
            raise BnnDeployError(
                "--frame times whole tiled frames on this machine only: a board's runners (lce_benchmark_model, "
                "the Python board runner) run one fixed-size input per call and cannot stream a frame's tiles "
                "yet; run bench --device host --frame, or bnn-deploy plan --device BOARD for a PREDICTED frame latency"
            )
        if self.predict:
            raise BnnDeployError(
                "--predict adds predicted boards next to this machine's measurements; run it with --device host "
                f"(or `bnn-deploy predict EXPORT --device {self.predict[0]}`)"
            )
        self.runtime_args = check_runtime_args(self.runtime_args)
        if len(self.threads) != 1:
            raise BnnDeployError(
                f"--threads {','.join(map(str, self.threads)) or '(none)'}: a board run measures "
                "one thread count; give one, e.g. --threads 4, and run bench once per count"
            )
        check_thread_counts(self.threads, None, self.device)  # the board's cores are checked in preflight

    def board_run(
        self, formats: list[str] | None = None, *, measure: bool = True, profile: bool | None = None
    ) -> BoardRun:
        """How each artifact runs on the board (``measure=False``: only the op-profiling runs)."""
        return BoardRun(
            threads=self.threads[0],
            warmup=self.warmup,
            runs=self.runs,
            cooldown=self.cooldown or 0.0,
            timeout=DEFAULT_TIMEOUT_S if self.timeout is None else self.timeout,
            formats=formats,
            kernel=self.kernel,
            runtime_args=tuple(self.runtime_args),
            measure=measure,
            profile=self.profile if profile is None else profile,
        )

    def board_access(self) -> BoardAccess:
        """How the board is reached."""
        return BoardAccess(
            host=self.host,
            key=self.key,
            serial=self.serial,
            inventory=self.inventory,
            runtime_bin=self.runtime_bin,
            accept_new_host_key=self.accept_new_host_key,
        )

    def settings(self) -> dict:
        """The report's ``settings`` entry: what shaped the figures (not where files go or how a board is reached)."""
        settings = {
            "threads": list(self.threads),
            "warmup": self.warmup,
            "runs": self.runs,
            "max_secs": self.max_secs,
            "kernel": self.kernel,
        }
        if self.frame is not None:
            settings["frame"] = f"{self.frame[0]}x{self.frame[1]}"
        return settings
