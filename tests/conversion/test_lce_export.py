"""PyTorch checkpoint → ONNX → TF → LCE flatbuffer, with the real converter and interpreter.

Every model is tiny (8 features, one block) with random weights and exported at a 32×24 LR input,
so a conversion plus parity run takes a few seconds. The figures each test reaches are printed
(``pytest -s``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bnn_deploy.conversion.export import export_model, render_export
from bnn_deploy.conversion.sources import module_for_node
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.flatbuffer import read_flatbuffer
from bnn_deploy.models.checkpoint import save_checkpoint
from bnn_deploy.models.registry import create_model
from support.models import randomize_

SIZE = (32, 24)  # LR width x height
MIN_DB = 70.0


def _checkpoint(tmp_path: Path, name: str, arch: str, seed: int = 0, **config) -> str:
    """A random model (every bias, slope, threshold and a1/a2 non-trivial) saved as a checkpoint."""
    torch.manual_seed(seed)
    model = randomize_(create_model(arch, **config), seed)
    path = tmp_path / f"{name}.pt"
    save_checkpoint(path, model)
    return str(path)


def _export(tmp_path: Path, name: str, arch: str, formats=("lce",), sizes=(SIZE,), **config) -> dict:
    ckpt = _checkpoint(tmp_path, name, arch, **config)
    manifest = export_model(
        ckpt, formats=list(formats), input_sizes=list(sizes), out_dir=tmp_path / "out" / name, min_parity_db=MIN_DB
    ).to_json()
    for art in manifest["artifacts"]:
        if art["format"] == "lce":
            par = art["parity"]
            print(
                f"\n{name} {art['input_size']}: bitpacked {art['binary_convs']['bitpacked']}/"
                f"{art['binary_convs']['total']}, parity {par['psnr_db']} dB, "
                f"max |err| {par['max_abs_error']:.2g}, PSNR vs HR torch {par['reference_psnr_vs_hr_db']} / "
                f"LCE {par['psnr_vs_hr_db']}"
            )
    return manifest


def _lce(manifest: dict) -> list[dict]:
    return [a for a in manifest["artifacts"] if a["format"] == "lce"]


def _assert_all_bitpacked(manifest: dict, expected: int) -> None:
    for art in _lce(manifest):
        assert art["binary_convs"] == {**art["binary_convs"], "bitpacked": expected, "total": expected}
        assert art["op_histogram"]["LceBconv2d"] == expected
        assert art["op_histogram"]["LceQuantize"] == expected
        assert "LceDequantize" not in art["op_histogram"]
        assert art["parity"]["psnr_db"] == "inf" or art["parity"]["psnr_db"] >= MIN_DB


# ---------------------------------------------------------------- model families


@pytest.mark.parametrize("variant,scale", [("l", 2), ("l", 4), ("m", 2), ("m", 4)])
def test_bbcu_all_binary_convs_bitpacked_with_parity(tmp_path, variant, scale):
    manifest = _export(tmp_path, f"bbcu_{variant}_x{scale}", f"bbcu_{variant}", scale=scale, num_feat=8, num_block=1)
    # Body: 1 block x 2 units; BBCU-M adds its binary upconv(s) and conv_hr.
    expected = 2 + ((2 if scale == 4 else 1) + 1 if variant == "m" else 0)
    _assert_all_bitpacked(manifest, expected)
    art = _lce(manifest)[0]
    assert art["output_shape"] == [1, SIZE[1] * scale, SIZE[0] * scale, 3]
    assert art["parity"]["psnr_vs_hr_db"] is not None  # 32x24 crops have a real HR


def test_binary_edsr_meanshift_bitpacked_with_parity(tmp_path):
    manifest = _export(tmp_path, "bedsr_x2", "binary_edsr", scale=2, n_feats=8, n_resblocks=1)
    _assert_all_bitpacked(manifest, 3)  # 1 block x 2 units + the body's last unit


@pytest.mark.parametrize("binary_attn,residual_attn", [("se", "pixel"), ("spatial", "se"), ("pixel", "spatial")])
def test_attention_units_each_type_on_each_branch(tmp_path, binary_attn, residual_attn):
    unit = {"kind": "attention", "binary_attn": binary_attn, "residual_attn": residual_attn}
    manifest = _export(
        tmp_path, f"attn_{binary_attn}_{residual_attn}", "binary_edsr", scale=2, n_feats=8, n_resblocks=1, unit=unit
    )
    _assert_all_bitpacked(manifest, 3)


# ---------------------------------------------------------------- the traps, one by one


def _rebuild_and_convert(ckpt: str, tmp_path: Path, hw=(24, 32)):
    """The export pipeline's pieces on a checkpoint, for tests that need custom inputs."""
    from bnn_deploy.conversion.lce import convert_lce
    from bnn_deploy.conversion.onnx_to_tf import save_saved_model
    from bnn_deploy.conversion.sources import load_source, rebuild

    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    src = load_source(ckpt, str(work))
    rebuilt = rebuild(src, hw)
    data = convert_lce(save_saved_model(rebuilt, work / "sm"))
    return src, rebuilt, data


