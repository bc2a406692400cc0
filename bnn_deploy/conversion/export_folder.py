"""The export folder: what a (re-)export may touch, and the order that keeps it consistent.

Rules (``docs/manifest.md``, "Re-export"):

* ``--out`` is a new or empty folder, or a previous export (it has ``manifest.json``, or the
  journal of an export that was interrupted while replacing its files). Any other non-empty folder
  is refused: it is someone's files.
* The new artifacts are built and checked in a hidden staging folder inside ``--out``; until every
  one passed, nothing the user can see changes.
* Then, in this order: a journal listing the old and new files is written, the old
  ``manifest.json`` is removed, the files the *previous manifest listed* are replaced or removed,
  the new files are moved in, results derived from the old artifacts (``eval/``, written by
  ``bnn-deploy eval``) are removed, and the new ``manifest.json`` is written **last**; then the
  journal goes. A run killed at any point therefore never leaves a manifest naming missing or old
  files (at worst no manifest, and the next export finishes the job).
* Files the tool did not write — a user's notes, their own checkpoints — are never touched.
* One export per folder at a time: the folder is locked (``flock``), and a second export fails at
  once saying so. Staging folders left by killed runs are removed under that lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.fileio import Busy, atomic_write_text, locked
from bnn_deploy.core.manifest import MANIFEST, Manifest, manifest_text

JOURNAL = ".bnn-deploy-replacing.json"
STAGING_PREFIX = ".bnn-deploy-staging-"
EVAL_DIR = "eval"
EVAL_JSON = "eval.json"


@dataclass
class Changes:
    """What committing an export did to the folder (reported to the user)."""

    written: list[str] = field(default_factory=list)  # new artifact files
    replaced: list[str] = field(default_factory=list)  # previous artifacts overwritten by a new one
    removed: list[str] = field(default_factory=list)  # previous artifacts or derived results removed
    kept: list[str] = field(default_factory=list)  # files the tool did not write, left alone


def previous_files(out: Path) -> list[str] | None:
    """The files the folder's previous export owns (manifest or journal), or None if it is not an export."""
    journal = out / JOURNAL
    if journal.is_file():
        try:
            data = json.loads(journal.read_text())
            return sorted(set(data.get("old", [])) | set(data.get("new", [])))
        except (OSError, ValueError, AttributeError):
            return []
    manifest = out / MANIFEST
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text())
        files = [a.get("file") for a in data.get("artifacts", []) if isinstance(a, dict)]
    except (OSError, ValueError, AttributeError):
        files = []
    # Only plain names inside the folder: a hand-edited manifest must not make us delete elsewhere.
    return sorted({f for f in files if isinstance(f, str) and f and Path(f).name == f and not f.startswith(".")})


def check_out(out: Path, sources: list[str]) -> list[str]:
    """Refuse an ``--out`` the export may not use, before any work; returns the previous export's files."""
    if out.exists() and not out.is_dir():
        raise BnnDeployError(f"--out {out} is a file; give a directory path")
    old = previous_files(out) if out.is_dir() else []
    visible = [p.name for p in out.iterdir() if not p.name.startswith(STAGING_PREFIX)] if out.is_dir() else []
    if old is None and visible:
        raise BnnDeployError(
            f"--out {out} is not empty and is not a bnn-deploy export (no {MANIFEST}); choose an empty or new directory"
        )
    parent = next(p for p in [out, *out.parents] if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BnnDeployError(
            f"cannot write --out {out}: {parent} is not a writable directory; choose a writable location"
        )
    owned = {(out / f).resolve() for f in (old or [])}
    for source in sources:
        if Path(source).resolve() in owned:
            raise BnnDeployError(
                f"{source} is an artifact of the export in {out}, which this export replaces; "
                "copy it elsewhere first or choose another --out"
            )
    return old or []


@contextlib.contextmanager
def export_folder(out: Path, sources: list[str]) -> Iterator[Path]:
    """Lock ``out`` (created if missing) and yield a staging folder inside it; see the module docstring.

    On any failure the staging folder is removed, and so are the folders this created.
    """
    check_out(out, sources)
    created = [p for p in reversed([out, *out.parents]) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BnnDeployError(f"cannot write --out {out}: {exc.strerror or exc}; choose a writable location") from exc
    try:
        with locked(out, str(out)):
            _remove_stale_staging(out)
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
            try:
                yield staging
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except Busy as exc:
        raise BnnDeployError(
            f"another bnn-deploy export is writing {out} right now; wait for it to finish or choose another --out"
        ) from exc
    except BaseException:
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only if still empty
        raise


def _remove_stale_staging(out: Path) -> None:
    """Staging folders of killed runs (the lock is ours, so no live export owns them)."""
    for path in out.glob(f"{STAGING_PREFIX}*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def commit(out: Path, staging: Path, manifest: Manifest) -> Changes:
    """Swap the staged artifacts in, in the order of the module docstring; the manifest goes last."""
    old = previous_files(out) or []
    new = [a.file for a in manifest.artifacts]
    changes = Changes(written=new, replaced=sorted(set(old) & set(new)))
    atomic_write_text(out / JOURNAL, json.dumps({"old": old, "new": new}) + "\n")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out / MANIFEST)
    for name in sorted(set(old) - set(new)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(out / name)
            changes.removed.append(name)
    for name in new:
        os.replace(staging / name, out / name)
    changes.removed += remove_derived(out)
    atomic_write_text(out / MANIFEST, manifest_text(manifest))
    os.unlink(out / JOURNAL)
    changes.kept = sorted(
        p.name for p in out.iterdir() if p.name not in set(new) | {MANIFEST, EVAL_DIR} and not p.name.startswith(".")
    )
    return changes


def remove_derived(out: Path) -> list[str]:
    """Remove ``eval``'s results in ``out/eval`` (they describe the replaced artifacts): the files its
    ``eval.json`` lists and ``eval.json`` itself; anything else there stays, and so does the folder then."""
    folder = out / EVAL_DIR
    record = folder / EVAL_JSON
    if not record.is_file():
        return []
    try:
        listed = json.loads(record.read_text()).get("files_written", [])
    except (OSError, ValueError, AttributeError):
        listed = []
    removed = []
    for rel in [*listed, EVAL_JSON]:
        path = (folder / str(rel)).resolve()
        if folder.resolve() in path.parents and path.is_file():
            path.unlink()
            removed.append(f"{EVAL_DIR}/{rel}")
    for directory in sorted([p for p in folder.rglob("*") if p.is_dir()] + [folder], key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only empty ones
    return removed
