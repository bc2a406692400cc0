"""lce_benchmark_model: the output parser on real output lines, the command line, and the run path.

The parser is tested on the lines TFLite's benchmark tool prints (both memory-line formats: the
older ``Peak memory footprint (MB)`` and the newer ``Memory footprint delta from the start of the
tool (MB)`` with its ``INFO:`` prefixes), including the forms ``std::ostream`` produces for large
numbers (``1.98612e+06``), ``count=0`` and ``(all same)``.

No real ``lce_benchmark_model`` can exist on this machine (LCE builds it only with Bazel inside
Docker, for ARM), so the run path — pushing the graph and the raw input, the exact command lines
(kernel flags, the separate memory run, the op profiler, ``--kernel auto`` on the board's outputs),
reading ``--output_filepath`` back — is tested with :data:`FAKE_LCE_BENCHMARK`, a stand-in that
takes the same flags, runs the graph with LCE's own Python interpreter (the same kernels) and
prints the real tool's lines. ``tests/devices/test_devices_ssh.py`` runs it over SSH as well.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.devices.lce_benchmark import (
    KERNEL_FLAGS,
    LceBenchmark,
    build_command,
    check_runtime_args,
    escape_layer_name,
    from_tensor_bytes,
    parse_op_profile,
    parse_output,
    parse_stat_line,
    run_lce_benchmark,
    tflite_io,
    to_tensor_bytes,
)
from bnn_deploy.devices.transport import make_work_dir
from bnn_deploy.devices.transport_local import LocalTransport
from bnn_deploy.runtimes.lce import KERNELS
from support.fake_benchmark import write_fake_benchmark

# LCE 0.x on a Raspberry Pi 4 (TFLite of 2020-2022: bare lines, "Peak memory footprint").
OLD_FORMAT = """\
STARTING!
Log parameter values verbosely: [0]
Num threads: [1]
Graph: [quicknet.tflite]
#threads used for CPU inference: [1]
Loaded model quicknet.tflite
The input model file size (MB): 13.2
Initialized session in 5.373ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=3 first=206847 curr=196412 min=196037 max=206847 avg=199765 std=4998

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=205194 curr=196761 min=195713 max=205852 avg=198612 std=2465

Inference timings in us: Init: 5373, First inference: 206847, Warmup (avg): 196437, Inference (avg): 198612
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=1.47266 overall=30.4531
"""

# TFLite 2.13+ (LCE 0.16 is built on TF 2.16): "INFO: " prefixes, int64 fields as integers and only the
# averages (doubles) as %g; memory delta, and the periodic peak of --report_peak_memory_footprint=true.
NEW_FORMAT = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [4]
INFO: Graph: [/tmp/bnn-deploy-abc123/bm_320x180.lce.tflite]
INFO: #threads used for CPU inference: [4]
INFO: Loaded model /tmp/bnn-deploy-abc123/bm_320x180.lce.tflite
INFO: The input model file size (MB): 0.061244
INFO: Initialized session in 3.101ms.
INFO: Running benchmark for at least 2 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=2 first=1986120 curr=1971330 min=1971330 max=1986120 avg=1.97872e+06 std=7395

INFO: Running benchmark for at least 10 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=10 first=1970512 curr=1969820 min=1968210 max=1975433 avg=1970991 std=2045

INFO: Inference timings in us: Init: 3101, First inference: 1986120, Warmup (avg): 1.97872e+06, Inference (avg): 1.97099e+06
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=6.26953 overall=61.2031
INFO: Overall peak memory footprint (MB) via periodic monitoring: 68.5469
INFO: Memory status at the end of exeution:
INFO: - VmRSS              : 64 MB
INFO: + RssAnnon           : 57 MB
INFO: + RssFile + RssShmem : 7 MB
"""


# ---------------------------------------------------------------- parser


