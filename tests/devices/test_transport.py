"""The transport's process-group bookkeeping, on this machine (no board, no server)."""

from __future__ import annotations

import subprocess

from bnn_deploy.devices.transport import RemoteGroup, kill_group_command, split_group, wrap_command
from support.devices import alive, wait_until


def test_wrapped_command_announces_its_group_and_start_time():
    out = subprocess.run(["sh", "-c", wrap_command("echo body")], capture_output=True, text=True, check=True).stdout
    group, rest = split_group(out)
    assert group is not None and group.start.isdigit() and rest == "body\n"
    assert split_group("123")[0] is None  # an incomplete first line: the PID may still be growing
    assert split_group("ERROR: no such file\nx") == (None, "ERROR: no such file\nx")


def test_remembered_group_is_killed_only_while_it_is_still_ours():
    """After a lost connection the PID may belong to a new process: a kill checks the start time."""
    proc = subprocess.Popen(
        ["sh", "-c", wrap_command("sleep 60 & wait")], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        group, _ = split_group(proc.stdout.readline())
        stranger = RemoteGroup(group.pid, str(int(group.start) + 1))
        subprocess.run(["sh", "-c", kill_group_command(stranger, if_same=True)], check=True)
        assert alive(group.pid)
        subprocess.run(["sh", "-c", kill_group_command(group, if_same=True)], check=True)
        wait_until(lambda: proc.poll() is not None, 5, "the group to be killed")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
