"""Feed bnn-deploy what a hostile (or unlucky) user would, and check that every case is handled.

    python benchmarks/hostile_sweep.py [--work DIR] [--only SUBSTRING] [--fast]

Re-creates the cases of issue 11's sweep (``../shared/hostile/cases-2026-11-30.md``) that can run on
this machine: bad checkpoints and images, bad options, corrupted exports, unreachable boards, a
changed host key on a real sshd, unwritable folders (``chattr +i``, which binds root too), signals
mid-export and mid-bench. Each case runs the real CLI in a fresh interpreter and prints one row —
``case | exit code | last line | time`` — then the summary line::

    N bad inputs, N handled, 0 tracebacks, 0 lost

computed from what it saw. A case is *handled* when it ends as it should (a one-line ``error:``
for a bad input, exit 0 for an odd but valid one, 130/143 for Ctrl-C/SIGTERM), with the message
it must give where that is the point of the case, no traceback, nothing lost and, for board runs,
nothing left running. *Traceback*: "Traceback" on stderr. *Lost*: a failed or interrupted command
left an output path changed or half-written (a staging or temporary file beside it), a successful
one left it incomplete, or a user's file was changed or removed.

Cases marked ``fast`` need nothing but the package and fail (or pass) in well under a second once
the libraries are imported: ``tests/cli/test_hostile.py`` runs them in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

ERROR_PREFIXES = ("error:", "Error:")


@dataclass
class Case:
    """One hostile input: the CLI arguments (``{W}``: the work folder, ``{E}``: a good export) and what must happen."""

    name: str
    args: list[str]
    expect: int | str = "error"  # "error" (non-zero, one-line error), "any" (only no traceback etc.), or the exit code
    says: str = ""  # the last line must contain this (where the wording is the point)
    never_says: str = ""  # ... and must not contain this
    watch: tuple[str, ...] = ()  # outputs: unchanged on failure, complete on success
    keep: tuple[str, ...] = ()  # a user's files: byte for byte the same afterwards, whatever happened
    forbid: tuple[str, ...] = ()  # files that must never appear (code injection markers)
    env: dict = field(default_factory=dict)
    cwd: str = ""  # the working folder, relative to {W}
    fast: bool = False
    needs: str = ""  # "sshd", "chattr", "aarch64" — skipped (and said) when this machine lacks it
    interrupt: tuple[int, Callable[[str, Path], bool]] | None = None  # (signal, started(stderr, W))
    setup: Callable[[Path], None] | None = None
    teardown: Callable[[Path], None] | None = None
    alive_after: Callable[[Path], list[int]] | None = None  # processes the case must not leave running
    timeout: float = 600.0


@dataclass
class Outcome:
    case: Case
    code: int | None
    last: str
    seconds: float
    traceback: bool
    lost: list[str]
    problems: list[str]

    @property
    def handled(self) -> bool:
        return not self.problems and not self.lost and not self.traceback


# ---------------------------------------------------------------- snapshots: what "lost" means


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(path: Path) -> dict[str, str] | None:
    """``{relative path: sha256}`` of a file or folder (symlinks as their target text); None if absent."""
    if path.is_symlink():
        return {".": "link:" + os.readlink(path)}
    if path.is_file():
        return {".": _digest(path)}
    if not path.is_dir():
        return None
    found = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        found[rel] = "link:" + os.readlink(p) if p.is_symlink() else (_digest(p) if p.is_file() else "dir")
    return found


def partials(path: Path) -> list[str]:
    """Temporary or staging leftovers beside or inside an output path."""
    names = []
    parent = path.parent
    if parent.is_dir():
        names += [p.name for p in parent.iterdir() if p.name.startswith(f".{path.name}.")]
    if path.is_dir():
        names += [
            p.name for p in path.iterdir() if p.name.startswith((".bnn-deploy-staging-", ".bnn-deploy-replacing"))
        ]
    return names


def complete(path: Path) -> str | None:
    """Why an output a successful command wrote is not complete, or None."""
    if path.is_dir() and (path / "manifest.json").exists():
        from bnn_deploy.core.errors import BnnDeployError
        from bnn_deploy.core.exports import read_export

        try:
            read_export(path)
        except BnnDeployError as exc:
            return f"{path.name}: {exc}"
    elif path.suffix == ".json" and path.is_file():
        try:
            json.loads(path.read_text())
        except ValueError:
            return f"{path.name} is not whole JSON"
    return None


# ---------------------------------------------------------------- running one case


def _expand(text: str, work: Path, export: Path) -> str:
    return text.replace("{W}", str(work)).replace("{E}", str(export))


def run_case(case: Case, work: Path, export: Path, *, in_process: bool = False) -> Outcome:
    """Run ``case`` (in a fresh interpreter, or through ``bnn_deploy.cli.main`` here) and judge it."""
    if case.setup is not None:
        case.setup(work)
    watch = [Path(_expand(w, work, export)) for w in case.watch]
    keep = [Path(_expand(k, work, export)) for k in case.keep]
    before = {w: snapshot(w) for w in watch + keep}
    args = [_expand(a, work, export) for a in case.args]
    env = {k: _expand(v, work, export) for k, v in case.env.items()}
    cwd = work / case.cwd
    started = time.perf_counter()
    try:
        if in_process:
            code, err = _in_process(args, env, cwd)
        else:
            code, err = _subprocess(case, args, env, cwd, work)
    finally:
        if case.teardown is not None:
            case.teardown(work)
    seconds = time.perf_counter() - started
    lines = [ln for ln in err.splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    problems = _judge(case, code, err, last, work, export)
    lost = _lost(watch, before, code) + [f"{k.name} (a user's file) changed" for k in keep if snapshot(k) != before[k]]
    return Outcome(case, code, last, seconds, "Traceback" in err, lost, problems)


def _judge(case: Case, code, err: str, last: str, work: Path, export: Path) -> list[str]:
    problems = []
    if case.expect == "error":
        if not code:
            problems.append(f"exit {code}, expected an error")
        elif not last.startswith(ERROR_PREFIXES) or sum(ln.startswith(ERROR_PREFIXES) for ln in err.splitlines()) != 1:
            problems.append("not one error line")
    elif case.expect != "any" and code != case.expect:
        problems.append(f"exit {code}, expected {case.expect}")
    if "internal error" in err:
        problems.append("internal error")
    if case.says and case.says not in last:
        problems.append(f"does not say {case.says!r}")
    if case.never_says and case.never_says in err:
        problems.append(f"says {case.never_says!r}")
    problems += [f"{p} appeared" for p in case.forbid if Path(_expand(p, work, export)).exists()]
    if case.alive_after is not None:
        left = case.alive_after(work)
        if left:
            problems.append(f"left running: {left}")
    return problems


def _lost(watch: list[Path], before: dict, code) -> list[str]:
    lost = []
    for path in watch:
        now = snapshot(path)
        if code == 0:
            if before[path] is not None and now is None:
                lost.append(f"{path.name} removed")
            why = complete(path)
            if why:
                lost.append(why)
        elif now != before[path]:
            lost.append(f"{path.name} changed by a command that failed")
        lost += [f"{path.name}: leftover {p}" for p in partials(path)]
    return lost


def _subprocess(case: Case, args: list[str], env: dict, cwd: Path, work: Path) -> tuple[int | None, str]:
    from support.devices import ctrl_c_default

    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bnn_deploy.cli", *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=ctrl_c_default,  # a sweep started in the background would pass SIGINT on ignored
    )
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + case.timeout
    try:
        if case.interrupt is not None:
            sig, started = case.interrupt
            while proc.poll() is None and not started("".join(chunks), work):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if proc.poll() is None:
                proc.send_signal(sig)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        chunks.append(f"\nerror: the sweep killed it after {case.timeout:g} s\n")
    reader.join(timeout=10)
    return proc.returncode, "".join(chunks)


def _in_process(args: list[str], env: dict, cwd: Path) -> tuple[int, str]:
    """``bnn_deploy.cli.main(args)`` with the case's environment and working folder; returns (code, stderr)."""
    from bnn_deploy.cli import main

    err, saved_env, cwd = io.StringIO(), dict(os.environ), os.getcwd()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return code, err.getvalue()