def test_old_format_peak_memory():
    r = parse_output(OLD_FORMAT)
    assert r["count"] == 50
    assert r["avg_ms"] == pytest.approx(198.612)
    assert r["min_ms"] == pytest.approx(195.713) and r["max_ms"] == pytest.approx(205.852)
    assert r["std_ms"] == pytest.approx(2.465)
    assert r["first_ms"] == pytest.approx(206.847)
    assert r["warmup_avg_ms"] == pytest.approx(196.437)
    assert r["init_ms"] == pytest.approx(5.373)
    assert r["warmup"]["count"] == 3
    assert r["memory"] == {"kind": "peak", "init_mb": 1.47266, "overall_mb": 30.4531, "peak_mb": None}
    assert r["model_size_mb"] == pytest.approx(13.2)


def test_new_format_delta_memory_and_scientific_numbers():
    r = parse_output(NEW_FORMAT)
    assert r["count"] == 10
    assert r["avg_ms"] == pytest.approx(1970.99)  # from the summary line, written as 1.97099e+06
    assert r["min_ms"] == pytest.approx(1968.210)
    assert r["first_ms"] == pytest.approx(1986.12)
    assert r["warmup"]["avg"] == pytest.approx(1.97872e6)
    assert r["memory"]["kind"] == "delta"
    assert r["memory"]["init_mb"] == pytest.approx(6.26953)
    assert r["memory"]["overall_mb"] == pytest.approx(61.2031)
    assert r["memory"]["peak_mb"] == pytest.approx(68.5469)


def test_stat_line_forms():
    assert parse_stat_line("count=0") == {"count": 0}
    same = parse_stat_line("INFO: count=4 curr=1500(all same)")
    assert same["count"] == 4 and same["avg"] == 1500 and same["min"] == 1500 and same["std"] == 0
    assert parse_stat_line("Loaded model x.tflite") is None
    assert parse_stat_line("INFO: discount=3") is None


def test_summary_without_stat_lines_and_no_timings():
    r = parse_output(
        "Inference timings in us: Init: 10, First inference: 2000, Warmup (avg): 1500, Inference (avg): 1400\n"
    )
    assert r["avg_ms"] == pytest.approx(1.4) and r["count"] is None
    assert r["memory"]["kind"] is None
    crash = "INFO: Loaded model x.tflite\nERROR: Encountered unresolved custom op: LceBconv2d.\n"
    with pytest.raises(BnnDeployError, match="printed no timings .*unresolved custom op"):
        parse_output(crash)


# A single timed run without warm-up (TFLite's Stat prints count=1 curr=X; the summary 0 and 0).
ONE_RUN = """\
INFO: Running benchmark for at least 0 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=0

INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=197133

INFO: Inference timings in us: Init: 3101, First inference: 0, Warmup (avg): 0, Inference (avg): 197133
INFO: Memory footprint delta from the start of the tool (MB): init=6.26953 overall=61.2031
"""

# --enable_op_profiling=true, TF 2.16 layout (no [start] column; only the section's first line has
# the log prefix), on a BBCU unit without XNNPACK; then an XNNPACK run as TF 2.16 reports it:
# XNNPACK's own operators as Delegate/NAME:i rows (no TFLite tensor names).
PROFILE_2_16 = """\
INFO: count=10 first=2120 curr=2093 min=2080 max=2120 avg=2095.3 std=11

INFO: Inference timings in us: Init: 3101, First inference: 2351, Warmup (avg): 2210, Inference (avg): 2095.3
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                 AllocateTensors            0.412           0.412       100.000%        100.000%             0.000                1       AllocateTensors/0

============================== Top by Computation Time ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                 AllocateTensors            0.412           0.412       100.000%        100.000%             0.000                1       AllocateTensors/0

Number of nodes executed: 1
============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                                 AllocateTensors                1            0.412         100.000%        100.000%          0.000                1

Timings (microseconds): count=1 curr=412
Memory (bytes): count=0
1 nodes observed



INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                             ADD            0.021           0.020         0.976%          0.976%             0.000                1       [.body.0.body.0.move0/Add/Add]:0
                                     LceQuantize            0.031           0.030         1.464%          2.440%             0.000                1       [.body.0.body.0/Where/SelectV2;;.body.0.body.0/Wher]:1
                                      LceBconv2d            1.812           1.790        87.317%         89.757%             0.000                1       [.body.0.body.0.binary_conv/Add/Add;.body.0.body.0.]:2
                                           PRELU            0.112           0.110         5.366%         95.123%             0.000                1       [.body.0.body.0.relu.pr_prelu/PRelu/add;.body.0.bod]:3
                                             ADD            0.050           0.050         2.439%         97.562%             0.000                1       [.body.0.body.0.relu.pr_bias1/Add/Add]:4
                                             ADD            0.051           0.050         2.439%        100.000%             0.000                1       [PartitionedCall:0]:5

============================== Top by Computation Time ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                      LceBconv2d            1.812           1.790        87.317%         87.317%             0.000                1       [.body.0.body.0.binary_conv/Add/Add;.body.0.body.0.]:2

Number of nodes executed: 6
============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                                      LceBconv2d                1            1.790          87.317%         87.317%          0.000                1
                                           PRELU                1            0.110           5.366%         92.683%          0.000                1
                                             ADD                3            0.120           5.853%         98.536%          0.000                3
                                     LceQuantize                1            0.030           1.464%        100.000%          0.000                1

Timings (microseconds): count=10 first=2125 curr=2049 min=2040 max=2125 avg=2050.1 std=24
Memory (bytes): count=0
6 nodes observed
"""

