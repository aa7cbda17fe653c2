"""Tests of lpsr.metrics against hand-computed values and an independent SSIM."""

import math

import numpy as np
import pytest

from lpsr.metrics import (
    calculate_psnr,
    calculate_ssim,
    contrast,
    paired_difference,
    psnr_rgb,
    psnr_y,
    rgb_to_y,
    summarize,
)


def _rand_img(h=24, w=24, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _noisy(img, sigma, seed=1):
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).round().astype(np.uint8)


# ---- Y conversion -------------------------------------------------------------------


def test_rgb_to_y_white_black_red():
    img = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    y = rgb_to_y(img)
    assert y.dtype == np.float64 and y.shape == (1, 3)
    assert y[0, 0] == pytest.approx(235.0)  # 16 + 65.481 + 128.553 + 24.966
    assert y[0, 1] == pytest.approx(16.0)
    assert y[0, 2] == pytest.approx(16.0 + 65.481)


def test_rgb_to_y_rejects_non_rgb():
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((4, 4)))


# ---- PSNR ---------------------------------------------------------------------------


def test_psnr_constant_offset():
    ref = np.full((8, 8, 3), 100, dtype=np.uint8)
    img = ref + 10  # MSE 100
    expected = 10 * math.log10(255**2 / 100)
    assert calculate_psnr(img, ref) == pytest.approx(expected)
    assert psnr_rgb(img, ref) == pytest.approx(28.130803608679102)


def test_psnr_uint8_no_wraparound():
    # 0 - 10 in uint8 would wrap to 246; computation must be in float64
    ref = np.full((8, 8, 3), 10, dtype=np.uint8)
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    assert calculate_psnr(img, ref) == pytest.approx(10 * math.log10(255**2 / 100))


def test_psnr_identical_is_inf():
    img = _rand_img()
    assert calculate_psnr(img, img.copy()) == float("inf")
    assert psnr_y(img, img.copy()) == float("inf")


def test_psnr_crop_border():
    ref = np.zeros((8, 8, 3), dtype=np.uint8)
    img = ref.copy()
    img[0, :, :] = 50  # error only in the top row
    # uncropped: 8 of 64 pixels off by 50 -> MSE 2500/8
    assert calculate_psnr(img, ref) == pytest.approx(10 * math.log10(255**2 / (2500 / 8)))
    # crop 1 removes the error entirely
    assert calculate_psnr(img, ref, crop_border=1) == float("inf")
    # error at (3, 3): 1 of 16 pixels in the 4x4 centre left by crop 2
    img2 = ref.copy()
    img2[3, 3, :] = 40
    assert calculate_psnr(img2, ref, crop_border=2) == pytest.approx(10 * math.log10(255**2 / (1600 / 16)))


def test_psnr_y_hand_checked():
    ref = np.zeros((1, 2, 3), dtype=np.uint8)
    img = np.array([[[255, 0, 0], [0, 0, 0]]], dtype=np.uint8)
    # Y differs by 65.481 on one of two pixels
    mse = 65.481**2 / 2
    expected = 10 * math.log10(255**2 / mse)
    assert psnr_y(img, ref) == pytest.approx(expected)
    assert calculate_psnr(img, ref, test_y_channel=True) == pytest.approx(expected)
    # RGB: one channel of one pixel off by 255 out of 6 values
    assert psnr_rgb(img, ref) == pytest.approx(10 * math.log10(255**2 / (255**2 / 6)))


def test_psnr_accepts_float_images():
    ref = np.full((8, 8, 3), 100.0)
    assert calculate_psnr(ref + 2.5, ref) == pytest.approx(10 * math.log10(255**2 / 6.25))


def test_psnr_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(8, 8, 3\).*\(8, 9, 3\)"):
        calculate_psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))


# ---- SSIM ---------------------------------------------------------------------------


