"""Run a command with its stderr on a pseudo-terminal, as a user's shell would (progress bars show there)."""

from __future__ import annotations

import os
import subprocess
import sys


def read_terminal(args: list[str], *, columns: int = 0, timeout: float = 600) -> str:
    """Run ``args`` with stderr on a new pseudo-terminal (``columns`` wide; 0: it does not say) and stdout
    discarded; returns what was written to the terminal. The command must succeed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    master, slave = os.openpty()
    if columns:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(args, stderr=slave, stdout=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the command closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.wait(timeout=timeout) == 0, text[-3000:]
    return text