DELEGATE_ROWS = """\
INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                                     Add (ND, F32)            0.009           0.008         0.412%          0.412%             0.000                1       Delegate/Add (ND, F32):0
                                     LceQuantize            0.031           0.030         1.546%          1.958%             0.000                1       [.body.0.body.0/Where/SelectV2;;.body.0.body.0/Wher]:1
                                      LceBconv2d            1.812           1.790        92.268%         94.226%             0.000                1       [.body.0.body.0.binary_conv/Add/Add;.body.0.body.0.]:2
                                 PReLU (NC, F32)            0.070           0.070         3.608%         97.835%             0.000                1       Delegate/PReLU (NC, F32):0
                                     Add (ND, F32)            0.021           0.021         1.082%         98.917%             0.000                2       Delegate/Add (ND, F32):1
                           TfLiteXNNPackDelegate            0.021           0.021         1.082%        100.000%             0.000                1       [PartitionedCall:0]:7

============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                                      LceBconv2d                1            1.790          92.268%         92.268%          0.000                1

Timings (microseconds): count=5 curr=1940(all same)
Memory (bytes): count=0
6 nodes observed
"""

# Older TFLite (LCE 0.x era): tab-separated, with a [start] column.
PROFILE_OLD = """\
count=3 first=2300 curr=2200 min=2190 max=2300 avg=2230 std=50
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t             LceQuantize\t            0.000\t    0.031\t    0.030\t  1.613%\t  1.613%\t     0.000\t        1\t[lq]:0
\t              LceBconv2d\t            0.031\t    1.812\t    1.830\t 98.387%\t100.000%\t     0.000\t        1\t[bconv]:1

Number of nodes executed: 2
============================== Summary by node type ==============================
\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t              LceBconv2d\t        1\t     1.830\t    98.387%\t    98.387%\t     0.000\t        1
\t             LceQuantize\t        1\t     0.030\t     1.613%\t   100.000%\t     0.000\t        1

Timings (microseconds): count=3 first=1843 curr=1860 min=1843 max=1861 avg=1854.67 std=8
Memory (bytes): count=0
2 nodes observed
"""


def test_one_run_and_no_warmup_report_null_not_zero():
    r = parse_output(ONE_RUN)
    assert r["count"] == 1 and r["avg_ms"] == pytest.approx(197.133)
    assert r["min_ms"] == r["max_ms"] == r["avg_ms"]  # one run: it is its own min and max
    assert r["std_ms"] is None  # one run has no spread
    assert r["first_ms"] is None and r["warmup_avg_ms"] is None  # "First inference: 0": not measured
    assert r["warmup"] == {"count": 0} and r["op_profile"] is None and r["ignored_flags"] == []
    assert r["memory"]["peak_mb"] is None  # no --report_peak_memory_footprint=true