def _lce_vs_reference(src, data: bytes, nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from support.flatbuffers import run_flatbuffer

    return src.reference([nchw])[0], run_flatbuffer(data, nchw)


def test_pixel_shuffle_permutation_matches_torch():
    """TF depth_to_space on permuted channels == torch pixel_shuffle, for several C and r."""
    from bnn_deploy.conversion.pixel_shuffle import crd_to_dcr_permutation, depth_to_space_crd_exact
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    rng = np.random.default_rng(0)
    for c, r in [(1, 2), (3, 2), (4, 3), (8, 4)]:
        x = rng.standard_normal((1, c * r * r, 5, 7)).astype(np.float32)
        want = torch.nn.functional.pixel_shuffle(torch.from_numpy(x), r).numpy().transpose(0, 2, 3, 1)
        nhwc = x.transpose(0, 2, 3, 1)
        perm = crd_to_dcr_permutation(c, r)
        assert sorted(perm) == list(range(c * r * r))
        np.testing.assert_array_equal(tf.nn.depth_to_space(nhwc[..., perm], r).numpy(), want)
        np.testing.assert_array_equal(depth_to_space_crd_exact(tf, tf.constant(nhwc), r).numpy(), want)
        # Without the permutation TF's order is wrong (except in the trivial one-channel case).
        if c > 1:
            assert not np.array_equal(tf.nn.depth_to_space(nhwc, r).numpy(), want)


def test_pixel_shuffle_permutation_moves_into_binary_conv_and_rprelu(tmp_path):
    """BBCU-M x4: RPReLU sits between each binary upconv and its shuffle; both get permuted."""
    ckpt = _checkpoint(tmp_path, "bbcu_m_x4_ps", "bbcu_m", scale=4, num_feat=8, num_block=1)
    src, rebuilt, data = _rebuild_and_convert(ckpt, tmp_path)
    assert [(p.how, p.conv) for p in rebuilt.shuffles] == [
        ("permuted", "/upconv1/binary_conv/Conv"),
        ("permuted", "/upconv2/binary_conv/Conv"),
    ]
    from bnn_deploy.core.photos import crop_center, load_photo

    lr = crop_center(load_photo("chelsea.png"), 24, 32).transpose(2, 0, 1)[None].copy()
    ref, got = _lce_vs_reference(src, data, lr)
    from bnn_deploy.core.parity import parity_psnr

    assert parity_psnr(got, ref) >= MIN_DB


def test_pixel_shuffle_exact_fallback_when_conv_output_is_shared(tmp_path):
    """A conv output read by the shuffle *and* a second branch cannot be reordered: exact path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from bnn_deploy.conversion.onnx_to_tf import rebuild_tf, run_tf
    from bnn_deploy.runtimes.onnxrt import ort_session

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((12, 3, 3, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("DepthToSpace", ["c"], ["d"], blocksize=2, mode="CRD", name="shuffle"),
        helper.make_node("ReduceMean", ["c"], ["m"], axes=[1], keepdims=1, name="mean"),
        helper.make_node(
            "Resize",
            ["m", "", "s"],
            ["u"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
            name="up",
        ),
        helper.make_node("Add", ["d", "u"], ["y"], name="add"),
    ]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, scales],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "shared.onnx"
    onnx.save(model, path)
    rebuilt = rebuild_tf(model, (6, 10))
    assert rebuilt.shuffles[0].how == "exact" and "also read elsewhere" in rebuilt.shuffles[0].reason
    assert any("exact reshape/transpose" in n for n in rebuilt.notes)
    x = rng.random((1, 3, 6, 10), dtype=np.float32)
    want = ort_session(path).run(None, {"x": x})[0]
    np.testing.assert_allclose(run_tf(rebuilt, x), want, atol=1e-5)


def test_sign_of_exact_zero_is_plus_one(tmp_path):
    """A black patch makes the sign's input exactly 0 (zero conv biases, zero move0): LCE's sign and
    PyTorch's deployment sign both give +1 there (torch.sign would give 0)."""
    torch.manual_seed(0)
    model = create_model("bbcu_l", scale=2, num_feat=8, num_block=1)  # move0 and conv biases are zero
    path = tmp_path / "zero.pt"
    save_checkpoint(path, model)
    from bnn_deploy.core.photos import crop_center, load_photo

    lr = crop_center(load_photo("coffee.png"), 24, 32).transpose(2, 0, 1)[None].copy()
    lr[:, :, 4:20, 6:26] = 0.0
    seen = []
    hook = model.body[0].body[0].move0.register_forward_hook(lambda m, i, o: seen.append((o == 0).sum().item()))
    with torch.no_grad():
        model(torch.from_numpy(lr))
    hook.remove()
    assert seen[0] > 100  # the case under test really occurs
    src, rebuilt, data = _rebuild_and_convert(str(path), tmp_path)
    ref, got = _lce_vs_reference(src, data, lr)
    from bnn_deploy.core.parity import parity_psnr

    assert parity_psnr(got, ref) >= MIN_DB


def test_zero_padding_stays_same_zero_in_lce(tmp_path):
    """Binary convs pad the *signed* tensor with 0: LCE must use SAME padding with pad value 0
    (its exact edge correction), and border pixels must match as well as the interior."""
    from bnn_deploy.core.flatbuffer import read_flatbuffer
    from bnn_deploy.core.photos import crop_center, load_photo

    ckpt = _checkpoint(tmp_path, "pad", "bbcu_l", scale=2, num_feat=8, num_block=1)
    src, rebuilt, data = _rebuild_and_convert(ckpt, tmp_path)
    bconvs = [op for op in read_flatbuffer(data).ops if op.kind == "LceBconv2d"]
    assert len(bconvs) == 2
    for op in bconvs:
        assert op.options["padding"] == 0  # TFLite Padding.SAME
        assert op.options["pad_values"] == 0
    lr = crop_center(load_photo("astronaut.png"), 24, 32).transpose(2, 0, 1)[None].copy()
    ref, got = _lce_vs_reference(src, data, lr)
    err = np.abs(got - ref)
    border = np.ones(err.shape[2:], bool)
    border[2:-2, 2:-2] = False
    assert err[..., border].max() < 1e-4 and err[..., ~border].max() < 1e-4


def test_broken_binary_pattern_is_caught_not_exported(tmp_path):
    """One binary filter that is not ±alpha: the export fails naming the layer; nothing is written."""
    import onnx
    from onnx import numpy_helper

    from bnn_deploy.conversion.onnx_export import export_onnx

    torch.manual_seed(0)
    path = tmp_path / "broken.onnx"
    export_onnx(create_model("bbcu_l", scale=2, num_feat=8, num_block=1), path)
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.name == "body.0.body.1.binary_conv.deploy_weight":
            w = numpy_helper.to_array(init).copy()
            w[3, 0, 1, 1] *= 1.5  # one weight off: no longer ±alpha for output channel 3
            init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(model, path)
    out = tmp_path / "out"
    with pytest.raises(BnnDeployError, match=r"/body/body\.0/body/body\.1/binary_conv/Conv \(weights not ±alpha"):
        export_model(path, input_sizes=[SIZE], out_dir=out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_float_fallback_in_flatbuffer_is_named():
    """The flatbuffer check itself: a sign feeding a non-binary conv survives LCE as
    LceQuantize → LceDequantize → CONV_2D, and check_bitpacked names that layer."""
    import tempfile
    from types import SimpleNamespace

    from bnn_deploy.conversion.lce import check_bitpacked, convert_lce
    from bnn_deploy.core.tf import tensorflow

    tf = tensorflow()
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.1, 0.5, 8).astype(np.float32)
    good = (np.sign(rng.standard_normal((3, 3, 8, 8))) * alpha).astype(np.float32)
    bad = good.copy()
    bad[0, 0, 0, 0] *= 1.5

    class Net(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 6, 8, 8], tf.float32)])
        def serve(self, x):
            y = tf.nn.conv2d(tf.where(x >= 0, 1.0, -1.0), good, 1, "SAME", name="bconv0") + x
            y = tf.nn.conv2d(tf.where(y >= 0, 1.0, -1.0), bad, 1, "SAME", name="bconv1") + y
            return {"sr": y}

    with tempfile.TemporaryDirectory() as d:
        net = Net()
        tf.saved_model.save(net, d, signatures={"serving_default": net.serve})
        data = convert_lce(d)
    rebuilt = SimpleNamespace(binary_layers={"bconv0": "layer.good", "bconv1": "layer.broken"})
    with pytest.raises(BnnDeployError, match=r"1/2 binary convs.*layer\.broken") as err:
        check_bitpacked(read_flatbuffer(data), rebuilt, "net")
    assert "layer.good" not in str(err.value)


