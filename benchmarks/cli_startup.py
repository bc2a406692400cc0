"""Print how long `bnn-deploy --help` and `bnn-deploy inspect` take (target: --help under 1.5 s).

python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def time_command(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bnn_deploy.cli", *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for command in (["--help"], ["inspect", "bbcu_m_x2_small", "--json"]):
        times = time_command(command, args.repeat)
        print(
            f"bnn-deploy {' '.join(command):<36} median {statistics.median(times):.3f} s  "
            f"min {min(times):.3f} s  max {max(times):.3f} s  (n={args.repeat})"
        )


if __name__ == "__main__":
    main()
