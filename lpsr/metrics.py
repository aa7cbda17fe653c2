"""Image-quality metrics and their statistics (numpy and cv2 only; no model code).

Conventions follow BasicSR (``basicsr/metrics/psnr_ssim.py``): images are HxWx3 RGB
arrays, uint8 or float in [0, 255]; all computation is in float64. BasicSR reads BGR
with OpenCV; here the input is RGB, so the luma weights are applied in RGB order.
"""

from __future__ import annotations

import cv2
import numpy as np

# BT.601 luma for RGB in [0, 1] (BasicSR ``bgr2ycbcr(..., y_only=True)``, RGB order).
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
_SSIM_WIN = 11
_SSIM_SIGMA = 1.5


def _as_float(img) -> np.ndarray:
    return np.asarray(img, dtype=np.float64)


def _check_pair(img, ref) -> tuple[np.ndarray, np.ndarray]:
    img, ref = _as_float(img), _as_float(ref)
    if img.shape != ref.shape:
        raise ValueError(f"image shapes differ: {img.shape} vs {ref.shape}")
    return img, ref


def _crop(img: np.ndarray, crop_border: int) -> np.ndarray:
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border == 0:
        return img
    out = img[crop_border:-crop_border, crop_border:-crop_border, ...]
    if out.size == 0:
        raise ValueError(f"crop_border={crop_border} leaves nothing of shape {img.shape}")
    return out


def rgb_to_y(img) -> np.ndarray:
    """BT.601 luma Y in [16, 235] (float64) of an RGB image in [0, 255].

    As BasicSR ``bgr2ycbcr(img, y_only=True)`` / ``to_y_channel`` but for RGB input:
    with RGB in [0, 1], Y = 16 + 65.481 R + 128.553 G + 24.966 B.
    """
    img = _as_float(img)
    if img.ndim < 1 or img.shape[-1] != 3:
        raise ValueError(f"expected an ...x3 RGB image, got shape {img.shape}")
    return (img / 255.0) @ _Y_WEIGHTS + 16.0


def calculate_psnr(img, ref, crop_border: int = 0, test_y_channel: bool = False) -> float:
    """PSNR in dB with peak 255 (BasicSR ``calculate_psnr``); inf for identical images.

    ``crop_border`` pixels are removed from each side first; with ``test_y_channel``
    the PSNR is taken on ``rgb_to_y``.
    """
    img, ref = _check_pair(img, ref)
    img, ref = _crop(img, crop_border), _crop(ref, crop_border)
    if test_y_channel:
        img, ref = rgb_to_y(img), rgb_to_y(ref)
    mse = np.mean((img - ref) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 * 255.0 / mse))


def psnr_rgb(img, ref, crop_border: int = 0) -> float:
    """PSNR over the RGB channels."""
    return calculate_psnr(img, ref, crop_border=crop_border, test_y_channel=False)


def psnr_y(img, ref, crop_border: int = 0) -> float:
    """PSNR on the BT.601 Y channel."""
    return calculate_psnr(img, ref, crop_border=crop_border, test_y_channel=True)


def _ssim(img: np.ndarray, ref: np.ndarray) -> float:
    """SSIM of two 2-D float64 images, as BasicSR ``_ssim`` (Gaussian 11x11, sigma 1.5)."""
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(_SSIM_WIN, _SSIM_SIGMA)
    window = np.outer(kernel, kernel.transpose())
    r = _SSIM_WIN // 2  # 'valid' mode: drop the border the window overhangs

    def filt(x):
        return cv2.filter2D(x, -1, window)[r:-r, r:-r]

    mu1, mu2 = filt(img), filt(ref)
    mu1_sq, mu2_sq, mu1_mu2 = mu1**2, mu2**2, mu1 * mu2
    sigma1_sq = filt(img**2) - mu1_sq
    sigma2_sq = filt(ref**2) - mu2_sq
    sigma12 = filt(img * ref) - mu1_mu2
    ssim_map = ((2 * mu1_mu2 + c1) * (2 * sigma12 + c2)) / ((mu1_sq + mu2_sq + c1) * (sigma1_sq + sigma2_sq + c2))
    return float(ssim_map.mean())


