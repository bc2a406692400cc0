"""Print how long a fresh install takes and how large its ``.venv`` is (the README's set-up figures).

    python benchmarks/fresh_install.py                  # make install (what `make demo` installs)
    python benchmarks/fresh_install.py --target install-dev   # with the test extras (what `make test` installs)

Clones this checkout's HEAD into a temporary folder (so nothing of this working tree's ``.venv`` is
reused), runs ``make TARGET`` there and prints its wall time and ``du -sh .venv``. pip's download cache
is whatever this machine has: the first install on a machine also downloads ~1 GB of wheels, which
this does not time. The clone is deleted afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="install", help="the make target to time (default install)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bnn-fresh-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        start = time.perf_counter()
        proc = subprocess.run(["make", args.target], cwd=clone, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"make {args.target} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        size = subprocess.run(["du", "-sh", str(clone / ".venv")], capture_output=True, text=True, check=True)
        print(f"make {args.target} on a fresh clone: {seconds:.1f} s; .venv {size.stdout.split()[0]}")


if __name__ == "__main__":
    main()