# ---------------------------------------------------------------- artifacts and manifest


def test_sizes_baselines_and_manifest(tmp_path):
    """Two input sizes → one flatbuffer per size; tflite-float has no LCE op; --float-ref gives a
    float and an int8 TFLite; the manifest records what each file is, with matching hashes."""
    ckpt = _checkpoint(tmp_path, "bm", "bbcu_m", scale=2, num_feat=8, num_block=1)
    torch.manual_seed(3)
    ref = tmp_path / "msr.pt"
    save_checkpoint(ref, create_model("msrresnet", scale=2, num_feat=8, num_block=1))
    out = tmp_path / "export"
    result = export_model(
        ckpt,
        formats=["lce", "tflite-float", "tflite-int8"],
        input_sizes=[(32, 24), (20, 16)],
        target="armv7",
        out_dir=out,
        min_parity_db=MIN_DB,
        float_ref=ref,
    )
    manifest = result.manifest.to_json()
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(
        [
            "bm_32x24.lce.tflite",
            "bm_32x24.float.tflite",
            "bm_20x16.lce.tflite",
            "bm_20x16.float.tflite",
            "msr_32x24.float.tflite",
            "msr_32x24.int8.tflite",
            "msr_20x16.float.tflite",
            "msr_20x16.int8.tflite",
            "manifest.json",
        ]
    )
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert manifest["target"] == "armv7" and manifest["lce_converter_target"] == "arm"
    assert manifest["source"]["sha256"] and manifest["source"]["arch"] == "bbcu_m"
    assert set(manifest["versions"]) >= {"torch", "tensorflow", "larq_compute_engine"}
    import hashlib

    for art in manifest["artifacts"]:
        data = (out / art["file"]).read_bytes()
        assert art["size_bytes"] == len(data) and art["sha256"] == hashlib.sha256(data).hexdigest()
        assert art["what"]
        hist = art["op_histogram"]
        if art["format"] == "lce":
            assert hist["LceBconv2d"] == 4 and art["binary_convs"]["total"] == 4
            assert art["size"]["bytes"] == len(data) and art["size"]["ratio_vs_tflite_float"] > 1
        else:
            assert not any(k.startswith("Lce") for k in hist)
        if art["format"] == "tflite-int8":
            assert "CONV_2D" in hist and art["role"] == "float-ref"
            assert art["parity"]["psnr_vs_hr_db"] is not None
    text = render_export(result)
    assert "binary convs bitpacked: 4/4" in text and "LceBconv2d 4" in text


