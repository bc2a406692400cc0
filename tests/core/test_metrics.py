"""BasicSR-protocol metrics checked against scikit-image and hand-computed values on real photos."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.core.metrics import (
    psnr,
    rgb_to_y,
    sr_metrics,
    ssim,
    to_uint8,
)
from bnn_deploy.core.parity import max_abs_error, parity_psnr
from bnn_deploy.core.photos import load_photo


@pytest.fixture(scope="module")
def photo_pair() -> tuple[np.ndarray, np.ndarray]:
    """A real photo (uint8) and a noisy copy of it."""
    clean = to_uint8(load_photo("coffee.png"))
    rng = np.random.default_rng(0)
    noisy = clean.astype(np.float64) + rng.normal(0.0, 8.0, clean.shape)
    noisy = np.clip(noisy, 0, 255).round().astype(np.uint8)
    return clean, noisy


def _sk_ssim(x: np.ndarray, y: np.ndarray) -> float:
    return structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def test_to_uint8_clamps_and_rounds_half_to_even():
    img = np.array([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.5, 1.0, 2.0])
    assert to_uint8(img).tolist() == [0, 0, 0, 2, 128, 255, 255]
    assert to_uint8(img).dtype == np.uint8


def test_to_uint8_refuses_nan():
    with pytest.raises(BnnDeployError, match="NaN"):
        to_uint8(np.array([0.2, np.nan]))


def test_rgb_to_y_known_values():
    white = np.full((1, 1, 3), 255, np.uint8)
    black = np.zeros((1, 1, 3), np.uint8)
    red = np.array([[[1.0, 0.0, 0.0]]])
    assert rgb_to_y(white)[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(black)[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(red)[0, 0] == pytest.approx(16.0 + 65.481)
    assert rgb_to_y(np.ones((2, 3, 3)) * 0.5).shape == (2, 3)
    assert rgb_to_y(white).dtype == np.float64


def test_rgb_to_y_uint8_and_float_agree():
    img = to_uint8(load_photo("chelsea.png"))
    np.testing.assert_allclose(rgb_to_y(img), rgb_to_y(img / 255.0), rtol=0, atol=1e-10)


def test_psnr_matches_skimage_on_y(photo_pair):
    clean, noisy = photo_pair
    expected = peak_signal_noise_ratio(rgb_to_y(clean), rgb_to_y(noisy), data_range=255)
    assert psnr(clean, noisy) == pytest.approx(expected, abs=1e-9)
    assert 25.0 < psnr(clean, noisy) < 40.0


def test_psnr_rgb_matches_skimage(photo_pair):
    clean, noisy = photo_pair
    expected = peak_signal_noise_ratio(clean, noisy, data_range=255)
    assert psnr(clean, noisy, y_channel=False) == pytest.approx(expected, abs=1e-9)


def test_ssim_matches_skimage_on_y(photo_pair):
    clean, noisy = photo_pair
    expected = _sk_ssim(rgb_to_y(clean), rgb_to_y(noisy))
    value = ssim(clean, noisy)
    assert value == pytest.approx(expected, abs=1e-6)
    assert 0.3 < value < 0.99


def test_ssim_rgb_is_channel_mean_of_skimage(photo_pair):
    clean, noisy = photo_pair
    clean64, noisy64 = clean.astype(np.float64), noisy.astype(np.float64)
    channels = [_sk_ssim(clean64[..., c], noisy64[..., c]) for c in range(3)]
    expected = np.mean(channels)
    assert ssim(clean, noisy, y_channel=False) == pytest.approx(expected, abs=1e-6)


def test_crop_border_ignores_the_border(photo_pair):
    clean, _ = photo_pair
    damaged = clean.copy()
    damaged[:4] = 0
    damaged[:, -4:] = 255
    assert math.isfinite(psnr(clean, damaged, crop_border=3))
    assert psnr(clean, damaged, crop_border=4) == float("inf")
    assert ssim(clean, damaged, crop_border=4) == pytest.approx(1.0)
    assert ssim(clean, damaged, crop_border=3) < 1.0


def test_crop_border_equals_manual_crop(photo_pair):
    clean, noisy = photo_pair
    b = 6
    assert psnr(clean, noisy, crop_border=b) == psnr(clean[b:-b, b:-b], noisy[b:-b, b:-b])
    assert ssim(clean, noisy, crop_border=b) == ssim(clean[b:-b, b:-b], noisy[b:-b, b:-b])


def test_equal_images_give_inf_psnr_and_unit_ssim(photo_pair):
    clean, _ = photo_pair
    assert psnr(clean, clean) == float("inf")
    assert ssim(clean, clean) == pytest.approx(1.0)


def test_greyscale_2d_uses_values_as_is(photo_pair):
    clean, noisy = photo_pair
    g1, g2 = clean[..., 1], noisy[..., 1]
    assert psnr(g1, g2) == pytest.approx(peak_signal_noise_ratio(g1, g2, data_range=255))
    assert ssim(g1, g2) == pytest.approx(_sk_ssim(g1.astype(np.float64), g2.astype(np.float64)), abs=1e-6)


def test_metric_input_errors(photo_pair):
    clean, noisy = photo_pair
    with pytest.raises(BnnDeployError, match="shape"):
        psnr(clean, noisy[:-1])
    with pytest.raises(BnnDeployError, match="uint8"):
        psnr(clean / 255.0, noisy / 255.0)
    with pytest.raises(BnnDeployError, match="empty after cropping"):
        psnr(clean[:10, :10], noisy[:10, :10], crop_border=5)
    with pytest.raises(BnnDeployError, match="11x11"):
        ssim(clean[:20, :20], noisy[:20, :20], crop_border=5)


def test_sr_metrics_quantises_and_crops_by_scale():
    hr = load_photo("astronaut.png")
    rng = np.random.default_rng(1)
    sr = np.clip(hr + rng.normal(0.0, 0.02, hr.shape), 0.0, 1.0)
    result = sr_metrics(sr, hr, scale=4)
    a, b = to_uint8(sr), to_uint8(hr)
    assert result == {"psnr": psnr(a, b, crop_border=4), "ssim": ssim(a, b, crop_border=4)}
    assert 25.0 < result["psnr"] < 45.0
    # Differences smaller than half a grey level vanish in the 8-bit protocol.
    assert sr_metrics(hr + 0.1 / 255, hr, scale=2)["psnr"] == float("inf")


def test_parity_psnr_and_max_abs_error():
    out = load_photo("chelsea.png")
    assert parity_psnr(out, out.copy()) == float("inf")
    assert max_abs_error(out, out.copy()) == 0.0
    shifted = out + 1e-3  # raw float values, no clipping: MSE = 1e-6 -> 60 dB
    assert parity_psnr(out, shifted) == pytest.approx(60.0, abs=1e-3)
    assert max_abs_error(out, shifted) == pytest.approx(1e-3, rel=1e-3)
    with pytest.raises(BnnDeployError, match="shape"):
        parity_psnr(out, out[:-1])
