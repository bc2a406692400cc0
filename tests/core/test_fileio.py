"""bnn_deploy.core.fileio on real files: digests, atomic writes, staged directories."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from bnn_deploy.core.fileio import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    replace_dir,
    sha256_bytes,
    sha256_file,
    staged_dir,
    umask,
)


def _names(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_027():
    """Run with umask 027, so "umask permissions" differ from both 0600 and the usual 0644."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_sha256_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read block, not a multiple of it
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == sha256_bytes(b"") == hashlib.sha256(b"").hexdigest()


def test_umask_reads_without_changing_it(umask_027):
    assert umask() == umask_027
    assert umask() == umask_027


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path, umask_027):
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"first")
    path.chmod(0o600)  # the old file's mode is not carried over
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second"
    assert _names(tmp_path) == ["out.bin"]
    assert _mode(path) == 0o666 & ~umask_027 == 0o640  # umask permissions, not mkstemp's 0600
    atomic_write_text(tmp_path / "note.txt", "héllo\n")
    assert (tmp_path / "note.txt").read_text(encoding="utf-8") == "héllo\n"
    assert _mode(tmp_path / "note.txt") == 0o640
    assert _names(tmp_path) == ["note.txt", "out.bin"]


def test_explicit_mode_wins_over_umask(tmp_path, umask_027):
    atomic_write_bytes(tmp_path / "tool", b"#!/bin/sh\n", 0o755)
    assert _mode(tmp_path / "tool") == 0o755


def test_atomic_path_writes_by_name_in_the_same_directory(tmp_path):
    path = tmp_path / "model.pt"
    with atomic_path(path, suffix=".partial") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.pt.") and tmp.name.endswith(".partial")
        assert tmp.is_file() and not path.exists()
        tmp.write_bytes(b"weights")
    assert path.read_bytes() == b"weights"
    assert _names(tmp_path) == ["model.pt"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failure_inside_removes_temp_and_keeps_old_file(tmp_path, error):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise error
    assert path.read_bytes() == b"old"
    assert _names(tmp_path) == ["out.bin"]


def test_block_may_remove_its_temp_file(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "x") as tmp:
        tmp.unlink()
        raise ValueError("gone already")
    assert _names(tmp_path) == []


def test_failed_rename_removes_temp(tmp_path):
    (tmp_path / "taken").mkdir()  # os.replace of a file onto a directory fails
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "taken", b"data")
    assert _names(tmp_path) == ["taken"]


def test_missing_directory_fails_before_the_block(tmp_path):
    ran = []
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "nowhere" / "out.bin"):
        ran.append(True)
    assert ran == []


def test_staged_dir_replaces_whole_with_umask_permissions(tmp_path, umask_027):
    out = tmp_path / "export"
    out.mkdir()
    (out / "stale.txt").write_text("old export")
    with staged_dir(out) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".export.")
        assert (out / "stale.txt").exists()  # the old directory stays until the new one is complete
        (staging / "new.txt").write_text("new export")
    assert _names(out) == ["new.txt"]
    assert _names(tmp_path) == ["export"]
    assert _mode(out) == 0o777 & ~umask_027 == 0o750  # not mkdtemp's 0700
    with staged_dir(tmp_path / "fresh") as staging:
        (staging / "a.txt").write_text("a")
    assert _names(tmp_path / "fresh") == ["a.txt"]
    assert _names(tmp_path) == ["export", "fresh"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_staged_dir_failure_leaves_target_as_it_was(tmp_path, error):
    out = tmp_path / "export"
    out.mkdir()
    (out / "kept.txt").write_text("old")
    with pytest.raises(type(error)), staged_dir(out) as staging:
        (staging / "partial.txt").write_text("half")
        raise error
    assert _names(out) == ["kept.txt"]
    assert _names(tmp_path) == ["export"]
    with pytest.raises(RuntimeError), staged_dir(tmp_path / "fresh"):
        raise RuntimeError("boom")
    assert _names(tmp_path) == ["export"]


def test_replace_dir_puts_the_old_directory_back_when_the_rename_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("old")
    with pytest.raises(FileNotFoundError):
        replace_dir(tmp_path / "does-not-exist", out)
    assert _names(out) == ["kept.txt"]
    assert _names(tmp_path) == ["out"]
