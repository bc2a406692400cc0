"""Per-board constants of the latency model, each with where it comes from.

Every number here is one of:

* a **fact** from a datasheet, vendor page or LCE's/XNNPACK's source (clock, cores, caches, NEON
  issue width, the instruction count of LCE's kernel loop);
* a **published measurement** (STREAM bandwidth of a Pi 4, XNNPACK's MobileNet timings, LCE's
  QuickNet timings);
* **fitted**: solved by ``benchmarks/calibrate_predict.py`` so that the model reproduces published
  timings of *other* graphs (MobileNet v1 for float/int8 convs; QuickNetSmall and QuickNetLarge for
  binary convs). ``tests/prediction/test_calibration.py`` re-runs the fit and fails if a fitted
  number below no longer matches it. QuickNet itself is never fitted: it is the check;
* **derived**: a board without published LCE figures (pi5, pi3-64, android-arm64) takes a calibrated
  board's constants times documented ratios, with a wider uncertainty;
* **assumed**: an engineering guess with a wide uncertainty, labelled so.

``docs/predict.md`` names the source of every constant. ``uncertainty`` is the relative error
assumed for each group of constants; predicted ranges are built from it, so constants that are not
calibrated widen the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bnn_deploy.core.errors import BnnDeployError

# Kernels have the names they have everywhere in bnn-deploy (bnn_deploy.runtimes.lce.KERNELS: the
# bconv kernel, "+xnnpack" when TFLite's XNNPACK delegate runs the float ops). The model prices float
# ops as XNNPACK runs them, so it predicts the XNNPACK configurations; "xnnpack" (LCE's default bconv
# kernel + XNNPACK, what lce_benchmark_model runs without flags) is what LCE's published numbers were
# measured with: the calibrated one. The reference kernel is dominated by its bconv loops.
DEFAULT_KERNEL = "xnnpack"
KERNELS = {
    "xnnpack": "LCE's default bconv kernel (im2col + ruy BGEMM, 8x4 NEON kernel, multi-threaded) with "
    "XNNPACK for float ops (calibrated)",
    "indirect_bgemm+xnnpack": "--use_indirect_bgemm=true: XNNPACK-style indirect BGEMM, single-threaded in "
    "v0.16.0; XNNPACK for float ops (uncalibrated)",
    "reference": "--use_reference_bconv=true: portable C++ loops, single-threaded (uncalibrated)",
}
# Host kernels that run float ops without XNNPACK: not predicted (the float-op constants are XNNPACK's).
NOT_PREDICTED = {"default": "xnnpack", "indirect_bgemm": "indirect_bgemm+xnnpack"}

# Groups of constants; each op time is a sum of terms tagged with one group (model.py).
GROUPS = (
    "binary",
    "binary_indirect",
    "binary_reference",
    "bitpack",
    "float",
    "int8",
    "memory",
    "memory_mt",
    "overhead",
)
# Groups no published figure calibrates on any board: the same wide uncertainty everywhere.
UNCALIBRATED_KERNEL_UNCERTAINTY = {"binary_indirect": 0.75, "binary_reference": 1.5}


@dataclass(frozen=True)
class Board:
    """What the model needs to know about one board; see the module docstring for the kinds of source."""

    name: str
    description: str
    core: str
    clock_ghz: float  # big-core clock
    core_capacity: tuple[float, ...]  # per core, relative NEON throughput vs core 0 (threads fill in order)
    neon_q_per_cycle: float  # 128-bit ASIMD instructions issued per cycle (integer/logic)
    l1d_kb: int
    l2_kb: int  # the L2 (or L2+L3) the big cores share
    dram_gbps: float  # one core streaming (STREAM "Add"-like: 2 reads + 1 write)
    dram_gbps_all: float  # all cores streaming
    cache_gbps: float  # one core, data resident in L2
    f32_gmacs: float  # XNNPACK float GEMM/IGEMM MACs per second per big core (1e9)
    f32_par_eff: float  # extra throughput per additional core, float ops (fraction)
    i8_gmacs: float  # XNNPACK int8 GEMM MACs per second per big core (1e9)
    bgemm_eff: float  # fraction of NEON issue rate LCE's 8x4 BGEMM kernel achieves
    bin_par_eff: float  # extra throughput per additional core, ruy-threaded BGEMM
    op_overhead_us: float  # interpreter dispatch per op
    sync_overhead_us: float  # thread-pool wake-up per parallel op when threads > 1
    neon_bits: int = 128  # all these cores have 128-bit NEON (AdvSIMD)
    uncertainty: dict = field(default_factory=dict)  # group -> relative error (0.1 = ±10 %)
    calibrated: dict = field(default_factory=dict)  # group -> thread counts published on this board
    derived_from: str | None = None
    notes: str = ""

    def relative_error(self, group: str) -> float:
        """The relative uncertainty of a constant group on this board (1.0 = a factor of 2 if unknown)."""
        if group in UNCALIBRATED_KERNEL_UNCERTAINTY:
            return UNCALIBRATED_KERNEL_UNCERTAINTY[group]
        return self.uncertainty.get(group, 1.0)

    @property
    def cores(self) -> int:
        """Number of cores the model may put threads on."""
        return len(self.core_capacity)


# --- first-principles facts shared by all boards (LCE v0.16.0 source, see docs/predict.md) -------

# larq_compute_engine/core/bgemm/kernels_aarch64.h, BinaryKernelNeon8x4: per 4-word (128-bit) depth
# step of an 8x4 block, four LCE_CNT_ACCUM_*_XOR macros of 8 EOR + 8 CNT + 7 ADDP + 1 UADALP = 96
# NEON arithmetic instructions for 8*4*4 = 128 word-ops (one word-op = 32 binary MACs).
BGEMM_NEON_PER_WORD_OP = 96 / 128
# The same kernel's epilogue per 8x4 block: about 56 NEON instructions for float output (USHLL,
# SMAX, SMIN, SCVTF, FMUL/FADD, stores), 40 for bitpacked output, 64 for int8.
BGEMM_EPILOGUE = {"float": 56, "bitpacked": 40, "int8": 64}
BGEMM_BLOCK = (8, 4, 4)  # output channels x pixels x depth words (LhsLayout 4x8, RhsLayout 4x4)
BITPACK_WORD = 32  # TBitpacked is int32: channels are padded to multiples of 32

# Assumed (uncalibrated) costs of kernels no published figure pins down.
REFERENCE_CYCLES_PER_WORD_OP = 2.0  # portable C++ loop: load, EOR, popcount, add per 32-bit word
BITPACK_NEON_PER_ELEMENT = 0.5  # LceQuantize's NEON bitpacking (compare + shift-combine)
DEPTHWISE_GEMM_RATIO = 0.5  # XNNPACK depthwise MAC rate vs its GEMM rate (load-bound)
CACHE_USABLE = 0.75  # share of the L2 an op's working set can count on


def _pi4() -> Board:
    """Raspberry Pi 4B (BCM2711, 4x Cortex-A72 1.5 GHz, 64-bit OS): the calibrated Pi."""
    return Board(
        name="pi4",
        description="Raspberry Pi 4 Model B (BCM2711), 64-bit OS, 1.5 GHz",
        core="Cortex-A72",
        clock_ghz=1.5,
        core_capacity=(1.0, 1.0, 1.0, 1.0),
        neon_q_per_cycle=2.0,
        l1d_kb=32,
        l2_kb=1024,
        dram_gbps=4.86,
        dram_gbps_all=4.86 * 1.3,
        cache_gbps=15.0,
        # fitted by benchmarks/calibrate_predict.py (XNNPACK README: MobileNet v1 fp32 77 ms and
        # int8 24 ms at 4 threads; T1/T4 = 2.19 from XNNPACK issue #814)
        f32_gmacs=3.49,
        f32_par_eff=0.403,
        i8_gmacs=11.3,
        # fitted on QuickNetSmall + QuickNetLarge (LCE README), never on QuickNet
        bgemm_eff=0.503,
        bin_par_eff=0.562,
        op_overhead_us=5.0,
        sync_overhead_us=10.0,
        uncertainty={
            "binary": 0.10,
            "bitpack": 0.5,
            "float": 0.20,
            "int8": 0.25,
            "memory": 0.25,
            "memory_mt": 0.5,
            "overhead": 1.0,
        },
        calibrated={"binary": (1, 4), "bitpack": (1, 4), "float": (1, 4), "int8": (4,), "memory": (1,)},
        notes="boards from rev 1.4 (late 2020) run at 1.8 GHz with current firmware: scale by ~1.2",
    )


def _pixel1(pi4: Board) -> Board:
    """Google Pixel (2016), Snapdragon 821: 2x Kryo 2.15 GHz + 2x Kryo 1.6 GHz: the calibrated phone."""
    return Board(
        name="pixel1",
        description="Google Pixel 1 (Snapdragon 821: 2x Kryo 2.15 GHz + 2x Kryo 1.6 GHz)",
        core="Kryo",
        clock_ghz=2.15,
        core_capacity=(1.0, 1.0, 1.6 / 2.15, 1.6 / 2.15),
        neon_q_per_cycle=2.0,
        l1d_kb=32,
        l2_kb=1024,
        dram_gbps=8.0,
        dram_gbps_all=8.0 * 1.5,
        cache_gbps=25.0,
        # fitted: XNNPACK README, Pixel: MobileNet v1 fp32 82 ms (1 thread), 43 ms (2 big cores)
        f32_gmacs=7.19,
        f32_par_eff=0.926,
        # derived: no published int8 XNNPACK figure for the Pixel 1; pi4's int8/fp32 rate ratio
        i8_gmacs=7.19 * (pi4.i8_gmacs / pi4.f32_gmacs),
        bgemm_eff=0.581,
        bin_par_eff=0.387,
        op_overhead_us=4.0,
        sync_overhead_us=10.0,
        uncertainty={
            "binary": 0.10,
            "bitpack": 0.5,
            "float": 0.15,
            "int8": 0.45,
            "memory": 0.5,
            "memory_mt": 0.6,
            "overhead": 1.0,
        },
        calibrated={"binary": (1, 4), "bitpack": (1, 4), "float": (1, 2)},
        notes="threads 3-4 run on the 1.6 GHz cluster; Android may migrate threads",
    )


def _pi5(pi4: Board) -> Board:
    """Raspberry Pi 5 (BCM2712, 4x Cortex-A76 2.4 GHz): pi4 x clock ratio x A76/A72 per-clock ratio."""
    clock = 2.4 / 1.5
    ipc = 1.4  # assumed A76/A72 per-clock gain on NEON-heavy loops (Pi 5 is "2-3x" a Pi 4)
    mem = 4870 / 2777  # tinymembench "C copy": Pi 5 (sbc-reviews #21) / Pi 4 (sbc-reviews #110)
    return replace(
        pi4,
        name="pi5",
        description="Raspberry Pi 5 (BCM2712), 64-bit OS, 2.4 GHz",
        core="Cortex-A76",
        clock_ghz=2.4,
        l1d_kb=64,
        l2_kb=512 + 2048,
        dram_gbps=pi4.dram_gbps * mem,
        dram_gbps_all=pi4.dram_gbps_all * mem,
        cache_gbps=pi4.cache_gbps * clock,
        f32_gmacs=pi4.f32_gmacs * clock * ipc,
        i8_gmacs=pi4.i8_gmacs * clock * ipc,
        bgemm_eff=pi4.bgemm_eff * ipc,
        uncertainty={
            "binary": 0.35,
            "bitpack": 0.6,
            "float": 0.35,
            "int8": 0.4,
            "memory": 0.45,
            "memory_mt": 0.6,
            "overhead": 1.0,
        },
        calibrated={},
        derived_from="pi4",
        notes="derived from pi4 by clock (2.4/1.5), an assumed A76/A72 per-clock gain of 1.4 and the "
        "tinymembench copy ratio; no published LCE figure on a Pi 5",
    )


def _pi3_64(pi4: Board) -> Board:
    """Raspberry Pi 3B (BCM2837, 4x Cortex-A53 1.2 GHz) on a 64-bit OS: derived from pi4."""
    # XNNPACK README (RPi 3+ vs RPi 4, same 32-bit build, 4 threads): MobileNet v1 114 vs 72 ms,
    # INT8 46 vs 29 ms; the 3+ runs at 1.4 GHz, the 3B at 1.2 GHz.
    f32 = (72 / 114) * (1.2 / 1.4)
    i8 = (29 / 46) * (1.2 / 1.4)
    return replace(
        pi4,
        name="pi3-64",
        description="Raspberry Pi 3 Model B (BCM2837), 64-bit OS, 1.2 GHz",
        core="Cortex-A53",
        clock_ghz=1.2,
        neon_q_per_cycle=1.0,
        l2_kb=512,
        dram_gbps=pi4.dram_gbps * 0.45,
        dram_gbps_all=pi4.dram_gbps_all * 0.45,
        cache_gbps=pi4.cache_gbps * 0.5,
        f32_gmacs=pi4.f32_gmacs * f32,
        i8_gmacs=pi4.i8_gmacs * i8,
        op_overhead_us=pi4.op_overhead_us * 2,
        sync_overhead_us=pi4.sync_overhead_us * 2,
        uncertainty={
            "binary": 0.5,
            "bitpack": 0.6,
            "float": 0.3,
            "int8": 0.35,
            "memory": 0.5,
            "memory_mt": 0.6,
            "overhead": 1.0,
        },
        calibrated={},
        derived_from="pi4",
        notes="derived: float/int8 from XNNPACK's RPi 3+/RPi 4 ratios at 1.2/1.4 GHz; binary from "
        "the A53's single 128-bit NEON issue (half the A72's) at pi4's kernel efficiency; "
        "memory assumed 0.45x pi4 (LPDDR2); a 32-bit OS runs LCE's armv7 kernels, not modelled",
    )


def _android_arm64(pixel1: Board, pi4: Board) -> Board:
    """A generic arm64 phone, modelled as a Pixel 3a-class SoC (2x Cortex-A75 2.0 GHz + 6x A55)."""
    return Board(
        name="android-arm64",
        description="generic arm64 phone, modelled as Pixel 3a-class (Snapdragon 670: 2x Cortex-A75 "
        "2.0 GHz + 6x Cortex-A55 1.7 GHz)",
        core="Cortex-A75",
        clock_ghz=2.0,
        core_capacity=(1.0, 1.0) + (0.35,) * 6,
        neon_q_per_cycle=2.0,
        l1d_kb=64,
        l2_kb=256 + 1024,
        dram_gbps=pixel1.dram_gbps,
        dram_gbps_all=pixel1.dram_gbps_all,
        cache_gbps=pixel1.cache_gbps,
        # fitted: XNNPACK README, Pixel 3a: MobileNet v1 fp32 88 ms (1 thread), 46 ms (2 big cores)
        f32_gmacs=6.69,
        f32_par_eff=0.930,
        i8_gmacs=6.69 * (pi4.i8_gmacs / pi4.f32_gmacs),
        # derived: an out-of-order ARM core with two 128-bit NEON pipes, like the A72: pi4's efficiency
        bgemm_eff=pi4.bgemm_eff,
        bin_par_eff=pixel1.bin_par_eff,
        op_overhead_us=pixel1.op_overhead_us,
        sync_overhead_us=pixel1.sync_overhead_us,
        uncertainty={
            "binary": 0.45,
            "bitpack": 0.6,
            "float": 0.25,
            "int8": 0.5,
            "memory": 0.6,
            "memory_mt": 0.7,
            "overhead": 1.0,
        },
        calibrated={"float": (1, 2)},
        derived_from="pixel1",
        notes="phones differ widely: a stand-in for a 2019 mid-range phone, not for your phone; "
        "threads 3+ land on the A55 cores",
    )


def _build() -> dict[str, Board]:
    """All boards by name; derived boards are computed from the calibrated ones."""
    pi4 = _pi4()
    pixel1 = _pixel1(pi4)
    boards = [pi4, _pi5(pi4), _pi3_64(pi4), pixel1, _android_arm64(pixel1, pi4)]
    return {b.name: b for b in boards}


BOARDS: dict[str, Board] = _build()


def binary_gmacs(board: Board, kernel: str = DEFAULT_KERNEL) -> float:
    """Binary MACs per second (1e9) one big core sustains in LCE's bconv inner loop, for the table.

    bgemm/indirect: 32 MACs per word-op, BGEMM_NEON_PER_WORD_OP instructions each, at the NEON
    issue rate times the fitted kernel efficiency; reference: one word-op per
    REFERENCE_CYCLES_PER_WORD_OP cycles. Padding, im2col, packing and output are extra (model.py).
    """
    if kernel == "reference":
        return BITPACK_WORD * board.clock_ghz / REFERENCE_CYCLES_PER_WORD_OP
    return BITPACK_WORD * board.neon_q_per_cycle * board.clock_ghz * board.bgemm_eff / BGEMM_NEON_PER_WORD_OP


def describe(board: Board) -> dict:
    """The board's constants as a flat dict (for docs, reports and a devices listing)."""
    return {
        "name": board.name,
        "description": board.description,
        "core": board.core,
        "clock_ghz": board.clock_ghz,
        "cores": board.cores,
        "neon_bits": board.neon_bits,
        "neon_q_per_cycle": board.neon_q_per_cycle,
        "l1d_kb": board.l1d_kb,
        "l2_kb": board.l2_kb,
        "dram_gbps_1core": board.dram_gbps,
        "dram_gbps_all": board.dram_gbps_all,
        "cache_gbps_1core": board.cache_gbps,
        "binary_gmacs_1core": {k: binary_gmacs(board, k) for k in KERNELS},
        "bin_par_eff": board.bin_par_eff,
        "f32_gmacs_1core": board.f32_gmacs,
        "f32_par_eff": board.f32_par_eff,
        "i8_gmacs_1core": board.i8_gmacs,
        "op_overhead_us": board.op_overhead_us,
        "sync_overhead_us": board.sync_overhead_us,
        "core_capacity": list(board.core_capacity),
        "uncertainty": dict(board.uncertainty),
        "calibrated": {k: list(v) for k, v in board.calibrated.items()},
        "derived_from": board.derived_from,
        "notes": board.notes,
    }


def get_board(name: str) -> Board:
    """The board ``name``; a one-line error lists the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise BnnDeployError(f"no latency model for device {name!r}; choose one of {', '.join(BOARDS)}") from None


def check_kernel(kernel: str | None) -> str:
    """``kernel`` (None means the calibrated default) if the model knows it, else a one-line error."""
    kernel = DEFAULT_KERNEL if kernel is None else kernel
    if kernel in NOT_PREDICTED:
        raise BnnDeployError(
            f"kernel {kernel!r} runs the float ops without XNNPACK, which the latency model "
            f"does not price; predict {NOT_PREDICTED[kernel]!r} (the same bconv kernel with XNNPACK)"
        )
    if kernel not in KERNELS:
        raise BnnDeployError(f"unknown bconv kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    return kernel


def with_constants(board: Board, **values) -> Board:
    """A copy of ``board`` with some constants replaced (used by the calibration fit)."""
    return replace(board, **values)
