"""A stand-in ``lce_benchmark_model``: a script that takes the real tool's flags and prints its lines.

What it shares with the real tool (TF 2.16's ``benchmark_model`` with LCE's ops; reference.md):

* flags: the kernel flags with the real defaults (LCE's default bconv kernel, and TFLite's XNNPACK
  delegate unless ``--use_xnnpack=false``); an unknown flag prints ``WARN: Unconsumed cmdline
  flags: ...`` and the run goes on; a flag it lacks in ``--help`` is one the real tool lacks too;
* stat lines: ``count=0`` without runs, ``count=1 curr=X`` for one run, ``(all same)``; int64 fields
  as integers, only ``avg`` as ``%g``; the summary line ``Init: int, First inference: int, Warmup
  (avg): %g, Inference (avg): %g`` (0 and 0 when there was no warm-up);
* memory: the delta line always, the periodic-monitoring peak only with
  ``--report_peak_memory_footprint=true``;
* ``--enable_op_profiling=true``: the initialization and run profiles, "Run Order", "Top by
  Computation Time" and "Summary by node type" tables in TF 2.16's layout. With XNNPACK, each run
  of consecutive float ops is one ``TfLiteXNNPackDelegate`` node (a node index after the model's
  own ops, named by its last op's outputs), as the delegate replaces a partition by one node.

The graph really runs, in LCE's Python interpreter with the asked kernel. Per-op times are the
host's isolated per-op measurements (:func:`bnn_deploy.benchmarking.profile.measure_ops`, without
XNNPACK): real numbers, in the real tool's format. ``FAKE_LCE_SLEEP=S`` makes each run sleep first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import bnn_deploy

FAKE_LCE_BENCHMARK = r'''#!{python}
"""Stand-in for lce_benchmark_model (tests only: the real one needs Docker + Bazel + an ARM board)."""
import os, sys, time
sys.path.insert(0, {repo!r})
FLAGS = [f for f in """graph num_threads warmup_runs num_runs min_secs warmup_min_secs max_secs input_layer
    input_layer_shape input_layer_value_files output_filepath use_reference_bconv use_indirect_bgemm
    use_xnnpack report_peak_memory_footprint enable_op_profiling help""".split() if f not in {without!r}]
args, unconsumed = {}, []
for a in sys.argv[1:]:
    key, _, value = a[2:].partition("=")
    if not a.startswith("--") or key not in FLAGS:
        unconsumed.append(a)
        continue
    args[key] = value or "true"
if "help" in args:
    print("Flags:", file=sys.stderr)
    for f in FLAGS:
        print("\t--%s=\tstring\toptional" % f, file=sys.stderr)
    sys.exit(1)
if unconsumed:
    print("WARN: Unconsumed cmdline flags: " + " ".join(unconsumed), file=sys.stderr)
def flag(name, default):
    return args.get(name, "true" if default else "false") == "true"
import numpy as np
from bnn_deploy.runtimes.lce import _wrapper_module  # LCE's interpreter without importing TensorFlow
reference, indirect = flag("use_reference_bconv", False), flag("use_indirect_bgemm", False)
xnnpack = flag("use_xnnpack", True)
threads = int(args["num_threads"])
print("INFO: STARTING!")
print("INFO: Num threads: [%s]" % args["num_threads"])
print("INFO: Graph: [%s]" % args["graph"])
data = open(args["graph"], "rb").read()
t0 = time.perf_counter()
interp = _wrapper_module().LiteInterpreter(data, threads, reference, indirect, xnnpack)
init_us = (time.perf_counter() - t0) * 1e6
shape = tuple(interp.input_shapes[0])
if "input_layer_value_files" in args:
    name, path = args["input_layer_value_files"].replace("::", "\0").split(":")
    assert name.replace("\0", ":") == args["input_layer"], (name, args["input_layer"])
    x = np.fromfile(path.replace("\0", ":"), dtype=np.float32).reshape(shape)
else:
    x = np.random.uniform(-0.5, 0.5, shape).astype(np.float32)
print("INFO: The input model file size (MB): %g" % (os.path.getsize(args["graph"]) / 2**20))
print("INFO: Initialized session in %gms." % (init_us / 1000))
def stat(a):
    a = np.asarray(a)
    if not len(a):
        return "count=0"
    if a.min() == a.max():
        return "count=%d curr=%d" % (len(a), a[-1]) + ("(all same)" if len(a) > 1 else "")
    return "count=%d first=%d curr=%d min=%d max=%d avg=%g std=%d" % (
        len(a), a[0], a[-1], a.min(), a.max(), a.mean(), a.std())
def bench(n):
    times, out = [], None
    for _ in range(n):
        time.sleep(float(os.environ.get("FAKE_LCE_SLEEP", "0")))
        t = time.perf_counter(); out = interp.predict([x]); times.append(int((time.perf_counter() - t) * 1e6))
    print("INFO: Running benchmark for at least %d iterations and at least 0 seconds but terminate if exceeding 150 seconds." % n)
    print("INFO: " + stat(times) + "\n")
    return times, out
w, _ = bench(int(args["warmup_runs"]))
r, out = bench(int(args["num_runs"]))
print("INFO: Inference timings in us: Init: %d, First inference: %d, Warmup (avg): %g, Inference (avg): %g" % (
    init_us, w[0] if w else 0, np.mean(w) if w else 0, np.mean(r)))
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.")
print("INFO: Memory footprint delta from the start of the tool (MB): init=%g overall=%g" % (peak / 2, peak))
if flag("report_peak_memory_footprint", False):
    print("INFO: Overall peak memory footprint (MB) via periodic monitoring: %g" % (peak * 1.05))
print("INFO: Memory status at the end of exeution:")
print("INFO: - VmRSS              : %d MB" % peak)
def table(rows, total):
    head = "%32s\t%16s\t%16s\t%16s\t%16s\t%16s\t%16s\t%s" % (
        "[node type]", "[first]", "[avg ms]", "[%]", "[cdf%]", "[mem KB]", "[times called]", "[Name]")
    lines, cdf = [head], 0.0
    for kind, ms, name in rows:
        cdf += ms
        lines.append("%32s\t%16.3f\t%16.3f\t%15.3f%%\t%15.3f%%\t%16.3f\t%16d\t%s" % (
            kind, ms, ms, 100 * ms / total, 100 * cdf / total, 0.0, 1, name))
    return lines
def profile(rows, header):
    total = sum(ms for _, ms, _ in rows) or 1.0
    kinds = {}
    for kind, ms, _ in rows:
        kinds.setdefault(kind, [0, 0.0])
        kinds[kind][0] += 1
        kinds[kind][1] += ms
    out = [header, "============================== Run Order =============================="]
    out += table(rows, total) + ["", "============================== Top by Computation Time =============================="]
    out += table(sorted(rows, key=lambda r: -r[1])[:10], total)
    out += ["", "Number of nodes executed: %d" % len(rows),
            "============================== Summary by node type =============================="]
    out.append("%32s\t%16s\t%16s\t%16s\t%16s\t%16s\t%16s" % (
        "[Node type]", "[count]", "[avg ms]", "[avg %]", "[cdf %]", "[mem KB]", "[times called]"))
    cdf = 0.0
    for kind, (count, ms) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        cdf += ms
        out.append("%32s\t%16d\t%16.3f\t%15.3f%%\t%15.3f%%\t%16.3f\t%16d" % (
            kind, count, ms, 100 * ms / total, 100 * cdf / total, 0.0, count))
    out += ["", "Timings (microseconds): " + stat([int(total * 1000)] * max(1, len(r))),
            "Memory (bytes): count=0", "%d nodes observed" % len(rows), "", ""]
    return out
if flag("enable_op_profiling", False):
    from bnn_deploy.benchmarking.profile import measure_ops
    from bnn_deploy.core.flatbuffer import read_flatbuffer
    from bnn_deploy.runtimes.lce import kernel_named
    ops = read_flatbuffer(data).ops
    runs = max(1, min(3, int(args["num_runs"])))
    kernel = kernel_named(reference, indirect, False)
    times, _ = measure_ops(data, x, kernel=kernel, threads=threads, runs=runs, min_secs=0)
    rows = []
    for op, t in zip(ops, times):
        name = "[%s]:%d" % (", ".join(op.output_names), op.index)
        if xnnpack and not op.kind.startswith("Lce") and rows and rows[-1][0] == "TfLiteXNNPackDelegate":
            rows[-1] = ("TfLiteXNNPackDelegate", rows[-1][1] + t["ms"], name)
        elif xnnpack and not op.kind.startswith("Lce"):
            rows.append(("TfLiteXNNPackDelegate", t["ms"], name))
        else:
            rows.append((op.kind, t["ms"], name))
    partitions = 0
    for i, (kind, ms, name) in enumerate(rows):
        if kind == "TfLiteXNNPackDelegate":  # the delegate node comes after the model's own nodes
            rows[i] = (kind, ms, name.rsplit(":", 1)[0] + ":%d" % (len(ops) + partitions))
            partitions += 1
    init = profile([("AllocateTensors", init_us / 1000, "AllocateTensors/0")], "Profiling Info for Benchmark Initialization:")
    print("\n".join(["INFO: " + init[0]] + init[1:]))
    runs_profile = profile(rows, "Operator-wise Profiling Info for Regular Benchmark Runs:")
    print("\n".join(["INFO: " + runs_profile[0]] + runs_profile[1:]))
if "output_filepath" in args and out is not None:
    with open(args["output_filepath"], "wb") as fh:
        for o in out:
            fh.write(np.ascontiguousarray(o, dtype=np.float32).tobytes())
'''


def write_fake_benchmark(folder: Path, *, without: tuple[str, ...] = ()) -> Path:
    """Write the stand-in as an executable ``lce_benchmark_model`` script in ``folder``.

    ``without``: flags this build lacks (an older tool): ``--help`` does not list them and they are
    ignored with the real tool's warning.
    """
    path = folder / "lce_benchmark_model"
    source = FAKE_LCE_BENCHMARK.replace("{python}", sys.executable).replace(
        "{repo!r}", repr(str(Path(bnn_deploy.__file__).resolve().parent.parent))
    )
    source = source.replace("{without!r}", repr(set(without)))
    path.write_text(source)
    path.chmod(0o755)
    return path