def test_onnx_format_hook_and_replacing_a_previous_export(tmp_path):
    ckpt = _checkpoint(tmp_path, "bl", "bbcu_l", scale=2, num_feat=8, num_block=1)
    out = tmp_path / "o"
    first = export_model(ckpt, formats=["lce"], input_sizes=[SIZE], out_dir=out).to_json()
    assert sorted(p.name for p in out.iterdir()) == ["bl_32x24.lce.tflite", "manifest.json"]
    second = export_model(ckpt, formats=["lce", "onnx"], input_sizes=[(16, 12)], out_dir=out).to_json()
    assert sorted(p.name for p in out.iterdir()) == ["bl.onnx", "bl_16x12.lce.tflite", "manifest.json"]
    onnx_art = [a for a in second["artifacts"] if a["format"] == "onnx"][0]
    assert onnx_art["size_bytes"] == (out / "bl.onnx").stat().st_size
    assert first["artifacts"][0]["sha256"] != second["artifacts"][0]["sha256"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.")] == []


# ---------------------------------------------------------------- bad input, nothing partial


def _no_leftovers(parent: Path, name: str) -> bool:
    return not (parent / name).exists() and not [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_parity_failure_leaves_nothing(tmp_path):
    ckpt = _checkpoint(tmp_path, "p", "bbcu_l", scale=2, num_feat=8, num_block=1)
    with pytest.raises(BnnDeployError, match="below --min-parity-db 1000"):
        export_model(ckpt, input_sizes=[SIZE], out_dir=tmp_path / "out" / "deep", min_parity_db=1000)
    assert _no_leftovers(tmp_path, "out")  # the parent it created is gone too


def test_interrupted_export_leaves_nothing(tmp_path):
    ckpt = _checkpoint(tmp_path, "i", "bbcu_l", scale=2, num_feat=8, num_block=1)

    def interrupt(msg):
        if "converting with LCE" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_model(ckpt, input_sizes=[SIZE], out_dir=tmp_path / "out", progress=interrupt)
    assert _no_leftovers(tmp_path, "out")


def test_cli_bad_input_size_unwritable_out_and_foreign_dir(tmp_path, capsys):
    from bnn_deploy.cli import main

    ckpt = _checkpoint(tmp_path, "c", "bbcu_l", scale=2, num_feat=8, num_block=1)
    assert main(["export", ckpt, "--input-size", "32by24", "--out", str(tmp_path / "a")]) == 1
    assert "--input-size '32by24' is not WIDTHxHEIGHT" in capsys.readouterr().err
    assert main(["export", ckpt, "--input-size", "0x24", "--out", str(tmp_path / "a")]) == 1
    assert "out of range" in capsys.readouterr().err
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["export", ckpt, "--input-size", "32x24", "--out", str(blocker / "sub")]) == 1
    assert "is not a writable directory" in capsys.readouterr().err
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["export", ckpt, "--input-size", "32x24", "--out", str(foreign)]) == 1
    assert "not a bnn-deploy export" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert main(["export", ckpt, "--format", "lce,tflite-int8", "--out", str(tmp_path / "a")]) == 1
    assert "--float-ref" in capsys.readouterr().err
    assert main(["export", ckpt, "--target", "riscv", "--out", str(tmp_path / "a")]) == 1
    assert "unknown target 'riscv'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_cli_export_json(tmp_path, capsys):
    from bnn_deploy.cli import main

    ckpt = _checkpoint(tmp_path, "j", "bbcu_m", scale=2, num_feat=8, num_block=1)
    out = tmp_path / "cli"
    assert (
        main(
            [
                "export",
                ckpt,
                "--target",
                "android-arm64",
                "--input-size",
                "32x24,16x12",
                "--input-size",
                "20x16",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    manifest = json.loads(captured.out)
    assert [a["input_size"] for a in manifest["artifacts"]] == [[32, 24], [16, 12], [20, 16]]
    assert "binary convs bitpacked: 4/4" in captured.err
    assert manifest["target"] == "android-arm64"


def test_unsupported_module_is_named_with_its_path_and_type(tmp_path):
    """A PyTorch layer with no LCE rebuild (GELU → ONNX Erf) is reported by module path and type."""
    from torch import nn

    from bnn_deploy.conversion.onnx_export import export_onnx

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(3, 12, 3, padding=1)
            self.body = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1), nn.GELU())
            self.up = nn.PixelShuffle(2)

        def forward(self, x):
            return self.up(self.body(self.head(x)))

    net = Net().eval()
    path = tmp_path / "gelu.onnx"
    export_onnx(net, path)
    with pytest.raises(BnnDeployError, match=r"unsupported ONNX op Erf at '/body/body\.1/Erf'"):
        export_model(path, input_sizes=[SIZE], out_dir=tmp_path / "out")
    assert module_for_node("/body/body.1/Erf", net) == ("body.1", "GELU")
    bbcu = create_model(
        "binary_edsr", scale=2, n_feats=8, n_resblocks=1, unit={"kind": "attention", "binary_attn": "se"}
    )
    assert module_for_node("/body/body.0/body/body.0/attn_b/fc1/Conv", bbcu) == ("body.0.body.0.attn_b.fc1", "Conv2d")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["bbcu_m_x2_small", "attn_bbcu_m_x2_small"])
