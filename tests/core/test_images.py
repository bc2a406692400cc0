"""Image I/O on files the tests write with Pillow, bicubic resizing and the bundled photos."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.images import bicubic_downscale, bicubic_upscale, load_image, mod_crop, save_image
from bnn_deploy.core.metrics import psnr, sr_metrics, to_uint8
from bnn_deploy.core.photos import (
    HOLDOUT_PHOTOS,
    TRAIN_PHOTOS,
    crop_center,
    holdout_photos,
    load_photo,
    lr_hr_pair,
    photo_path,
    train_photos,
)


def _save(tmp_path, name: str, img: Image.Image, **kwargs):
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def _check_float_rgb(img: np.ndarray, height: int, width: int) -> None:
    assert img.dtype == np.float32
    assert img.shape == (height, width, 3)
    assert img.min() >= 0.0 and img.max() <= 1.0


def test_load_rgb(tmp_path):
    pixels = np.array([[[255, 0, 51], [0, 128, 255]]], np.uint8)
    img = load_image(_save(tmp_path, "rgb.png", Image.fromarray(pixels)))
    _check_float_rgb(img, 1, 2)
    np.testing.assert_array_equal(to_uint8(img), pixels)
    assert img[0, 0, 2] == pytest.approx(0.2)


def test_load_rgba_drops_alpha(tmp_path):
    pixels = np.array([[[10, 20, 30, 0], [200, 100, 50, 128]]], np.uint8)
    img = load_image(_save(tmp_path, "rgba.png", Image.fromarray(pixels)))
    _check_float_rgb(img, 1, 2)
    np.testing.assert_array_equal(to_uint8(img), pixels[..., :3])


def test_load_grey_replicated(tmp_path):
    pixels = np.array([[0, 64], [128, 255]], np.uint8)
    img = load_image(_save(tmp_path, "grey.png", Image.fromarray(pixels)))
    _check_float_rgb(img, 2, 2)
    for c in range(3):
        np.testing.assert_array_equal(to_uint8(img[..., c]), pixels)


def test_load_palette(tmp_path):
    rgb = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]], [[0, 255, 0], [255, 255, 255]]], np.uint8))
    pal = rgb.quantize(colors=4)
    assert pal.mode == "P"
    img = load_image(_save(tmp_path, "pal.png", pal))
    np.testing.assert_array_equal(to_uint8(img), np.asarray(rgb))


def test_load_16bit_grey(tmp_path):
    pixels = np.array([[0, 257, 32768, 65535]], np.uint16)
    source = Image.fromarray(pixels)
    assert source.mode.startswith("I;16")
    img = load_image(_save(tmp_path, "deep.png", source))
    _check_float_rgb(img, 1, 4)
    np.testing.assert_allclose(img[0, :, 1], pixels[0] / 65535.0, rtol=0, atol=1e-7)
    assert img[0, 3, 0] == 1.0
    assert img[0, 1, 2] == pytest.approx(1 / 255)


@pytest.mark.parametrize("mode", ["I;16B", "I"])
def test_load_16bit_variants_in_tiff(tmp_path, mode):
    source = Image.new(mode, (2, 1))
    source.putpixel((1, 0), 65535)
    img = load_image(_save(tmp_path, f"deep_{mode.replace(';', '')}.tif", source))
    np.testing.assert_array_equal(img[0, :, 0], [0.0, 1.0])


def test_load_one_bit(tmp_path):
    source = Image.new("1", (3, 1))
    source.putpixel((1, 0), 1)
    img = load_image(_save(tmp_path, "bits.png", source))
    _check_float_rgb(img, 1, 3)
    np.testing.assert_array_equal(img[0, :, 2], [0.0, 1.0, 0.0])


def test_load_cmyk_jpeg(tmp_path):
    source = Image.new("CMYK", (4, 4), (0, 0, 0, 0))
    img = load_image(_save(tmp_path, "cmyk.jpg", source, quality=100))
    _check_float_rgb(img, 4, 4)
    assert img.min() > 0.95  # no ink -> white


def test_load_applies_exif_orientation(tmp_path):
    source = Image.fromarray(np.zeros((2, 5, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img = load_image(_save(tmp_path, "rotated.jpg", source, exif=exif.tobytes()))
    assert img.shape == (5, 2, 3)


def test_truncated_png_is_refused(tmp_path):
    full = _save(tmp_path, "full.png", Image.fromarray(to_uint8(load_photo("chelsea.png"))))
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(BnnDeployError, match=r"cannot read image .*cut\.png: .*; give a PNG"):
        load_image(cut)


def test_non_image_is_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    with pytest.raises(BnnDeployError, match=r"cannot read image .*notes\.png"):
        load_image(text)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(BnnDeployError, match=r"cannot read image .*nowhere\.png: .*; give a PNG") as info:
        load_image(tmp_path / "nowhere.png")
    assert "\n" not in str(info.value)


def test_float_tiff_is_refused(tmp_path):
    path = _save(tmp_path, "float.tif", Image.fromarray(np.ones((2, 2), np.float32)))
    with pytest.raises(BnnDeployError, match="float"):
        load_image(path)


def test_save_round_trip_is_atomic(tmp_path):
    img = load_photo("coffee.png")[:40, :60]
    out = tmp_path / "out.png"
    out.write_bytes(b"old contents")
    save_image(out, img)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0o600 of a mkstemp file
    with Image.open(out) as written:
        assert (written.format, written.mode, written.size) == ("PNG", "RGB", (60, 40))
    np.testing.assert_array_equal(to_uint8(load_image(out)), to_uint8(img))
    pixels = to_uint8(img)  # 8-bit pixels are written as they are, not scaled again
    save_image(out, pixels)
    np.testing.assert_array_equal(to_uint8(load_image(out)), pixels)


def test_save_to_unwritable_directory_is_refused(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(BnnDeployError, match="choose a writable path"):
        save_image(blocker / "out.png", np.zeros((4, 4, 3)))
    with pytest.raises(BnnDeployError, match="choose a writable path"):
        save_image(tmp_path / "missing_dir" / "out.png", np.zeros((4, 4, 3)))
    (tmp_path / "taken.png").mkdir()  # os.replace onto a directory fails after the temp file exists
    with pytest.raises(BnnDeployError, match="choose a writable path"):
        save_image(tmp_path / "taken.png", np.zeros((4, 4, 3)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "taken.png"]


def test_save_refuses_wrong_suffix_and_shape(tmp_path):
    with pytest.raises(BnnDeployError, match=r"\.png"):
        save_image(tmp_path / "out.jpg", np.zeros((4, 4, 3)))
    with pytest.raises(BnnDeployError, match="HxWx3"):
        save_image(tmp_path / "out.png", np.zeros((4, 4)))


def test_mod_crop():
    img = np.zeros((10, 7, 3), np.float32)
    assert mod_crop(img, 3).shape == (9, 6, 3)
    assert mod_crop(img, 1).shape == (10, 7, 3)
    with pytest.raises(BnnDeployError, match="smaller than scale"):
        mod_crop(img, 8)
    with pytest.raises(BnnDeployError, match="positive integer"):
        mod_crop(img, 0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_down_up_on_photo(scale):
    hr = load_photo("chelsea.png")  # 300x451: not divisible by 2, 3 or 4 in both sides
    lr, hr_cropped = lr_hr_pair(hr, scale)
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    _check_float_rgb(lr, h, w)
    assert hr_cropped.shape == (h * scale, w * scale, 3)
    np.testing.assert_array_equal(bicubic_downscale(hr, scale), lr)
    up = bicubic_upscale(lr, scale)
    _check_float_rgb(up, h * scale, w * scale)
    assert 25.0 < sr_metrics(up, hr_cropped, scale)["psnr"] < 40.0
    assert 25.0 < psnr(to_uint8(up), to_uint8(hr_cropped), crop_border=scale) < 40.0


def test_bicubic_keeps_constant_image_and_has_no_8bit_rounding():
    flat = np.full((12, 12, 3), 0.3001, np.float32)
    np.testing.assert_allclose(bicubic_downscale(flat, 3), 0.3001, atol=1e-6)
    np.testing.assert_allclose(bicubic_upscale(flat, 2), 0.3001, atol=1e-6)


def test_photo_lists_are_disjoint_and_loadable():
    assert not set(TRAIN_PHOTOS) & set(HOLDOUT_PHOTOS)
    assert len(HOLDOUT_PHOTOS) >= 3
    # The stereo pair must not straddle the split.
    assert {"motorcycle_left.png", "motorcycle_right.png"} <= set(TRAIN_PHOTOS)
    for name, img in train_photos() + holdout_photos():
        assert photo_path(name).is_file()
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= 256, name
        assert img.std() > 0.02, name
    assert [name for name, _ in holdout_photos()] == list(HOLDOUT_PHOTOS)


def test_unknown_photo_is_refused():
    with pytest.raises(BnnDeployError, match="unknown photo 'logo.png'"):
        photo_path("logo.png")


def test_crop_center():
    img = np.arange(5 * 6).reshape(5, 6)
    np.testing.assert_array_equal(crop_center(img, 3, 2), img[1:4, 2:4])
    assert crop_center(img, 5, 6).shape == (5, 6)
    with pytest.raises(BnnDeployError, match="cannot crop"):
        crop_center(img, 6, 2)