def test_op_profile_tf_2_16_layout():
    r = parse_output(PROFILE_2_16)
    assert r["count"] == 10 and r["avg_ms"] == pytest.approx(2.0953)  # the profiler's own lines are not timings
    prof = r["op_profile"]
    assert [row["type"] for row in prof["rows"]] == ["ADD", "LceQuantize", "LceBconv2d", "PRELU", "ADD", "ADD"]
    assert [row["node"] for row in prof["rows"]] == list(range(6))
    bconv = prof["rows"][2]
    assert bconv["avg_ms"] == pytest.approx(1.790) and bconv["first_ms"] == pytest.approx(1.812)
    assert bconv["percent"] == pytest.approx(87.317) and bconv["cdf_percent"] == pytest.approx(89.757)
    assert bconv["tensor_names"] == [".body.0.body.0.binary_conv/Add/Add;.body.0.body.0."]
    assert not any(row["delegate"] for row in prof["rows"])
    assert {t["type"]: t["count"] for t in prof["by_type"]} == {"LceBconv2d": 1, "PRELU": 1, "ADD": 3, "LceQuantize": 1}
    assert prof["timings"]["count"] == 10 and prof["timings"]["avg"] == pytest.approx(2050.1)


def test_op_profile_xnnpack_delegate_rows_and_old_layout():
    prof = parse_op_profile(DELEGATE_ROWS)
    types = [(row["type"], row["delegate"], row["node"]) for row in prof["rows"]]
    assert types == [
        ("Add (ND, F32)", True, 0),
        ("LceQuantize", False, 1),
        ("LceBconv2d", False, 2),
        ("PReLU (NC, F32)", True, 0),
        ("Add (ND, F32)", True, 1),
        ("TfLiteXNNPackDelegate", True, 7),
    ]
    assert prof["rows"][3]["tensor_names"] == [] and prof["rows"][4]["times_called"] == 2
    assert prof["timings"] == {
        "count": 5,
        "curr": 1940.0,
        "first": 1940.0,
        "min": 1940.0,
        "max": 1940.0,
        "avg": 1940.0,
        "std": 0.0,
    }
    old = parse_output(PROFILE_OLD)["op_profile"]
    assert [(row["type"], row["avg_ms"], row["tensor_names"]) for row in old["rows"]] == [
        ("LceQuantize", 0.030, ["lq"]),
        ("LceBconv2d", 1.830, ["bconv"]),
    ]
    assert [t["type"] for t in old["by_type"]] == ["LceBconv2d", "LceQuantize"]
    assert parse_op_profile(NEW_FORMAT) is None


def test_unconsumed_flags_are_reported():
    text = "WARN: Unconsumed cmdline flags: --use_gpu_typo=true --nope\n" + NEW_FORMAT
    assert parse_output(text)["ignored_flags"] == ["--use_gpu_typo=true", "--nope"]


# ---------------------------------------------------------------- command line and tensors


def test_build_command_flags_and_escaping():
    tensor = {"name": "serving_default_lr:0", "shape": [1, 12, 16, 3]}
    argv = build_command(
        "/tmp/w/lce_benchmark_model",
        "/tmp/w/m.tflite",
        threads=4,
        warmup=2,
        runs=10,
        kernel="indirect_bgemm+xnnpack",
        input_tensor=tensor,
        input_file="/tmp/w/in.raw",
        output_file="/tmp/w/out.raw",
    )
    assert argv == [
        "/tmp/w/lce_benchmark_model",
        "--graph=/tmp/w/m.tflite",
        "--num_threads=4",
        "--warmup_runs=2",
        "--num_runs=10",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--use_reference_bconv=false",
        "--use_indirect_bgemm=true",
        "--use_xnnpack=true",
        "--input_layer=serving_default_lr:0",
        "--input_layer_shape=1,12,16,3",
        "--input_layer_value_files=serving_default_lr::0:/tmp/w/in.raw",
        "--output_filepath=/tmp/w/out.raw",
    ]
    assert escape_layer_name("a:b:c") == "a::b::c"
    with pytest.raises(BnnDeployError, match="comma"):
        escape_layer_name("a,b")
    with pytest.raises(BnnDeployError, match="--runs >= 1"):
        build_command("b", "g", threads=1, warmup=0, runs=0, kernel="default")


