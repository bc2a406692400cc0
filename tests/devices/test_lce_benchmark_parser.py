"""lce_benchmark_model: the output parser on real output lines, the command line, and the run path.

The parser is tested on the lines TFLite's benchmark tool prints (both memory-line formats: the
older ``Peak memory footprint (MB)`` and the newer ``Memory footprint delta from the start of the
tool (MB)`` with its ``INFO:`` prefixes), including the forms ``std::ostream`` produces for large
numbers (``1.98612e+06``), ``count=0`` and ``(all same)``.

No real ``lce_benchmark_model`` can exist on this machine (LCE builds it only with Bazel inside
Docker, for ARM), so the run path — pushing the graph and the raw input, the exact command line,
reading ``--output_filepath`` back — is tested with :data:`FAKE_LCE_BENCHMARK`, a stand-in that
takes the same flags, runs the graph with LCE's own Python interpreter (the same kernels) and
prints the real tool's lines. ``tests/test_devices_ssh.py`` runs it over SSH as well.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.devices.lce_benchmark import (
    build_command,
    escape_layer_name,
    from_tensor_bytes,
    parse_output,
    parse_stat_line,
    run_lce_benchmark,
    tflite_io,
    to_tensor_bytes,
)
from bnn_deploy.devices.transport import make_work_dir
from bnn_deploy.devices.transport_local import LocalTransport
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

# TFLite 2.13+ (LCE 0.16 is built on TF 2.16): "INFO: " prefixes, memory delta + periodic peak.
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
INFO: count=2 first=1.98612e+06 curr=1.97133e+06 min=1.97133e+06 max=1.98612e+06 avg=1.97872e+06 std=7395

INFO: Running benchmark for at least 10 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=10 first=1970512 curr=1969820 min=1968210 max=1975433 avg=1970991 std=2045

INFO: Inference timings in us: Init: 3101, First inference: 1.98612e+06, Warmup (avg): 1.97872e+06, Inference (avg): 1.97099e+06
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


# ---------------------------------------------------------------- command line and tensors


def test_build_command_flags_and_escaping():
    tensor = {"name": "serving_default_lr:0", "shape": [1, 12, 16, 3]}
    argv = build_command(
        "/tmp/w/lce_benchmark_model",
        "/tmp/w/m.tflite",
        threads=4,
        warmup=2,
        runs=10,
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
        "--input_layer=serving_default_lr:0",
        "--input_layer_shape=1,12,16,3",
        "--input_layer_value_files=serving_default_lr::0:/tmp/w/in.raw",
        "--output_filepath=/tmp/w/out.raw",
    ]
    assert escape_layer_name("a:b:c") == "a::b::c"
    with pytest.raises(BnnDeployError, match="comma"):
        escape_layer_name("a,b")
    with pytest.raises(BnnDeployError, match="--runs >= 1"):
        build_command("b", "g", threads=1, warmup=0, runs=0)


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


def test_run_path_with_stand_in(lce_graph, tmp_path):
    """Push graph + raw input, run with the exact flags, read --output_filepath back; the outputs
    equal LCE's interpreter run on the host on the same input."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    fake = write_fake_benchmark(tmp_path)
    board = tmp_path / "board"
    board.mkdir()
    tr = LocalTransport(description="local test board")
    wd = make_work_dir(tr, str(board))
    x = np.random.default_rng(0).uniform(0, 1, (1, 12, 16, 3)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rec = run_lce_benchmark(
        tr,
        str(fake),
        lce_graph,
        work_dir=wd,
        threads=1,
        warmup=1,
        runs=3,
        input_path=tmp_path / "in.npy",
        out_dir=out_dir,
        timeout=120,
    )
    print(json.dumps({k: rec[k] for k in ("avg_ms", "count", "memory", "command")}, indent=1))
    assert rec["count"] == 3 and rec["avg_ms"] > 0 and rec["memory"]["kind"] == "delta"
    assert rec["parity_measured"] and "--output_filepath=" in rec["command"]
    got = np.load(rec["outputs"][0])
    want = Interpreter(lce_graph.read_bytes(), num_threads=1, use_indirect_bgemm=True).predict(x)
    np.testing.assert_array_equal(got, want)
    assert sorted(p.name for p in out_dir.iterdir()) == ["bm_16x12.lce.output.npy"]  # no scratch
    tr.remove(wd)
    assert list(board.iterdir()) == []


def test_old_binary_without_output_flag_says_parity_not_measured(lce_graph, tmp_path):
    """A binary whose --help lacks --output_filepath still gives timings, and says why no parity."""
    fake = write_fake_benchmark(tmp_path)
    fake.write_text(fake.read_text().replace('"output_filepath", "help")', '"help")'))
    tr = LocalTransport()
    wd = make_work_dir(tr, str(tmp_path))
    np.save(tmp_path / "in.npy", np.zeros((1, 12, 16, 3), np.float32))
    rec = run_lce_benchmark(
        tr,
        str(fake),
        lce_graph,
        work_dir=wd,
        threads=1,
        warmup=0,
        runs=1,
        input_path=tmp_path / "in.npy",
        out_dir=tmp_path,
        timeout=120,
    )
    assert rec["parity_measured"] is False and rec["outputs"] == []
    assert "--output_filepath" not in rec["command"]
    assert any("parity not measured" in n for n in rec["notes"])


def test_binary_that_is_not_a_benchmark(tmp_path, lce_graph):
    tr = LocalTransport()
    wd = make_work_dir(tr, str(tmp_path))
    with pytest.raises(BnnDeployError, match="does not run or is not lce_benchmark_model"):
        run_lce_benchmark(tr, "/bin/false", lce_graph, work_dir=wd, threads=1, warmup=0, runs=1)