# ---------------------------------------------------------------- the inputs


def prepare(work: Path, export: Path | None = None) -> Path:
    """Make every input the cases use under ``work``; returns the good export ``{E}``.

    ``export``: a good export to copy (the tests pass the session's); else one is made (~15 s).
    """
    for part in (_checkpoints, _images, _devices):
        part(work)
    good = work / "out" / "E"
    if export is not None:
        shutil.copytree(export, good, symlinks=True)
    else:
        _make_export(work, good)
    _corrupt_exports(work, good)
    return good


def _tiny(arch: str = "bbcu_m", **config):
    import torch

    from bnn_deploy.models.registry import create_model

    torch.manual_seed(0)
    return create_model(arch, scale=2, num_feat=8, num_block=1, **config)


def _checkpoints(work: Path) -> None:
    import torch

    from bnn_deploy.models.checkpoint import save_checkpoint

    ck = work / "ck"
    ck.mkdir(parents=True)
    save_checkpoint(ck / "good.pt", _tiny())
    (ck / "empty.pth").write_bytes(b"")
    (ck / "truncated.pth").write_bytes((ck / "good.pt").read_bytes()[:3000])
    (ck / "random.pth").write_bytes(bytes([0xA1]) + os.urandom(8191))
    (ck / "json.pt").write_text(json.dumps({"params": {"conv_first.weight": [[1.0]]}}))
    (ck / "dir.pth").mkdir()
    (ck / "lfs.pth").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 1\n")
    (ck / "page.pth").write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>\n")
    sd = _tiny("bbcu_l").state_dict()
    torch.save({k: v for k, v in sd.items() if k != "body.0.body.0.binary_conv.weight"}, ck / "missing_key.pth")
    torch.save({k: v for k, v in sd.items() if k != "conv_last.bias"}, ck / "missing_key3.pth")
    torch.save({**sd, "extra.weight": torch.zeros(1)}, ck / "extra_key.pth")
    torch.save({**sd, "conv_first.weight": torch.zeros(8, 3, 5, 5)}, ck / "wrong_shape.pth")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.zeros(64)}, ck / "resnet18.pth")
    torch.save({k: v.double() for k, v in sd.items()}, ck / "float64.pth")
    torch.save({k: torch.full_like(v, float("nan")) for k, v in sd.items()}, ck / "nan.pth")
    _pickled_module(ck)
    _evil_pickle(ck, work / "PWNED")
    unicode_dir = ck / "ünï cödé"
    unicode_dir.mkdir()
    shutil.copy(ck / "good.pt", unicode_dir / "mödel ✓.pt")
    (ck / "tflite.pt").write_bytes((ROOT / "tests" / "data" / "lce-zoo" / "QuickNetSmall.tflite").read_bytes())
    _onnx_files(ck)


def _pickled_module(ck: Path) -> None:
    """A whole nn.Module whose class lives in a module the CLI cannot import (as challenge code saves)."""
    import torch

    mod_dir = ck / "mod"
    mod_dir.mkdir()
    (mod_dir / "hostile_bbcu.py").write_text(
        "from torch import nn\nclass BBCU(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.conv_first = nn.Conv2d(3, 8, 3)\n"
    )
    sys.path.insert(0, str(mod_dir))
    try:
        import hostile_bbcu

        torch.save(hostile_bbcu.BBCU(), ck / "pickled_module.pth")
    finally:
        sys.path.remove(str(mod_dir))
        sys.modules.pop("hostile_bbcu", None)


def _evil_pickle(ck: Path, marker: Path) -> None:
    """A checkpoint that runs a shell command when fully unpickled: loading it must never do that."""
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"params": Evil()}, ck / "evil.pth")


def _onnx_files(ck: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from bnn_deploy.conversion.onnx_export import export_onnx

    export_onnx(_tiny(), str(ck / "model.onnx"))
    (ck / "garbage.onnx").write_bytes(b"this is not a protobuf \x00\xff\x13" * 7)
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../../../../../etc/hostname")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 4)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, "H", "W"])],
        [weight],
    )
    onnx.save(helper.make_model(graph), str(ck / "traversal.onnx"))


