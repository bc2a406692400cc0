"""What a file handed over as a checkpoint really is, when it is not one.

``torch.load`` describes any file it cannot read as a failed unpickling, and with
``weights_only=True`` that reads as "this needs full unpickling": users were steered toward the
unsafe ``--trust-pickle`` for an ``.onnx`` file bnn-deploy itself wrote, for random bytes or for
JSON. So before ``torch.load`` runs, the first bytes are checked: ``torch.save`` writes a zip
archive holding ``data.pkl`` (or, with the legacy format, a pickle that starts with PyTorch's magic
number). Anything else is named — ONNX, TFLite, NumPy, HDF5, safetensors, a Git LFS pointer, an
HTML page, JSON or text, a plain pickle — with what to run instead.
"""

from __future__ import annotations

import re
import zipfile

_HEAD = 4096
_TORCH_LEGACY_MAGIC = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")  # pickled in the first bytes
_RESAVE = "give the .pt/.pth file saved with torch.save (bnn-deploy models lists the bundled ones)"
_ONNX_HINT = (
    "deploy it with `bnn-deploy export MODEL.onnx --input-size WxH` (the name must end in .onnx), "
    "then eval or bench the export folder"
)
# (bytes, offset, what the file is, what to do instead)
_SIGNATURES = (
    (
        b"TFL3",
        4,
        "a TFLite flatbuffer (an exported artifact)",
        "pass the export folder it belongs to (`bnn-deploy eval DIR`, `bnn-deploy bench DIR`) or export "
        "the model's checkpoint or .onnx file",
    ),
    (b"\x93NUMPY", 0, "a NumPy .npy array", _RESAVE),
    (b"\x89HDF\r\n\x1a\n", 0, "an HDF5 file (Keras weights?)", _RESAVE),
    (b"\x1f\x8b", 0, "a gzip archive", "unpack it first, or " + _RESAVE),
    (b"version https://git-lfs", 0, "a Git LFS pointer (the file itself was never fetched)", "run `git lfs pull`"),
)


def not_a_checkpoint(path: str) -> str | None:
    """One line saying what ``path`` is and what to do, if it is clearly not a PyTorch checkpoint; else None."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if head.startswith(b"PK\x03\x04"):
        return _zip(path)
    if _TORCH_LEGACY_MAGIC in head[:32]:
        return None
    for magic, offset, what, todo in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return f"{path} is {what}, not a PyTorch checkpoint; {todo}"
    if _is_onnx(path, head):
        return f"{path} is an ONNX model, not a PyTorch checkpoint; {_ONNX_HINT}"
    if _is_safetensors(head):
        return f"{path} is a safetensors file, not a PyTorch checkpoint; load it with safetensors and {_RESAVE}"
    if str(path).lower().endswith(".onnx"):
        return f"{path} has an .onnx name but is neither a valid ONNX model nor a PyTorch checkpoint; re-export it"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return (
            f"{path} is a Python pickle that torch.save did not write (no PyTorch magic number); load it "
            "with the code that wrote it and save model.state_dict() with torch.save"
        )
    text = _text(head)
    if text is not None:
        return f"{path} is {text}, not a PyTorch checkpoint; {_RESAVE}"
    return (
        f"{path} is not a PyTorch checkpoint: torch.save writes a zip archive (or a pickle with PyTorch's "
        f"magic number), and this file starts with bytes {head[:8].hex(' ')}; it is damaged or something "
        "else; re-download or re-save it"
    )


def _zip(path: str) -> str | None:
    """None for a PyTorch zip (it holds ``*/data.pkl``) or an unreadable one (torch says "truncated")."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if not names or any(name.endswith("data.pkl") for name in names):
        return None
    if all(name.endswith(".npy") for name in names):
        what = "a NumPy .npz archive"
    elif "config.json" in names and any(name.endswith(".h5") for name in names):
        what = "a Keras .keras model"
    else:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        what = f"a zip archive ({shown}) without PyTorch's data.pkl"
    return f"{path} is {what}, not a PyTorch checkpoint; {_RESAVE}"


def _is_onnx(path: str, head: bytes) -> bool:
    """An ONNX ModelProto (field 1, ir_version, comes first) with a graph; parsed only if it looks like one."""
    if head[:1] != b"\x08" and not str(path).lower().endswith(".onnx"):
        return False
    try:
        import onnx

        model = onnx.load_model(path, load_external_data=False)
    except Exception:  # not ONNX after all: the caller goes on to the next guess
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0


def _is_safetensors(head: bytes) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    size = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    return 2 <= size < 100_000_000 and head[8:10] in (b'{"', b"{'", b"{ ")


def _text(head: bytes) -> str | None:
    """ "JSON", "an HTML page" or "a text file (starts with ...)" for readable text; None for binary data."""
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the head
            return None
        text = head[: exc.start].decode("utf-8")
    start = text.lstrip()[:200]
    if start[:1] in ("{", "["):
        return "a JSON file"
    if re.match(r"<(!doctype html|html|\?xml)", start, re.I):
        return "an HTML/XML page (a failed download?)"
    first = start.splitlines()[0][:40] if start else ""
    return f"a text file (it starts with {first!r})"


def describe_pickled_global(message: str) -> tuple[str, bool] | None:
    """``(name, blocked)`` of the Python global a weights-only load refused (``__main__.Net``;
    ``blocked``: torch never allows its module, e.g. ``posix.system``), or None if it refused something else."""
    match = re.search(r"\bGLOBAL ([\w.]+)", message)
    if match is None:
        return None
    return match.group(1), bool(re.search(r"whose module \S+ is blocked", message))
