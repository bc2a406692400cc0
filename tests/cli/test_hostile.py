"""The fast cases of the hostile-input sweep (``benchmarks/hostile_sweep.py``), each a test.

Bad checkpoints, images, options, inventories and corrupted exports that fail (or pass) before any
model is converted: each must end in one ``error:`` line (or exit 0 for an odd but valid input),
say what the case is about, leave its outputs and the user's files as they were, and never show a
traceback or an internal error. They run through ``bnn_deploy.cli.main`` in this process (an
interpreter per case would take minutes); the sweep script runs them, and the slow ones — exports,
signals, a real sshd — in fresh interpreters.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from support.exports import tiny_export

_SPEC = importlib.util.spec_from_file_location(
    "hostile_sweep", Path(__file__).resolve().parents[2] / "benchmarks" / "hostile_sweep.py"
)
sweep = importlib.util.module_from_spec(_SPEC)
sys.modules["hostile_sweep"] = sweep
_SPEC.loader.exec_module(sweep)

FAST = [case for case in sweep.cases() if case.fast]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sweep's inputs, with the session's tiny export as the good export."""
    work = tmp_path_factory.mktemp("hostile")
    return work, sweep.prepare(work, export=tiny_export(tmp_path_factory))


def test_the_sweep_names_each_case_once_and_keeps_fast_ones_self_contained():
    names = [case.name for case in sweep.cases()]
    assert len(names) == len(set(names))
    assert len(FAST) >= 100
    assert not [case.name for case in FAST if case.needs or case.interrupt]


@pytest.mark.parametrize("case", FAST, ids=lambda case: case.name)
def test_hostile_input_is_handled(world, case):
    work, good = world
    outcome = sweep.run_case(case, work, good, in_process=True)
    assert outcome.handled, sweep.row(outcome)


def test_summary_counts_what_it_saw():
    case = sweep.Case("x", [])
    good = sweep.Outcome(case, 1, "error: x", 0.1, False, [], [])
    traceback = sweep.Outcome(case, 1, "", 0.1, True, [], [])
    lost = sweep.Outcome(case, 1, "error: y", 0.1, False, ["out changed by a command that failed"], [])
    assert sweep.summary([good, traceback, lost]) == "3 bad inputs, 1 handled, 1 tracebacks, 1 lost"