def test_bundled_trained_models_bitpacked_with_parity(tmp_path, name):
    # Trained weights, not random ones: real thresholds and scales, and a real image to compare.
    manifest = export_model(
        name, formats=["lce"], input_sizes=[(64, 48)], out_dir=tmp_path / name, min_parity_db=MIN_DB
    ).to_json()
    _assert_all_bitpacked(manifest, 10)
    (art,) = _lce(manifest)
    assert manifest["source"]["sha256"] and art["parity"]["psnr_vs_hr_db"] is not None
    print(
        f"\n{name}: parity {art['parity']['psnr_db']} dB, PSNR vs HR torch "
        f"{art['parity']['reference_psnr_vs_hr_db']} / LCE {art['parity']['psnr_vs_hr_db']}"
    )


def test_source_inside_a_folder_that_is_not_an_export_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ckpt = _checkpoint(out, "inside", "bbcu_m", scale=2, num_feat=8, num_block=1)
    with pytest.raises(BnnDeployError, match="not empty and is not a bnn-deploy export"):
        export_model(ckpt, formats=["lce"], input_sizes=[SIZE], out_dir=out)
    assert Path(ckpt).exists()


def test_reexport_replaces_only_its_own_files(tmp_path):
    """A re-export replaces the files its previous manifest lists, removes eval's results about them,
    keeps the user's files (and a source kept inside the export), and writes the manifest last."""
    out = tmp_path / "out"
    ckpt = _checkpoint(tmp_path, "re", "bbcu_m", scale=2, num_feat=8, num_block=1)
    export_model(ckpt, formats=["lce", "tflite-float"], input_sizes=[SIZE], out_dir=out)
    (out / "NOTES.txt").write_text("mine\n")
    shutil.copy(ckpt, out / "re.pt")  # the user keeps the checkpoint next to its export
    (out / "eval" / "crops").mkdir(parents=True)
    (out / "eval" / "crops" / "a.png").write_bytes(b"png")
    (out / "eval" / "mine.txt").write_text("mine too\n")
    (out / "eval" / "eval.json").write_text(json.dumps({"files_written": ["crops/a.png"]}))
    result = export_model(out / "re.pt", formats=["lce"], input_sizes=[SIZE], out_dir=out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["NOTES.txt", "eval", "manifest.json", "re.pt", "re_32x24.lce.tflite"]
    assert (out / "NOTES.txt").read_text() == "mine\n" and (out / "eval" / "mine.txt").exists()
    assert not (out / "eval" / "eval.json").exists() and not (out / "eval" / "crops").exists()
    ch = result.changes
    assert ch.replaced == ["re_32x24.lce.tflite"] and "re_32x24.float.tflite" in ch.removed
    assert "eval/eval.json" in ch.removed and ch.kept == ["NOTES.txt", "re.pt"]
    assert "left alone (not written by bnn-deploy): NOTES.txt, re.pt" in render_export(result)
    # an artifact of the export as the source of the next one would be overwritten: refused
    with pytest.raises(BnnDeployError, match="is an artifact of the export"):
        export_model(out / "re_32x24.lce.tflite", out_dir=out)


def test_manifest_json_has_no_nan_or_infinity_tokens():
    from bnn_deploy.core.jsonio import jsonable

    text = json.dumps(jsonable({"a": float("nan"), "b": [float("inf"), np.float32(1.5)], "c": (1, 2)}), allow_nan=False)
    assert json.loads(text) == {"a": "nan", "b": ["inf", 1.5], "c": [1, 2]}


def test_input_size_too_large_for_memory_is_refused_before_converting(tmp_path, capsys):
    """16384x16384 used to run out of memory deep in TensorFlow ("internal error")."""
    from bnn_deploy.conversion.export_folder import STAGING_PREFIX
    from bnn_deploy.conversion.memory_check import check_fits, export_bytes, widest_floats_per_pixel
    from bnn_deploy.conversion.onnx_export import export_onnx

    onnx_path = tmp_path / "m.onnx"
    export_onnx(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), str(onnx_path))
    import onnx

    model = onnx.load(str(onnx_path))
    assert widest_floats_per_pixel(model) == 8 * 2**2  # the upsampling conv: num_feat × scale² floats
    available = 4 << 30
    with pytest.raises(BnnDeployError, match=r"--input-size 8000x6000 needs about .* but 4\.0 GB is available") as err:
        check_fits([model], [(320, 180), (8000, 6000)], available=available)
    fits = err.value.args[0].split("use at most about --input-size ")[1].split()[0]
    w, h = map(int, fits.split("x"))
    assert export_bytes(32, (w, h)) <= available < export_bytes(32, (w + 16, h + 12))  # the largest that fits
    assert abs(w / h - 8000 / 6000) < 0.01
    check_fits([model], [(w, h)], available=available)

    from bnn_deploy.cli import main

    assert main(["export", "bbcu_m_x2_small", "--input-size", "16384x16384", "--out", str(tmp_path / "big")]) == 1
    err = capsys.readouterr().err
    assert "--input-size 16384x16384 needs about" in err and "use at most about --input-size" in err
    assert not (tmp_path / "big").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_every_option_is_checked_before_the_source_loads(tmp_path, capsys):
    """A pickled module as the source fails only when loaded: any option error must come first."""
    from bnn_deploy.cli import main

    pickled = tmp_path / "module.pt"
    torch.save(create_model("bbcu_m", scale=2, num_feat=8, num_block=1), pickled)
    for args, message in [
        (["--format", "lce,tflite-float", "--float-ref", str(tmp_path / "nope.pt")], "--float-ref"),
        (["--min-parity-db", "inf"], "--min-parity-db is inf; give a finite number"),
        (["--k", "inf"], "--k inf must be a finite number above 0"),
    ]:
        assert main(["export", str(pickled), "--input-size", "16x16", "--out", str(tmp_path / "o"), *args]) == 1
        err = capsys.readouterr().err
        assert message in err and "--trust-pickle" not in err, (args, err)
    assert not (tmp_path / "o").exists()