def test_every_kernel_is_explicit_and_extras_come_last():
    for kernel, flags in KERNELS.items():
        argv = build_command("b", "g", threads=1, warmup=0, runs=1, kernel=kernel)
        assert argv[-3:] == [f"--{name}={'true' if on else 'false'}" for name, on in zip(KERNEL_FLAGS, flags)], kernel
    argv = build_command(
        "b",
        "g",
        threads=1,
        warmup=0,
        runs=1,
        kernel="default",
        peak_memory=True,
        op_profiling=True,
        extra=("--max_secs=300",),
    )
    assert argv[-3:] == ["--report_peak_memory_footprint=true", "--enable_op_profiling=true", "--max_secs=300"]
    assert "--report_peak_memory_footprint=true" not in build_command(
        "b", "g", threads=1, warmup=0, runs=1, kernel="default"
    )
    assert check_runtime_args(["--max_secs=300", "--verbose"]) == ("--max_secs=300", "--verbose")
    for bad, message in (
        ("max_secs=3", "is not an lce_benchmark_model flag"),
        ("--num_runs=5", "sets --num_runs on every run itself .--runs"),
        ("--use_xnnpack=false", "--kernel"),
        ("--enable_op_profiling=true", "--profile"),
    ):
        with pytest.raises(BnnDeployError, match=message):
            check_runtime_args([bad])
    with pytest.raises(BnnDeployError, match="unknown LCE kernel"):
        build_command("b", "g", threads=1, warmup=0, runs=1, kernel="turbo")


def test_int8_tensor_bytes_round_trip():
    t = {"name": "x", "shape": [1, 2, 2, 1], "dtype": "int8", "scale": 0.5, "zero_point": -3}
    x = np.array([0.0, 1.0, -2.0, 100.0], dtype=np.float32).reshape(1, 2, 2, 1)
    raw = to_tensor_bytes(x, t)
    assert np.frombuffer(raw, np.int8).tolist() == [-3, -1, -7, 127]  # 100 saturates
    back = from_tensor_bytes(raw, [t])[0]
    assert back.ravel().tolist() == [0.0, 1.0, -2.0, 65.0]
    with pytest.raises(BnnDeployError, match="fewer than"):
        from_tensor_bytes(raw[:3], [t])
    with pytest.raises(BnnDeployError, match="does not fit"):
        to_tensor_bytes(np.zeros((1, 3)), t)


# ---------------------------------------------------------------- the run path, with a stand-in


@pytest.fixture(scope="module")
def lce_graph(tmp_path_factory):
    """A real LCE flatbuffer of a tiny BBCU-M, exported by bnn-deploy export (and its manifest)."""
    import torch

    from bnn_deploy.conversion.export import export_model
    from bnn_deploy.models.checkpoint import save_checkpoint
    from bnn_deploy.models.registry import create_model

    folder = tmp_path_factory.mktemp("lce_graph")
    torch.manual_seed(0)
    save_checkpoint(folder / "bm.pt", create_model("bbcu_m", scale=2, num_feat=8, num_block=1))
    manifest = export_model(
        folder / "bm.pt",
        formats=["lce"],
        input_sizes=[(16, 12)],
        out_dir=folder / "export",
        min_parity_db=40,
        parity_photos=1,
    ).to_json()
    return folder / "export" / manifest["artifacts"][0]["file"]


def test_tflite_io_reads_lce_graph(lce_graph):
    io = tflite_io(lce_graph)
    assert io["inputs"][0]["shape"] == [1, 12, 16, 3] and io["inputs"][0]["dtype"] == "float32"
    assert io["outputs"][0]["shape"] == [1, 24, 32, 3]