def _ssim_direct(x, y):
    """Straightforward SSIM: explicit loop over every valid 11x11 window, Gaussian
    weights from the formula (no cv2), C1 = (0.01*255)^2, C2 = (0.03*255)^2."""
    t = np.arange(11) - 5
    g = np.exp(-(t**2) / (2 * 1.5**2))
    g /= g.sum()
    w = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * (px - mx) ** 2).sum()
            vy = (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_identical_is_one():
    img = _rand_img()
    assert calculate_ssim(img, img.copy()) == pytest.approx(1.0)
    assert calculate_ssim(img, img.copy(), test_y_channel=False) == pytest.approx(1.0)


def test_ssim_decreases_with_noise():
    img = _rand_img(32, 32)
    s = [calculate_ssim(_noisy(img, sig), img) for sig in (5, 20, 60)]
    assert all(0 < v < 1 for v in s)
    assert s[0] > s[1] > s[2]


def test_ssim_matches_direct_implementation_y():
    img = _rand_img(16, 18, seed=3)
    ref = _noisy(img, 25, seed=4)
    expected = _ssim_direct(rgb_to_y(img), rgb_to_y(ref))
    assert 0 < expected < 1
    assert calculate_ssim(img, ref) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_ssim_matches_direct_implementation_rgb_mean():
    img = _rand_img(13, 15, seed=5)
    ref = _noisy(img, 40, seed=6)
    f, r = img.astype(np.float64), ref.astype(np.float64)
    expected = np.mean([_ssim_direct(f[..., c], r[..., c]) for c in range(3)])
    got = calculate_ssim(img, ref, test_y_channel=False)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    # crop_border=1 equals the direct SSIM of the cropped 11x13 image
    expected_c = np.mean([_ssim_direct(f[1:-1, 1:-1, c], r[1:-1, 1:-1, c]) for c in range(3)])
    got_c = calculate_ssim(img, ref, crop_border=1, test_y_channel=False)
    assert got_c == pytest.approx(expected_c, rel=1e-9, abs=1e-12)


def test_ssim_matches_skimage_if_installed():
    metrics = pytest.importorskip("skimage.metrics")
    img = _rand_img(32, 32, seed=7)
    ref = _noisy(img, 30, seed=8)
    y1, y2 = rgb_to_y(img), rgb_to_y(ref)
    expected = metrics.structural_similarity(
        y1, y2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert calculate_ssim(img, ref) == pytest.approx(expected, rel=1e-6)


def test_ssim_too_small_raises():
    with pytest.raises(ValueError):
        calculate_ssim(np.zeros((10, 20, 3)), np.zeros((10, 20, 3)))
    with pytest.raises(ValueError):  # 14 px - 2*2 crop = 10 px
        calculate_ssim(np.zeros((14, 14, 3)), np.zeros((14, 14, 3)), crop_border=2)


def test_ssim_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        calculate_ssim(np.zeros((16, 16, 3)), np.zeros((16, 17, 3)))


# ---- summaries ----------------------------------------------------------------------


def test_summarize_known_data():
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["n"] == 5 and s["n_dropped"] == 0
    assert s["median"] == 3.0 and s["mean"] == 3.0
    assert s["std"] == pytest.approx(math.sqrt(2.0))  # population std, ddof=0
    assert 1.0 <= s["ci_low"] <= s["median"] <= s["ci_high"] <= 5.0


def test_summarize_constant_ci_collapses():
    s = summarize([7.5] * 10)
    assert s["ci_low"] == s["ci_high"] == s["median"] == 7.5
    assert s["std"] == 0.0


def test_summarize_ci_width_and_determinism():
    x = np.random.default_rng(42).normal(30.0, 1.0, 400)
    s1, s2 = summarize(x, seed=0), summarize(x, seed=0)
    assert s1 == s2
    assert s1["ci_low"] < np.median(x) < s1["ci_high"]
    # the median's SE is about 1.2533/sqrt(400) = 0.063 -> 95% width about 0.25
    assert 0.15 < s1["ci_high"] - s1["ci_low"] < 0.35
    s3 = summarize(x, seed=1)
    assert (s3["ci_low"], s3["ci_high"]) != (s1["ci_low"], s1["ci_high"])
    assert summarize(x, ci=0.5)["ci_high"] - summarize(x, ci=0.5)["ci_low"] < (s1["ci_high"] - s1["ci_low"])


def test_summarize_drops_inf():
    s = summarize([1.0, 2.0, 3.0, float("inf"), float("nan")])
    assert s["n"] == 3 and s["n_dropped"] == 2
    assert s["median"] == 2.0 and s["mean"] == 2.0


def test_summarize_empty_raises():
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([float("inf")])


def test_paired_difference_sign_and_wins():
    a = [2.0, 3.0, 4.0, 5.0]
    b = [1.0, 1.0, 1.0, 6.0]  # a - b = 1, 2, 3, -1
    r = paired_difference(a, b)
    assert r["n"] == 4
    assert r["median_diff"] == 1.5
    assert r["wins"] == 0.75
    assert -1.0 <= r["ci_low"] <= 1.5 <= r["ci_high"] <= 3.0
    r2 = paired_difference(b, a)
    assert r2["median_diff"] == -1.5 and r2["wins"] == 0.25
    assert paired_difference(a, b) == r  # deterministic by seed


def test_paired_difference_clear_improvement():
    rng = np.random.default_rng(0)
    b = rng.normal(25.0, 2.0, 200)
    a = b + 0.5 + rng.normal(0, 0.1, 200)
    r = paired_difference(a, b)
    assert r["wins"] == 1.0
    assert 0.4 < r["ci_low"] < r["median_diff"] < r["ci_high"] < 0.6


def test_paired_difference_drops_inf_pairs():
    r = paired_difference([1.0, float("inf"), 3.0], [0.0, 2.0, 4.0])
    assert r["n"] == 2 and r["n_dropped"] == 1
    assert r["median_diff"] == 0.0 and r["wins"] == 0.5


def test_paired_difference_length_mismatch():
    with pytest.raises(ValueError):
        paired_difference([1.0, 2.0], [1.0])


def test_contrast():
    assert contrast(30.0, 25.0) == pytest.approx(0.2)
    assert contrast(24.0, 25.0) == pytest.approx(-0.04)
    assert isinstance(contrast(30.0, 25.0), float)
    out = contrast(np.array([22.0, 20.0]), np.array([20.0, 20.0]))
    np.testing.assert_allclose(out, [0.1, 0.0])