def calculate_ssim(img, ref, crop_border: int = 0, test_y_channel: bool = True) -> float:
    """SSIM as BasicSR ``calculate_ssim``: on Y, or the mean over the RGB channels.

    Raises ValueError when a side (after cropping) is under 11 pixels.
    """
    img, ref = _check_pair(img, ref)
    img, ref = _crop(img, crop_border), _crop(ref, crop_border)
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an HxW or HxWxC image, got shape {img.shape}")
    if min(img.shape[:2]) < _SSIM_WIN:
        raise ValueError(f"SSIM needs sides of at least {_SSIM_WIN} px, got {img.shape}")
    if test_y_channel:
        img, ref = rgb_to_y(img), rgb_to_y(ref)
    if img.ndim == 2:
        return _ssim(np.ascontiguousarray(img), np.ascontiguousarray(ref))
    return float(
        np.mean(
            [_ssim(np.ascontiguousarray(img[..., c]), np.ascontiguousarray(ref[..., c])) for c in range(img.shape[2])]
        )
    )


def _bootstrap_median_ci(x: np.ndarray, n_boot: int, ci: float, seed: int, statistic=np.median) -> tuple[float, float]:
    """Percentile bootstrap CI of the median (or `statistic`) of ``x`` (numpy ``default_rng(seed)``)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    rng = np.random.default_rng(seed)
    meds = np.empty(n_boot)
    chunk = max(1, 2_000_000 // len(x))  # bound memory of the index matrix
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, len(x), size=(stop - start, len(x)))
        meds[start:stop] = statistic(x[idx], axis=1)
    alpha = (1 - ci) / 2
    lo, hi = np.percentile(meds, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def summarize(values, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """Median, mean, std and a bootstrap CI of the median of per-image scores.

    Non-finite values (inf PSNR of identical images, nan) are dropped and counted in
    ``n_dropped``. ``std`` is the population std (ddof=0, numpy's default).
    ``ci_low``/``ci_high``: percentile bootstrap of the median, deterministic by ``seed``.
    """
    x = _as_float(values).ravel()
    if x.size == 0:
        raise ValueError("summarize needs at least one value")
    finite = np.isfinite(x)
    x = x[finite]
    if x.size == 0:
        raise ValueError("summarize: no finite values")
    lo, hi = _bootstrap_median_ci(x, n_boot, ci, seed)
    return {
        "n": int(x.size),
        "n_dropped": int((~finite).sum()),
        "median": float(np.median(x)),
        "mean": float(np.mean(x)),
        "std": float(np.std(x)),
        "ci_low": lo,
        "ci_high": hi,
    }


def mean_interval(values, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """Mean of per-image scores (a share, for 0/1 scores such as an exact OCR read) and a
    percentile bootstrap CI of it, deterministic by ``seed``."""
    x = _as_float(values).ravel()
    if x.size == 0:
        raise ValueError("mean_interval needs at least one value")
    lo, hi = _bootstrap_median_ci(x, n_boot, ci, seed, statistic=np.mean)
    return {"n": int(x.size), "mean": float(np.mean(x)), "ci_low": lo, "ci_high": hi}


def paired_difference(a, b, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> dict:
    """Paired comparison of two methods' per-plate scores ``a`` and ``b`` (same plates).

    ``median_diff`` is the median of a - b, ``ci_low``/``ci_high`` a percentile bootstrap
    of it resampling plates (pairs), ``wins`` the fraction of plates with a > b. Pairs
    where either score is non-finite are dropped and counted in ``n_dropped``.
    """
    a, b = _as_float(a).ravel(), _as_float(b).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired scores differ in length: {a.size} vs {b.size}")
    if a.size == 0:
        raise ValueError("paired_difference needs at least one pair")
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    if a.size == 0:
        raise ValueError("paired_difference: no finite pairs")
    d = a - b
    lo, hi = _bootstrap_median_ci(d, n_boot, ci, seed)
    return {
        "n": int(d.size),
        "n_dropped": int((~finite).sum()),
        "median_diff": float(np.median(d)),
        "ci_low": lo,
        "ci_high": hi,
        "wins": float(np.mean(a > b)),
    }


def contrast(psnr_method, psnr_baseline):
    """Relative PSNR gain, eq. 20 of the paper: (PSNR_PECL - PSNR_MSE) / PSNR_MSE.

    Works on scalars (returns float) and arrays (returns an array).
    """
    m, base = _as_float(psnr_method), _as_float(psnr_baseline)
    out = (m - base) / base
    return float(out) if out.ndim == 0 else out
