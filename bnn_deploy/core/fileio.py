"""Shared file helpers: SHA-256 digests, atomic file writes and atomic directory replacement.

Atomic here means a reader of ``path`` sees either the old file (or nothing) or the complete new
one, never a half-written file: the data goes to a temporary file in the same directory (so the
final ``os.replace`` is a rename within one file system), is flushed to disk with ``fsync``, and
only then is renamed over ``path``. If anything fails — including ``KeyboardInterrupt`` — the
temporary file is removed and ``path`` is left as it was.

``tempfile`` creates private files (0600) and directories (0700); the helpers give the result the
permissions a plain ``open(path, "w")`` or ``mkdir`` would (``0o666`` / ``0o777`` minus the umask)
unless a mode is given.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_BLOCK = 1 << 20
DEFAULT_OUT_ROOT = "bnn-deploy-out"  # where commands write when no --out is given


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def umask() -> int:
    """The process's current umask (``os.umask`` can only be read by setting it, so it is set back)."""
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, it becomes ``path``.

    The temporary file (``.<name>.<random><suffix>`` in ``path``'s directory) already exists,
    empty, so the block may write it by name (``torch.save``, ``onnx.save``, ``shutil.copyfile``).
    On success it is fsynced, given ``mode`` (default ``0o666`` minus the umask) and moved over
    ``path`` with ``os.replace``. On any exception, ``KeyboardInterrupt`` included, it is removed
    and the exception propagates. ``path``'s directory must exist: an ``OSError`` from creating
    the temporary file is raised before the block runs.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~umask() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, mode: int | None = None, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding), mode)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new hidden directory beside ``path``; when the block succeeds, it becomes ``path``.

    The staging directory is ``.<name>.<random>.partial`` in ``path``'s parent, which must exist
    (an ``OSError`` from creating it is raised before the block runs). On success it gets
    ``0o777`` minus the umask and replaces ``path`` whole via :func:`replace_dir`; on any exception,
    ``KeyboardInterrupt`` included, it is deleted and ``path`` is left as it was.
    """
    path = Path(path)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~umask())
        replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_dir(source: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Rename directory ``source`` to ``dest``, replacing a directory already at ``dest`` whole.

    A previous ``dest`` is first renamed aside (hidden, in the same parent) and deleted only once
    ``source`` is in place; if that rename fails, it is put back.
    """
    source, dest = Path(source), Path(dest)
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
        os.rmdir(old)  # only its unique name is wanted
        os.rename(dest, old)
    try:
        os.rename(source, dest)
    except BaseException:
        if old is not None:
            os.rename(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- locks and scratch folders

_ALIVE = ".alive"  # a file a live scratch folder holds locked; a folder whose lock is free is stale
_STALE_AFTER_S = 60  # younger folders may be between creation and locking


class Busy(Exception):
    """Another process holds the lock (``str(err)`` names what is busy)."""


@contextlib.contextmanager
def locked(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a file or a directory) for the block; :class:`Busy` if taken.

    The lock belongs to the open file description, so it is released when the process dies,
    however it dies: a killed run never leaves a lock behind.
    """
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy(what) from exc
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A private temporary directory, removed at the end, held locked while in use.

    Scratch folders of runs that were killed (SIGKILL, power loss) would stay in the temp folder
    for ever; :func:`remove_stale_scratch` removes those whose lock is free.
    """
    remove_stale_scratch(prefix)
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        (path / _ALIVE).touch()
        with locked(path / _ALIVE, str(path)):
            yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_scratch(prefix: str, root: str | os.PathLike | None = None) -> list[Path]:
    """Remove this user's ``<root>/<prefix>*`` scratch folders that no live process holds; return them."""
    import fcntl

    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            info = path.lstat()
            if not path.is_dir() or path.is_symlink() or info.st_uid != os.getuid():
                continue
            if time.time() - info.st_mtime < _STALE_AFTER_S:
                continue
            fd = os.open(path / _ALIVE, os.O_RDONLY)
        except OSError:
            continue  # no lock file: not one of ours, or still being created
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # alive
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def check_output_path(path: str | os.PathLike | None, option: str, *, suffixes: tuple[str, ...] = ()) -> None:
    """Refuse, before any work, an output file that could not be written at the end.

    Its folder must exist and be writable, the path must not be a folder, and its name must end in
    one of ``suffixes`` (when given). ``None`` (not asked for) passes.
    """
    from bnn_deploy.core.errors import BnnDeployError

    if path is None:
        return
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise BnnDeployError(f"{option} {path}: give a path ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise BnnDeployError(f"{option} {path} is a folder; give a file path")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise BnnDeployError(f"cannot write {option} {path}: its folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise BnnDeployError(f"cannot write {option} {path}: permission denied; choose a writable location")


def check_output_dir(path: str | os.PathLike | None, option: str) -> None:
    """Refuse, before any work, an output folder that could not be created or written at the end.

    It must be a folder if it exists (and writable), else the nearest folder above it that exists
    must be writable (the missing ones are made there). ``None`` (not asked for) passes.
    """
    from bnn_deploy.core.errors import BnnDeployError

    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BnnDeployError(f"{option} {path} is a file, not a folder; give a folder path")
    base = next(p for p in [path.absolute(), *path.absolute().parents] if p.exists())
    if not base.is_dir():
        raise BnnDeployError(f"cannot write {option} {path}: {base} is a file, not a folder; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        where = "it" if base == path.absolute() else str(base)
        raise BnnDeployError(f"cannot write {option} {path}: {where} is not writable; choose a writable location")
