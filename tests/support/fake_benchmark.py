"""A stand-in ``lce_benchmark_model``: a script that prints the real tool's output lines."""

from __future__ import annotations

import sys
from pathlib import Path

FAKE_LCE_BENCHMARK = r'''#!{python}
"""Stand-in for lce_benchmark_model (tests only: the real one needs Docker + Bazel + an ARM board).

Same flags and output lines as TFLite's benchmark tool (TF 2.16 format); the graph really runs,
in LCE's Python interpreter. FAKE_LCE_SLEEP=S (seconds) makes each run sleep first.
"""
import os, sys, time
FLAGS = ("graph", "num_threads", "warmup_runs", "num_runs", "min_secs", "warmup_min_secs",
         "input_layer", "input_layer_shape", "input_layer_value_files", "output_filepath", "help")
args = {}
for a in sys.argv[1:]:
    key, _, value = a[2:].partition("=")
    if key not in FLAGS:
        print("ERROR: Unconsumed cmdline flags: " + a, file=sys.stderr)
        sys.exit(1)
    args[key] = value or "true"
if "help" in args:
    print("Flags:", file=sys.stderr)
    for f in FLAGS:
        print("\t--%s=\tstring\toptional" % f, file=sys.stderr)
    sys.exit(1)
import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter
print("INFO: STARTING!")
print("INFO: Num threads: [%s]" % args["num_threads"])
print("INFO: Graph: [%s]" % args["graph"])
t0 = time.perf_counter()
interp = Interpreter(open(args["graph"], "rb").read(), num_threads=int(args["num_threads"]),
                     use_indirect_bgemm=True)
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
def bench(n):
    times = []
    for _ in range(n):
        time.sleep(float(os.environ.get("FAKE_LCE_SLEEP", "0")))
        t = time.perf_counter(); out = interp.predict(x); times.append((time.perf_counter() - t) * 1e6)
    a = np.array(times)
    print("INFO: Running benchmark for at least %d iterations and at least 0 seconds but terminate if exceeding 150 seconds." % n)
    if not n:
        print("INFO: count=0\n")
        return np.zeros(1), None
    print("INFO: count=%d first=%d curr=%d min=%d max=%d avg=%g std=%d\n" % (n, a[0], a[-1], a.min(), a.max(), a.mean(), a.std()))
    return a, out
w, _ = bench(int(args["warmup_runs"]))
r, out = bench(int(args["num_runs"]))
print("INFO: Inference timings in us: Init: %d, First inference: %g, Warmup (avg): %g, Inference (avg): %g" % (init_us, w[0], w.mean(), r.mean()))
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("INFO: Memory footprint delta from the start of the tool (MB): init=%g overall=%g" % (peak / 2, peak))
if "output_filepath" in args:
    outs = out if isinstance(out, list) else [out]
    with open(args["output_filepath"], "wb") as fh:
        for o in outs:
            fh.write(np.ascontiguousarray(o, dtype=np.float32).tobytes())
'''


def write_fake_benchmark(folder: Path) -> Path:
    """Write the stand-in as an executable ``lce_benchmark_model`` script in ``folder``."""
    path = folder / "lce_benchmark_model"
    path.write_text(FAKE_LCE_BENCHMARK.replace("{python}", sys.executable))
    path.chmod(0o755)
    return path