def _board(tmp_path, **fake):
    """(stand-in binary, a local "board" transport, its work dir, an input .npy)."""
    fake_bin = write_fake_benchmark(tmp_path, **fake)
    board = tmp_path / "board"
    board.mkdir()
    tr = LocalTransport(description="local test board")
    x = np.random.default_rng(0).uniform(0, 1, (1, 12, 16, 3)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    (tmp_path / "out").mkdir()
    return fake_bin, tr, make_work_dir(tr, str(board)), x


def _run(tr, fake, graph, wd, **options):
    """One run_lce_benchmark with the small defaults these tests share (no warm-up, one run)."""
    return run_lce_benchmark(
        tr, str(fake), graph, **{"work_dir": wd, "threads": 1, "warmup": 0, "runs": 1, "timeout": 120, **options}
    )


def test_run_path_with_stand_in(lce_graph, tmp_path):
    """Push graph + raw input once, a timed run with the kernel's flags and a separate memory run,
    read --output_filepath back; the outputs equal LCE's interpreter on the host, same kernel."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    fake, tr, wd, x = _board(tmp_path)
    options = {"warmup": 1, "runs": 3, "kernel": "indirect_bgemm", "out_dir": tmp_path / "out"}
    rec = _run(tr, fake, lce_graph, wd, input_path=tmp_path / "in.npy", **options)
    print(json.dumps({k: rec[k] for k in ("avg_ms", "count", "memory", "commands")}, indent=1))
    assert rec["count"] == 3 and rec["avg_ms"] > 0 and rec["std_ms"] is not None
    assert rec["kernel"] == "indirect_bgemm" and rec["kernel_choice"] is None
    assert rec["kernel_flags"] == ["--use_reference_bconv=false", "--use_indirect_bgemm=true", "--use_xnnpack=false"]
    timed, memory = rec["commands"]
    assert rec["command"] == timed and rec["memory"]["command"] == memory
    assert all(f in timed for f in rec["kernel_flags"]) and "--output_filepath=" in timed
    assert "--report_peak_memory_footprint" not in timed  # its monitoring thread stays out of the timed run
    assert "--report_peak_memory_footprint=true" in memory and "--num_runs=1" in memory
    assert rec["memory"]["kind"] == "delta" and rec["memory"]["peak_mb"] > 0  # only the memory run prints it
    assert rec["parity_measured"] and rec["ignored_flags"] == []
    got = np.load(rec["outputs"][0])
    want = Interpreter(lce_graph.read_bytes(), num_threads=1, use_indirect_bgemm=True).predict(x)
    np.testing.assert_array_equal(got, want)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bm_16x12.lce.output.npy"]  # no scratch
    tr.remove(wd)
    assert list((tmp_path / "board").iterdir()) == []


def test_one_run_without_warmup_on_the_stand_in(lce_graph, tmp_path):
    fake, tr, wd, _ = _board(tmp_path)
    rec = _run(tr, fake, lce_graph, wd)
    assert rec["count"] == 1 and rec["min_ms"] == rec["max_ms"] == rec["avg_ms"] > 0
    assert rec["std_ms"] is None and rec["first_ms"] is None and rec["warmup_avg_ms"] is None


def test_runtime_args_pass_through_and_unknown_ones_are_reported(lce_graph, tmp_path):
    """The real tool only warns about flags it does not know: the run goes on, the record says so."""
    fake, tr, wd, _ = _board(tmp_path)
    rec = _run(tr, fake, lce_graph, wd, extra=("--max_secs=100", "--no_such_flag=1"))
    assert all(c.endswith("--max_secs=100 --no_such_flag=1") for c in rec["commands"])
    assert rec["ignored_flags"] == ["--no_such_flag=1"] and rec["count"] == 1
    assert any("ignored --no_such_flag=1" in n and "only warns" in n for n in rec["notes"])


def test_kernel_auto_on_the_board_uses_the_boards_outputs(lce_graph, tmp_path):
    fake, tr, wd, _ = _board(tmp_path)
    bench = LceBenchmark(tr, str(fake), work_dir=wd, threads=1, timeout=120)
    rec = bench.measure(
        lce_graph, kernel="auto", warmup=0, runs=2, input_path=tmp_path / "in.npy", out_dir=tmp_path / "out"
    )
    choice = rec["kernel_choice"]
    assert [c["kernel"] for c in choice["candidates"]] == [
        "default",
        "indirect_bgemm+xnnpack",
        "indirect_bgemm",
        "xnnpack",
    ]
    assert choice["measured_on"].startswith("the board") and choice["reference"] == "default"
    assert choice["candidates"][0]["max_abs_diff"] == 0.0
    best = min((c for c in choice["candidates"] if c["identical"]), key=lambda c: c["min_ms"])
    assert rec["kernel"] == choice["kernel"] == best["kernel"]
    flags = dict(f[2:].split("=") for f in rec["kernel_flags"])
    assert (flags["use_reference_bconv"], flags["use_indirect_bgemm"], flags["use_xnnpack"]) == tuple(
        "true" if on else "false" for on in KERNELS[rec["kernel"]]
    )
    # the candidates, then the timed and the memory run with the chosen kernel
    assert len(rec["commands"]) == 6 and all(c["command"] in rec["commands"] for c in choice["candidates"])
    assert all(f in rec["commands"][4] for f in rec["kernel_flags"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bm_16x12.lce.output.npy"]


def test_op_profile_runs_without_and_with_xnnpack(lce_graph, tmp_path):
    from bnn_deploy.core.flatbuffer import read_flatbuffer

    fake, tr, wd, _ = _board(tmp_path)
    bench = LceBenchmark(tr, str(fake), work_dir=wd, threads=1, timeout=120)
    bench.require(profiling=True)
    rec = bench.measure(lce_graph, kernel="indirect_bgemm+xnnpack", warmup=0, runs=1, measure=False, profile=True)
    ops = read_flatbuffer(lce_graph.read_bytes()).ops
    plain, fused = rec["op_profiles"]["profile"], rec["op_profiles"]["profile-xnnpack"]
    assert plain["kernel"] == "indirect_bgemm" and fused["kernel"] == "indirect_bgemm+xnnpack"
    assert [(r["node"], r["type"]) for r in plain["rows"]] == [(op.index, op.kind) for op in ops]
    assert "--enable_op_profiling=true" in plain["command"] and "--use_xnnpack=false" in plain["command"]
    assert any(r["type"] == "TfLiteXNNPackDelegate" for r in fused["rows"]) and len(fused["rows"]) < len(ops)
    assert {r["type"] for r in fused["rows"] if not r["delegate"]} <= {"LceQuantize", "LceBconv2d"}
    assert rec["commands"] == [plain["command"], fused["command"]]  # nothing else ran


def test_binaries_that_would_ignore_what_we_ask_are_refused(lce_graph, tmp_path):
    fake, tr, wd, _ = _board(tmp_path, without=("enable_op_profiling",))
    bench = LceBenchmark(tr, str(fake), work_dir=wd, threads=1)
    bench.require()
    with pytest.raises(BnnDeployError, match="has no --enable_op_profiling, so it cannot profile ops"):
        bench.require(profiling=True)
    old = write_fake_benchmark(tmp_path / "board", without=("use_xnnpack",))
    with pytest.raises(BnnDeployError, match="has no --use_xnnpack: it would ignore the kernel"):
        _run(tr, old, lce_graph, wd)


def test_old_binary_without_output_flag_says_parity_not_measured(lce_graph, tmp_path):
    """A binary whose --help lacks --output_filepath still gives timings, and says why no parity."""
    fake, tr, wd, _ = _board(tmp_path, without=("output_filepath",))
    rec = _run(tr, fake, lce_graph, wd, input_path=tmp_path / "in.npy", out_dir=tmp_path)
    assert rec["parity_measured"] is False and rec["outputs"] == []
    assert "--output_filepath" not in rec["command"]
    assert any("parity not measured" in n for n in rec["notes"])
    with pytest.raises(BnnDeployError, match="--kernel auto compares each kernel's outputs on the board"):
        _run(tr, fake, lce_graph, wd, kernel="auto", input_path=tmp_path / "in.npy", out_dir=tmp_path)


def test_binary_that_is_not_a_benchmark(tmp_path, lce_graph):
    tr = LocalTransport()
    wd = make_work_dir(tr, str(tmp_path))
    with pytest.raises(BnnDeployError, match="does not run or is not lce_benchmark_model"):
        _run(tr, "/bin/false", lce_graph, wd)