def _images(work: Path) -> None:
    import numpy as np
    from PIL import Image

    img = work / "img"
    img.mkdir()
    rng = np.random.default_rng(0)
    rgb = (rng.random((48, 48, 3)) * 255).astype(np.uint8)
    (img / "notimage.png").write_text("not an image\n")
    Image.fromarray(rgb[:1, :1]).save(img / "1x1.png")
    Image.fromarray((rng.random((48, 48)) * 65535).astype(np.uint16)).save(img / "gray16.png")
    Image.fromarray(rgb).convert("RGBA").save(img / "rgba.png")
    transparent = np.zeros((48, 48, 4), np.uint8)
    Image.fromarray(transparent).save(img / "rgba_transparent.png")
    Image.fromarray(rgb).convert("L").save(img / "gray.png")
    Image.fromarray(rgb).convert("P").save(img / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(img / "cmyk.jpg")
    Image.fromarray(rgb).save(img / "good.png")
    data = (img / "good.png").read_bytes()
    (img / "truncated.png").write_bytes(data[: len(data) // 2])
    for name in ("gray16.png", "rgba.png", "gray.png", "cmyk.jpg", "notimage.png", "truncated.png", "1x1.png"):
        folder = work / "evimg" / Path(name).stem
        folder.mkdir(parents=True)
        shutil.copy(img / name, folder / name)
    (work / "evimg" / "empty").mkdir()
    (work / "up").mkdir()


def _make_export(work: Path, good: Path) -> None:
    from bnn_deploy.conversion.export import export_model

    export_model(
        work / "ck" / "good.pt",
        formats=["lce", "tflite-float", "onnx"],
        input_sizes=[(48, 32)],  # the default tile overlap (24 px) fits
        out_dir=good,
        min_parity_db=40,
        parity_photos=1,
    )


def _corrupt_exports(work: Path, good: Path) -> None:
    manifest = json.loads((good / "manifest.json").read_text())
    lce = next(a["file"] for a in manifest["artifacts"] if a["format"] == "lce")

    def variant(name: str, change: Callable[[Path], None]) -> None:
        path = work / "out" / name
        shutil.copytree(good, path)
        change(path)

    def flip(p: Path) -> None:
        data = bytearray((p / lce).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (p / lce).write_bytes(bytes(data))

    def edit(change: Callable[[dict], object]) -> Callable[[Path], None]:
        def apply(p: Path) -> None:
            data = json.loads((p / "manifest.json").read_text())
            data = change(data) or data
            (p / "manifest.json").write_text(json.dumps(data))

        return apply

    variant("exp_corrupt", flip)
    variant("exp_nomani", lambda p: (p / "manifest.json").unlink())
    variant("exp_badjson", lambda p: (p / "manifest.json").write_text('{"source": "\x01 broken'))
    variant("exp_missingart", lambda p: (p / lce).unlink())
    variant("fuzz_strentry", edit(lambda d: d["artifacts"].__setitem__(0, "x")))
    variant("fuzz_version", edit(lambda d: d.__setitem__("schema_version", "abc")))
    variant("fuzz_scale", edit(lambda d: d["source"].__setitem__("scale", "x")))
    variant("fuzz_list", edit(lambda d: [d]))
    variant("fuzz_traversal", edit(lambda d: d["artifacts"][0].__setitem__("file", "../../ck/good.pt")))


def _devices(work: Path) -> None:
    from support.fake_benchmark import write_fake_benchmark

    dev = work / "dev"
    dev.mkdir()
    (dev / "inv_bad.toml").write_text('[devices.kitchen-pi\nprofile = "pi4"\n')
    (dev / "inv_typo.toml").write_text('[devices.kitchen-pi]\nprofile = "pi4"\nhostname = "x"\n')
    (dev / "inv_badprofile.toml").write_text('[devices.kitchen-pi]\nprofile = "pi9"\n')
    (dev / "inv_badtype.toml").write_text('[devices.kitchen-pi]\nprofile = "pi4"\nport = "22"\n')
    (dev / "inv_binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    (dev / "inv_good.toml").write_text('[devices.kitchen-pi]\nprofile = "pi4"\nhost = "192.0.2.7"\n')
    (dev / "badkey").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
    write_fake_benchmark(dev)  # dev/lce_benchmark_model: a board runtime that is a #! script


# ---------------------------------------------------------------- helpers the cases use


def _free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (right now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chattr(flag: str, *relative: str) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        for rel in relative:
            path = work / rel
            path.mkdir(parents=True, exist_ok=True)
            subprocess.run(["chattr", flag, str(path)], check=True, capture_output=True)

    return apply


def _chattr_works() -> bool:
    """True if ``chattr +i`` makes a folder unwritable here (root included)."""
    import tempfile

    probe = Path(tempfile.mkdtemp(prefix="bnn-deploy-chattr-probe-"))
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        refused = not os.access(probe, os.W_OK)
        subprocess.run(["chattr", "-i", str(probe)], check=True, capture_output=True)
        return refused
    except OSError:
        return False
    finally:
        probe.rmdir()


def _copy_export(name: str) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        dest = work / "out" / name
        if not dest.exists():
            shutil.copytree(work / "out" / "E", dest)

    return apply


def _says(text: str) -> Callable[[str, Path], bool]:
    return lambda err, _work: text in err


def _aarch64_binary() -> Path | None:
    """An AArch64 ELF on this machine (the emulated board's Python, if the tests built it)."""
    cache = Path(os.environ.get("BNN_DEPLOY_TEST_CACHE", Path.home() / ".cache" / "bnn-deploy-tests"))
    found = sorted(cache.glob("arm64-*/root/usr/bin/python3.11"))
    return found[0] if found else None


# ---------------------------------------------------------------- the cases


def cases() -> list[Case]:
    """Every case, in the order of the 2026-11-30 sweep."""
    return [
        *_checkpoint_cases(),
        *_image_cases(),
        *_option_cases(),
        *_export_dir_cases(),
        *_bench_cases(),
        *_device_cases(),
        *_runtime_cases(),
        *_signal_cases(),
    ]


def _checkpoint_cases() -> list[Case]:
    out = ("{W}/out/ck_export",)
    export = ["export", "--input-size", "16x16", "--out", "{W}/out/ck_export"]
    not_pickle = "--trust-pickle"
    return [
        Case("ckpt_export_empty", [*export, "{W}/ck/empty.pth"], says="is empty", watch=out, fast=True),
        Case("ckpt_export_truncated", [*export, "{W}/ck/truncated.pth"], says="truncated", watch=out, fast=True),
        Case(
            "ckpt_export_random",
            [*export, "{W}/ck/random.pth"],
            says="not a PyTorch checkpoint",
            never_says=not_pickle,
            watch=out,
            fast=True,
        ),
        Case(
            "ckpt_export_missing_key",
            [*export, "{W}/ck/missing_key.pth"],
            says="no body.0.body.0.binary_conv.weight",
            watch=out,
            fast=True,
        ),
        Case("ckpt_export_wrong_shape", [*export, "{W}/ck/wrong_shape.pth"], says="wrong shape", watch=out, fast=True),
        Case("ckpt_export_resnet18", [*export, "{W}/ck/resnet18.pth"], says="cannot recognise", watch=out, fast=True),
        Case(
            "ckpt_export_pickled_module",
            [*export, "{W}/ck/pickled_module.pth"],
            says="--trust-pickle",
            watch=out,
            fast=True,
        ),
        Case("ckpt_export_evil", [*export, "{W}/ck/evil.pth"], forbid=("{W}/PWNED",), watch=out, fast=True),
        Case(
            "ckpt_export_json",
            [*export, "{W}/ck/json.pt"],
            says="is a JSON file",
            never_says=not_pickle,
            watch=out,
            fast=True,
        ),
        Case("ckpt_export_dir", [*export, "{W}/ck/dir.pth"], fast=True, watch=out),
        Case("ckpt_export_nonexist", [*export, "{W}/ck/nope.pth"], says="not found", watch=out, fast=True),
        Case("ckpt_export_lfs_pointer", [*export, "{W}/ck/lfs.pth"], says="git lfs pull", watch=out, fast=True),
        Case("ckpt_export_html_page", [*export, "{W}/ck/page.pth"], says="HTML", watch=out, fast=True),
        Case(
            "ckpt_inspect_random_trust",
            ["inspect", "{W}/ck/random.pth", "--trust-pickle"],
            says="not a PyTorch checkpoint",
            never_says=not_pickle,
            fast=True,
        ),
        Case(
            "ckpt_inspect_json_trust",
            ["inspect", "{W}/ck/json.pt", "--trust-pickle"],
            says="JSON",
            never_says=not_pickle,
            fast=True,
        ),
        Case(
            "ckpt_inspect_pickled_trust",
            ["inspect", "{W}/ck/pickled_module.pth", "--trust-pickle"],
            says="cannot be imported",
            fast=True,
        ),
        Case(
            "ckpt_inspect_pickled_notrust", ["inspect", "{W}/ck/pickled_module.pth"], says="--trust-pickle", fast=True
        ),
        Case(
            "ckpt_upscale_pickled_notrust",
            ["upscale", "{W}/ck/pickled_module.pth", "{W}/img/good.png", "-o", "{W}/up/p.png"],
            says="--trust-pickle",
            watch=("{W}/up/p.png",),
            fast=True,
        ),
        Case(
            "ckpt_eval_pickled_notrust",
            ["eval", "{W}/ck/pickled_module.pth", "--out", "{W}/out/ev_p"],
            says="--trust-pickle",
            watch=("{W}/out/ev_p",),
            fast=True,
        ),
        Case("ckpt_inspect_dir", ["inspect", "{W}/ck/dir.pth"], fast=True),
        Case("ckpt_eval_dir", ["eval", "{W}/ck/dir.pth"], says="no manifest.json", fast=True),
        Case("ckpt_eval_nonexist", ["eval", "{W}/ck/nope.pth"], says="not found", fast=True),
        Case("ckpt_upscale_dir", ["upscale", "{W}/ck/dir.pth", "{W}/img/good.png", "-o", "{W}/up/d.png"], fast=True),
        Case(
            "ckpt_inspect_missing_key3",
            ["inspect", "{W}/ck/missing_key3.pth"],
            says="missing: conv_last.bias",
            fast=True,
        ),
        Case("ckpt_inspect_extra_key", ["inspect", "{W}/ck/extra_key.pth"], says="unexpected: extra.weight", fast=True),
        Case("ckpt_inspect_float64", ["inspect", "{W}/ck/float64.pth"], expect=0, fast=True),
        Case("ckpt_inspect_nan", ["inspect", "{W}/ck/nan.pth"], expect=0, fast=True),
        Case(
            "ckpt_export_unicode_path",
            ["export", "{W}/ck/ünï cödé/mödel ✓.pt", "--input-size", "16x16", "--out", "{W}/out/ünï"],
            expect=0,
            watch=("{W}/out/ünï",),
        ),
        Case("ckpt_export_nan", [*export, "{W}/ck/nan.pth"], says="NaN", watch=out),
        Case(
            "ckpt_upscale_nan",
            ["upscale", "{W}/ck/nan.pth", "{W}/img/good.png", "-o", "{W}/up/nan.png"],
            says="NaN",
            watch=("{W}/up/nan.png",),
        ),
        Case("onnx_inspect_garbage", ["inspect", "{W}/ck/garbage.onnx"], says="ONNX", never_says=not_pickle, fast=True),
        Case(
            "onnx_valid_inspect",
            ["inspect", "{W}/ck/model.onnx"],
            says="bnn-deploy export MODEL.onnx",
            never_says=not_pickle,
            fast=True,
        ),
        Case(
            "onnx_valid_upscale",
            ["upscale", "{W}/ck/model.onnx", "{W}/img/good.png", "-o", "{W}/up/o.png"],
            says="not inside an export folder",
            never_says=not_pickle,
            watch=("{W}/up/o.png",),
            fast=True,
        ),
        Case(
            "onnx_valid_eval",
            ["eval", "{W}/ck/model.onnx", "--out", "{W}/out/ev_o"],
            says="ONNX model",
            never_says=not_pickle,
            watch=("{W}/out/ev_o",),
            fast=True,
        ),
        Case(
            "tflite_as_ckpt",
            ["inspect", "{W}/ck/tflite.pt"],
            says="TFLite flatbuffer",
            never_says=not_pickle,
            fast=True,
        ),
        Case(
            "onnx_garbage_export",
            ["export", "{W}/ck/garbage.onnx", "--input-size", "16x16", "--out", "{W}/out/og"],
            says="not a valid ONNX file",
            watch=("{W}/out/og",),
            fast=True,
        ),
        Case(
            "onnx_external_traversal",
            ["export", "{W}/ck/traversal.onnx", "--input-size", "16x16", "--out", "{W}/out/ot"],
            says="outside the model's folder",
            watch=("{W}/out/ot",),
            fast=True,
        ),
    ]


def _image_cases() -> list[Case]:
    def up(name: str, expect="error", says="", output="{W}/up/x.png", fast=True) -> Case:
        return Case(
            f"img_upscale_{Path(name).stem}",
            ["upscale", "{W}/ck/good.pt", f"{{W}}/img/{name}", "-o", output],
            expect=expect,
            says=says,
            watch=(output,),
            fast=fast,
        )

    def ev(name: str, expect="error", says="") -> Case:
        return Case(
            f"img_eval_{name}",
            ["eval", "{W}/ck/good.pt", "--images", f"{{W}}/evimg/{name}", "--out", f"{{W}}/out/ev_{name}"],
            expect=expect,
            says=says,
            watch=(f"{{W}}/out/ev_{name}",),
        )

    return [
        up("notimage.png", says="cannot read image"),
        up("1x1.png", expect=0),
        up("gray16.png", expect=0),
        up("rgba.png", expect=0),
        up("rgba_transparent.png", expect=0),
        up("gray.png", expect=0),
        up("palette.png", expect=0),
        up("truncated.png", says="truncated"),
        up("cmyk.jpg", expect=0),
        up("nope.png", says="cannot read image"),
        Case(
            "img_upscale_out_jpg",
            ["upscale", "{W}/ck/good.pt", "{W}/img/good.png", "-o", "{W}/up/x.jpg"],
            says=".png",
            watch=("{W}/up/x.jpg",),
            fast=True,
        ),
        Case(
            "img_upscale_out_missingdir",
            ["upscale", "{W}/ck/good.pt", "{W}/img/good.png", "-o", "{W}/up/nodir/x.png"],
            watch=("{W}/up/nodir",),
            fast=True,
        ),
        Case("img_upscale_out_isdir", ["upscale", "{W}/ck/good.pt", "{W}/img/good.png", "-o", "{W}/up"], fast=True),
        ev("notimage", says="cannot read image"),
        ev("1x1", says="too small to evaluate"),
        ev("gray16", expect=0),
        ev("rgba", expect=0),
        ev("gray", expect=0),
        ev("cmyk", expect=0),
        ev("truncated", says="truncated"),
        ev("empty", says="holds no image files"),
        ev("nope", says="is not a directory"),
        Case(
            "eval_export_good", ["eval", "{E}", "--out", "{W}/out/ev_good"], expect=0, watch=("{W}/out/ev_good", "{E}")
        ),
    ]


def _option_cases() -> list[Case]:
    export = ["export", "{W}/ck/good.pt", "--out", "{W}/out/opt"]
    out = ("{W}/out/opt",)

    def size(text: str, says: str) -> Case:
        slug = "".join(c if c.isalnum() else "_" for c in text)
        return Case(f"opt_inputsize_{slug}", [*export, "--input-size", text], says=says, watch=out, fast=True)

    return [
        size("0x0", "out of range"),
        size("-5x10", "not WIDTHxHEIGHT"),
        size("abc", "not WIDTHxHEIGHT"),
        size("64x", "not WIDTHxHEIGHT"),
        size("64x64x3", "not WIDTHxHEIGHT"),
        size("1e3x64", "not WIDTHxHEIGHT"),
        size("", "no --input-size"),
        size(",", "no --input-size"),
        size("99999x99999", "out of range"),
        Case(
            "opt_inputsize_16384",
            [*export, "--input-size", "16384x16384"],
            says="use at most about --input-size",
            watch=out,
        ),
        Case("opt_inputsize_64X64", [*export, "--input-size", "16X16"], expect=0, watch=out),
        Case("opt_inputsize_1x1", [*export, "--input-size", "1x1"], watch=out),
        Case("opt_target_riscv", [*export, "--target", "riscv"], says="unknown target", watch=out, fast=True),
        Case("opt_format_bogus", [*export, "--format", "bogus"], says="unknown --format", watch=out, fast=True),
        Case("opt_format_empty", [*export, "--format", ""], says="unknown --format", watch=out, fast=True),
        Case("opt_format_int8_noref", [*export, "--format", "tflite-int8"], says="--float-ref", watch=out, fast=True),
        Case(
            "opt_float_ref_missing",
            [*export, "--format", "lce,tflite-float", "--float-ref", "{W}/ck/nope.pt"],
            says="--float-ref",
            watch=out,
            fast=True,
        ),
        Case("opt_lrsize_0", ["inspect", "{W}/ck/good.pt", "--lr-size", "0x0"], says="out of range", fast=True),
        Case("opt_k_neg", ["inspect", "{W}/ck/good.pt", "--k", "-1"], says="finite number above 0", fast=True),
        Case("opt_k_nan", ["inspect", "{W}/ck/good.pt", "--k", "nan"], says="finite number above 0", fast=True),
        Case("opt_k_inf", ["inspect", "{W}/ck/good.pt", "--k", "inf"], says="finite number above 0", fast=True),
        Case("opt_export_k_inf", [*export, "--k", "inf"], says="finite number above 0", watch=out, fast=True),
        Case("opt_minparity_nan", [*export, "--min-parity-db", "nan"], says="finite number", watch=out, fast=True),
        Case("opt_minparity_inf", [*export, "--min-parity-db", "inf"], says="finite number", watch=out, fast=True),
        Case(
            "opt_out_existing_file",
            ["export", "{W}/ck/good.pt", "--out", "{W}/img/good.png"],
            watch=("{W}/img/good.png",),
            fast=True,
        ),
        Case(
            "opt_out_is_src_folder",
            ["export", "{W}/srcdir/m.pth", "--out", "{W}/srcdir"],
            watch=("{W}/srcdir",),
            setup=_src_folder("srcdir"),
            fast=True,
        ),
        Case(
            "opt_out_is_src_parent",
            ["export", "{W}/srcdir2/sub/m.pth", "--out", "{W}/srcdir2"],
            watch=("{W}/srcdir2",),
            setup=_src_folder("srcdir2/sub"),
            fast=True,
        ),
        Case(
            "opt_out_nonexport_dir",
            ["export", "{W}/ck/good.pt", "--out", "{W}/userdata"],
            says="not a bnn-deploy export",
            watch=("{W}/userdata",),
            setup=_src_folder("userdata"),
            fast=True,
        ),
        Case(
            "opt_out_dot_inside_export",
            ["export", "{W}/ck/good.pt", "--input-size", "16x16", "--out", "."],
            expect=0,
            watch=("{W}/out/dot",),
            keep=("{W}/out/dot/NOTES.txt",),
            setup=_user_files("dot"),
            cwd="out/dot",
        ),
        Case(
            "opt_out_readonly_new",
            [*export[:-1], "{W}/ro/exp"],
            says="not a writable",
            watch=("{W}/ro",),
            needs="chattr",
            setup=_chattr("+i", "ro"),
            teardown=_chattr("-i", "ro"),
        ),
        Case(
            "opt_out_readonly_nested",
            [*export[:-1], "{W}/ro/a/b/c"],
            says="not a writable",
            watch=("{W}/ro",),
            needs="chattr",
            setup=_chattr("+i", "ro"),
            teardown=_chattr("-i", "ro"),
        ),
        Case(
            "opt_eval_readonly_default_out",
            ["eval", "{W}/out/ro_exp"],
            says="not writable",
            watch=("{W}/out/ro_exp",),
            needs="chattr",
            setup=lambda w: (_copy_export("ro_exp")(w), _chattr("+i", "out/ro_exp")(w)),
            teardown=_chattr("-i", "out/ro_exp"),
        ),
        Case(
            "opt_upscale_readonly",
            ["upscale", "{W}/ck/good.pt", "{W}/img/good.png", "-o", "{W}/ro/x.png"],
            watch=("{W}/ro",),
            needs="chattr",
            setup=_chattr("+i", "ro"),
            teardown=_chattr("-i", "ro"),
        ),
        Case("opt_eval_budget_abc", ["eval", "{E}", "--memory-budget", "abc"], says="not a memory size", fast=True),
        Case("opt_eval_budget_0", ["eval", "{E}", "--memory-budget", "0"], says="below 1 MB", fast=True),
        Case("opt_eval_budget_neg", ["eval", "{E}", "--memory-budget", "-5MB"], says="not a memory size", fast=True),
        Case("opt_eval_overlap_neg", ["eval", "{E}", "--overlap", "-1"], fast=True),
        Case(
            "opt_eval_overlap_huge",
            ["eval", "{E}", "--overlap", "100000", "--out", "{W}/out/ev_ov"],
            says="overlap",
            watch=("{W}/out/ev_ov",),
        ),
        Case("opt_eval_k_on_export", ["eval", "{E}", "--k", "64"], says="--k applies to a checkpoint", fast=True),
    ]


def _src_folder(rel: str) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        folder = work / rel
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "ck" / "good.pt", folder / "m.pth")

    return apply


def _export_dir_cases() -> list[Case]:
    def both(name: str, says: str) -> list[Case]:
        return [
            Case(
                f"{name}_bench",
                ["bench", f"{{W}}/out/{name}", "--device", "host"],
                says=says,
                fast=True,
                watch=(f"{{W}}/out/{name}",),
            ),
            Case(
                f"{name}_eval",
                ["eval", f"{{W}}/out/{name}", "--out", f"{{W}}/out/ev_{name}"],
                says=says,
                fast=True,
                watch=(f"{{W}}/out/{name}", f"{{W}}/out/ev_{name}"),
            ),
        ]

    return [
        *both("exp_corrupt", "does not match its sha256"),
        *both("exp_nomani", "no manifest.json"),
        *both("exp_badjson", "not readable JSON"),
        *both("exp_missingart", "is listed in manifest.json but missing"),
        *both("fuzz_strentry", "manifest"),
        *both("fuzz_version", "manifest"),
        *both("fuzz_scale", "manifest"),
        *both("fuzz_list", "manifest"),
        *both("fuzz_traversal", "manifest"),
        Case(
            "atom_reexport_keeps_user_files",
            ["export", "{W}/ck/good.pt", "--input-size", "16x16", "--out", "{W}/out/atom"],
            expect=0,
            setup=_user_files("atom"),
            watch=("{W}/out/atom",),
            keep=("{W}/out/atom/NOTES.txt", "{W}/out/atom/eval/mine.txt"),
        ),
    ]


def _user_files(name: str) -> Callable[[Path], None]:
    def apply(work: Path) -> None:
        _copy_export(name)(work)
        (work / "out" / name / "NOTES.txt").write_text("mine\n")
        (work / "out" / name / "eval").mkdir(exist_ok=True)
        (work / "out" / name / "eval" / "mine.txt").write_text("mine too\n")

    return apply


def _bench_cases() -> list[Case]:
    bench = ["bench", "{E}", "--device", "host"]
    return [
        Case("bench_json_missingdir", [*bench, "--json-out", "{W}/out/nodir/b.json"], says="does not exist", fast=True),
        Case(
            "bench_json_readonly",
            [*bench, "--json-out", "{W}/ro/b.json"],
            says="permission denied",
            watch=("{W}/ro",),
            needs="chattr",
            setup=_chattr("+i", "ro"),
            teardown=_chattr("-i", "ro"),
        ),
        Case("bench_plot_missingdir", [*bench, "--plot", "{W}/out/nodir/p.png"], says="does not exist", fast=True),
        Case("bench_plot_badsuffix", [*bench, "--plot", "{W}/out/p.txt"], says=".png", fast=True),
        Case("bench_threads_0", [*bench, "--threads", "0"], says="1 or more", fast=True),
        Case("bench_threads_abc", [*bench, "--threads", "abc"], says="not a list", fast=True),
        Case("bench_threads_neg", [*bench, "--threads", "-2"], says="1 or more", fast=True),
        Case("bench_threads_empty", [*bench, "--threads", ","], says="not a list", fast=True),
        Case("bench_threads_huge", [*bench, "--threads", "4096"], says="is more than", fast=True),
        Case("bench_runs_neg", [*bench, "--runs", "-1"], says="runs >= 1", fast=True),
        Case("bench_runs_0", [*bench, "--runs", "0"], says="runs >= 1", fast=True),
        Case("bench_warmup_neg", [*bench, "--warmup", "-1"], says="warmup >= 0", fast=True),
        Case("bench_maxsecs_0", [*bench, "--max-secs", "0"], says="--max-secs", fast=True),
        Case("bench_maxsecs_nan", [*bench, "--max-secs", "nan"], says="--max-secs", fast=True),
        Case("bench_maxsecs_neg", [*bench, "--max-secs", "-1"], says="--max-secs", fast=True),
        Case("bench_kernel_bogus", [*bench, "--kernel", "bogus"], says="unknown LCE kernel", fast=True),
        Case("bench_cooldown_host", [*bench, "--cooldown", "3"], says="apply to a board", fast=True),
        Case(
            "bench_host_good",
            [*bench, "--runs", "2", "--max-secs", "2", "--json-out", "{W}/out/bench.json"],
            expect=0,
            watch=("{W}/out/bench.json", "{E}"),
        ),
    ]


def _device_cases() -> list[Case]:
    fake = "{W}/dev/lce_benchmark_model"

    def board(name: str, args: list[str], says: str = "", **kw) -> Case:
        return Case(name, ["bench", "{E}", *args], says=says, watch=("{E}",), **kw)

    return [
        Case(
            "dev_envvar_missing_file",
            ["devices"],
            env={"BNN_DEPLOY_DEVICES": "{W}/dev/nope.toml"},
            says="unset BNN_DEPLOY_DEVICES",
            never_says="--inventory",
            fast=True,
        ),
        Case("dev_devices_inv_good", ["devices", "--inventory", "{W}/dev/inv_good.toml"], expect=0, fast=True),
        board("dev_unknown_device", ["--device", "nosuchboard"], "unknown device", fast=True),
        board(
            "dev_port_bad",
            ["--device", "pi4", "--host", "pi@127.0.0.1:99999", "--runtime-bin", fake],
            "port",
            fast=True,
        ),
        board(
            "dev_port_abc", ["--device", "pi4", "--host", "pi@127.0.0.1:abc", "--runtime-bin", fake], "port", fast=True
        ),
        board("dev_kernel_board", ["--device", "pi4", "--kernel", "turbo"], "unknown LCE kernel", fast=True),
        board("dev_threads_multi_board", ["--device", "pi4", "--threads", "1,2"], "one thread count", fast=True),
        board("dev_threads_huge_board", ["--device", "pi4", "--threads", "4096"], "is more than", fast=True),
        board(
            "dev_closed_port",
            ["--device", "pi4", "--host", f"nobody@127.0.0.1:{_free_port()}", "--runtime-bin", fake],
            "refused the connection",
        ),
        board("dev_bad_host", ["--device", "pi4", "--host", "bad host", "--runtime-bin", fake], "cannot resolve"),
        board(
            "dev_host_semicolon",
            ["--device", "pi4", "--host", "x;touch {W}/PWN2", "--runtime-bin", fake],
            forbid=("{W}/PWN2",),
        ),
        board(
            "dev_host_dollar",
            ["--device", "pi4", "--host", "$(touch {W}/PWN3)", "--runtime-bin", fake],
            forbid=("{W}/PWN3",),
        ),
        board("dev_ipv6_closed", ["--device", "pi4", "--host", f"pi@[::1]:{_free_port()}", "--runtime-bin", fake]),
        board(
            "dev_serial_and_host",
            ["--device", "pi4", "--host", "pi@127.0.0.1", "--serial", "R58M", "--runtime-bin", fake],
            "two ways to reach a board",
            fast=True,
        ),
        board("dev_empty_host", ["--device", "pi4", "--host", "", "--runtime-bin", fake], "has no address", fast=True),
        board("dev_at_only", ["--device", "pi4", "--host", "@", "--runtime-bin", fake], "empty user name", fast=True),
        board(
            "dev_key_missing",
            [
                "--device",
                "pi4",
                "--host",
                f"pi@127.0.0.1:{_free_port()}",
                "--key",
                "{W}/dev/nokey",
                "--runtime-bin",
                fake,
            ],
            "does not exist",
        ),
        board(
            "dev_key_garbage",
            [
                "--device",
                "pi4",
                "--host",
                f"pi@127.0.0.1:{_free_port()}",
                "--key",
                "{W}/dev/badkey",
                "--runtime-bin",
                fake,
            ],
            "not a usable SSH private key",
        ),
        Case("dev_inv_bad", ["devices", "--inventory", "{W}/dev/inv_bad.toml"], says="not valid TOML", fast=True),
        Case("dev_inv_typo", ["devices", "--inventory", "{W}/dev/inv_typo.toml"], says="hostname", fast=True),
        Case("dev_inv_badprofile", ["devices", "--inventory", "{W}/dev/inv_badprofile.toml"], says="pi9", fast=True),
        Case("dev_inv_badtype", ["devices", "--inventory", "{W}/dev/inv_badtype.toml"], says="port", fast=True),
        Case("dev_inv_binary", ["devices", "--inventory", "{W}/dev/inv_binary.toml"], says="cannot read", fast=True),
        Case(
            "dev_inv_bad_env",
            ["devices"],
            env={"BNN_DEPLOY_DEVICES": "{W}/dev/inv_bad.toml"},
            says="not valid TOML",
            fast=True,
        ),
        Case(
            "dev_hostkey_mismatch",
            ["bench", "{E}", "--device", "loopback", "--inventory", "{W}/ssh/inv_changed.toml", "--runtime-bin", fake],
            says="CHANGED",
            needs="sshd",
            keep=("{W}/ssh/known_hosts", "{W}/ssh/kh_changed", "{W}/ssh/kh_empty"),
        ),
        Case(
            "dev_hostkey_mismatch_accept",
            [
                "bench",
                "{E}",
                "--device",
                "loopback",
                "--inventory",
                "{W}/ssh/inv_changed.toml",
                "--runtime-bin",
                fake,
                "--accept-new-host-key",
            ],
            says="CHANGED",
            needs="sshd",
            keep=("{W}/ssh/known_hosts", "{W}/ssh/kh_changed", "{W}/ssh/kh_empty"),
        ),
        Case(
            "dev_hostkey_unknown",
            ["bench", "{E}", "--device", "loopback", "--inventory", "{W}/ssh/inv_unknown.toml", "--runtime-bin", fake],
            says="--accept-new-host-key",
            needs="sshd",
            keep=("{W}/ssh/known_hosts", "{W}/ssh/kh_changed", "{W}/ssh/kh_empty"),
        ),
        Case(
            "dev_ssh_workdir_injection",
            [
                "bench",
                "{E}",
                "--device",
                "loopback",
                "--inventory",
                "{W}/ssh/inv_inject.toml",
                "--runtime-bin",
                fake,
                "--runs",
                "1",
            ],
            expect="any",
            needs="sshd",
            forbid=("{W}/PWN4",),
        ),
        Case(
            "dev_ssh_bench_good",
            [
                "bench",
                "{E}",
                "--device",
                "loopback",
                "--inventory",
                "{W}/ssh/inv_good.toml",
                "--runtime-bin",
                fake,
                "--runs",
                "1",
                "--json-out",
                "{W}/out/board.json",
            ],
            expect=0,
            needs="sshd",
            watch=("{W}/out/board.json", "{E}"),
            alive_after=_board_processes,
        ),
    ]


def _runtime_cases() -> list[Case]:
    env = {"BNN_DEPLOY_RUNTIMES_DIR": "{W}/rt"}

    def rt(name: str, args: list[str], says: str = "", **kw) -> Case:
        kw.setdefault("fast", not kw.get("needs"))
        return Case(f"rt_{name}", args, says=says, env={**env, **kw.pop("env", {})}, **kw)

    build = ["build-runtime", "--target", "arm64"]
    return [
        rt("runtimes_empty", ["runtimes"], expect=0),
        rt("build_nodocker", build, "docker", env={"PATH": "/nonexistent"}),
        rt("build_badtarget", ["build-runtime", "--target", "riscv"], "unknown target"),
        rt("build_out_is_file", [*build, "--out", "{W}/img/good.png/sub"], "is a file"),
        rt("from_binary_x86", [*build, "--from-binary", "/bin/ls"], "x86-64"),
        rt("from_binary_text", [*build, "--from-binary", "{W}/dev/inv_good.toml"], "not an ELF"),
        rt("from_binary_missing", [*build, "--from-binary", "{W}/nope"], "does not exist"),
        rt("from_binary_with_out", [*build, "--from-binary", "/bin/ls", "--out", "{W}/rtout"], "--from-binary"),
        rt(
            "from_binary_arm64_android",
            ["build-runtime", "--target", "android-arm64", "--from-binary", "{W}/dev/aarch64"],
            "Android",
            needs="aarch64",
        ),
        rt("from_binary_arm64", [*build, "--from-binary", "{W}/dev/aarch64"], expect=0, needs="aarch64"),
        rt("runtimes_after", ["runtimes"], expect=0, needs="aarch64"),
        rt("runtimes_tampered", ["runtimes"], expect=0, needs="aarch64", setup=_tamper_runtime),
        rt(
            "bench_tampered_runtime",
            ["bench", "{E}", "--device", "pi4", "--host", f"pi@127.0.0.1:{_free_port()}"],
            "MODIFIED since registration",
            needs="aarch64",
        ),
    ]


def _tamper_runtime(work: Path) -> None:
    path = work / "rt" / "arm64" / "lce_benchmark_model"
    if path.is_file():
        with open(path, "ab") as fh:
            fh.write(b"\0")


def _staging_exists(out: str) -> Callable[[str, Path], bool]:
    return lambda err, work: "converting with LCE" in err and any((work / out).glob(".bnn-deploy-staging-*"))


def _signal_cases() -> list[Case]:
    export = ["export", "{W}/ck/good.pt", "--input-size", "16x16,24x24", "--format", "lce,tflite-float"]
    return [
        Case(
            "sig_export_sigint",
            [*export, "--out", "{W}/out/sig1"],
            expect=130,
            watch=("{W}/out/sig1",),
            interrupt=(signal.SIGINT, _says("converting with LCE")),
        ),
        Case(
            "sig_export_sigterm",
            [*export, "--out", "{W}/out/sig2"],
            expect=143,
            watch=("{W}/out/sig2",),
            interrupt=(signal.SIGTERM, _says("converting with LCE")),
        ),
        Case(
            "sig_reexport_sigint",
            [*export, "--out", "{W}/out/sig3"],
            expect=130,
            watch=("{W}/out/sig3",),
            keep=("{W}/out/sig3/NOTES.txt",),
            setup=_user_files("sig3"),
            interrupt=(signal.SIGINT, _staging_exists("out/sig3")),
        ),
        Case(
            "sig_bench_sigint",
            ["bench", "{E}", "--device", "host", "--runs", "200", "--json-out", "{W}/out/sig_bench.json"],
            expect=130,
            watch=("{W}/out/sig_bench.json", "{E}"),
            interrupt=(signal.SIGINT, _says("measuring")),
        ),
        Case(
            "sig_board_bench_sigint",
            [
                "bench",
                "{E}",
                "--device",
                "loopback",
                "--inventory",
                "{W}/ssh/inv_hang.toml",
                "--runtime-bin",
                "{W}/ssh/hanging_benchmark",
            ],
            expect=130,
            needs="sshd",
            watch=("{E}",),
            alive_after=_board_processes,
            interrupt=(signal.SIGINT, lambda err, work: (work / "ssh" / "running.pid").exists()),
        ),
        Case(
            "sig_board_bench_sigterm",
            [
                "bench",
                "{E}",
                "--device",
                "loopback",
                "--inventory",
                "{W}/ssh/inv_hang.toml",
                "--runtime-bin",
                "{W}/ssh/hanging_benchmark",
            ],
            expect=143,
            needs="sshd",
            watch=("{E}",),
            alive_after=_board_processes,
            setup=_forget_pids,
            interrupt=(signal.SIGTERM, lambda err, work: (work / "ssh" / "running.pid").exists()),
        ),
    ]


def _forget_pids(work: Path) -> None:
    for name in ("running.pid", "child.pid"):
        (work / "ssh" / name).unlink(missing_ok=True)


def _board_processes(work: Path) -> list[int]:
    """Processes of the last board run still alive, and anything left in the "board"'s work folder."""
    from support.devices import alive

    left = []
    for name in ("running.pid", "child.pid"):
        pidfile = work / "ssh" / name
        if pidfile.is_file():
            time.sleep(0.5)  # SIGKILL is asynchronous
            pid = int(pidfile.read_text())
            left += [pid] if alive(pid) else []
    board = work / "ssh" / "board"
    return left + ([-1] if board.is_dir() and any(board.iterdir()) else [])


# ---------------------------------------------------------------- sshd for the board cases


def start_board(work: Path):
    """A real sshd on 127.0.0.1 and the inventories the sshd cases use; returns the server process (or None)."""
    from support.devices import hanging_benchmark, keygen, sshd_unavailable, start_sshd

    if sshd_unavailable():
        return None
    ssh = work / "ssh"
    ssh.mkdir()
    server, proc = start_sshd(ssh)
    (ssh / "board").mkdir()
    other = keygen(ssh / "other_host_key")
    (ssh / "kh_changed").write_text(
        f"[127.0.0.1]:{server.port} {' '.join(Path(f'{other}.pub').read_text().split()[:2])}\n"
    )
    (ssh / "kh_empty").write_text("")
    hanging_benchmark(ssh, work / "dev" / "lce_benchmark_model")
    reach = f'host = "127.0.0.1"\nport = {server.port}\nuser = "root"\nkey = "{server.user_key}"\n'

    def inventory(name: str, known: Path, work_dir: str, python: str = sys.executable) -> None:
        (ssh / name).write_text(
            f'[devices.loopback]\nprofile = "host"\ntransport = "ssh"\n{reach}known_hosts = "{known}"\n'
            f'work_dir = "{work_dir}"\npython = "{python}"\n'
        )

    inventory("inv_good.toml", server.known_hosts, str(ssh / "board"))
    inventory("inv_changed.toml", ssh / "kh_changed", str(ssh / "board"))
    inventory("inv_unknown.toml", ssh / "kh_empty", str(ssh / "board"))
    inventory("inv_inject.toml", server.known_hosts, f"{ssh}/board; touch {work}/PWN4")
    inventory("inv_hang.toml", server.known_hosts, str(ssh / "board"), python="/bin/false")
    return proc


# ---------------------------------------------------------------- the sweep


def available(case: Case, has: dict[str, bool]) -> bool:
    return not case.needs or has.get(case.needs, False)


def run_sweep(work: Path, selected: list[Case], *, export: Path | None = None, say=print) -> list[Outcome]:
    """Prepare the inputs, run ``selected`` in fresh interpreters, print the table; returns the outcomes."""
    say(f"preparing the inputs in {work}")
    good = prepare(work, export)
    aarch64 = _aarch64_binary()
    if aarch64 is not None:
        shutil.copy(aarch64, work / "dev" / "aarch64")
    sshd = start_board(work) if any(c.needs == "sshd" for c in selected) else None
    has = {
        "sshd": sshd is not None,
        "chattr": shutil.which("chattr") is not None and _chattr_works(),
        "aarch64": aarch64 is not None,
    }
    outcomes = []
    try:
        for case in selected:
            if not available(case, has):
                say(f"{case.name:<38} | skipped: this machine has no {case.needs}")
                continue
            outcome = run_case(case, work, good)
            outcomes.append(outcome)
            say(row(outcome))
    finally:
        if sshd is not None:
            from support.devices import stop_sshd

            stop_sshd(sshd)
    say(summary(outcomes))
    return outcomes


def row(o: Outcome) -> str:
    mark = "" if o.handled else "   <-- " + "; ".join(o.problems + o.lost + (["traceback"] if o.traceback else []))
    last = o.last if len(o.last) <= 150 else o.last[:147] + "..."
    return f"{o.case.name:<38} | {str(o.code):>4} | {last} | {o.seconds:.1f} s{mark}"


def summary(outcomes: list[Outcome]) -> str:
    handled = sum(o.handled for o in outcomes)
    tracebacks = sum(o.traceback for o in outcomes)
    lost = sum(bool(o.lost) for o in outcomes)
    return f"{len(outcomes)} bad inputs, {handled} handled, {tracebacks} tracebacks, {lost} lost"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="Folder for the inputs (default: a new temp folder).")
    parser.add_argument("--only", default="", help="Run the cases whose name contains this.")
    parser.add_argument("--fast", action="store_true", help="Only the fast cases (as tests/cli/test_hostile.py).")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder.")
    args = parser.parse_args()
    import tempfile

    work = args.work or Path(tempfile.mkdtemp(prefix="bnn-deploy-hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    selected = [c for c in cases() if args.only in c.name and (c.fast or not args.fast)]
    try:
        outcomes = run_sweep(work, selected)
    finally:
        if not args.keep:
            subprocess.run(["chattr", "-R", "-i", str(work)], capture_output=True)
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(o.handled for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
