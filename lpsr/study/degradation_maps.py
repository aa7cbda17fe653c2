"""Local degradation maps of an image (paper Fig. 13: noise, blur and compression).

The paper does not say which estimators it draws; these are three standard no-reference ones,
each computed on the BT.601 luma Y (0-255) and averaged over a sliding `window`:

- noise: Immerkaer's fast noise estimator (J. Immerkaer, "Fast noise variance estimation",
  CVIU 64(2), 1996): sigma = sqrt(pi/2) / 6 * mean |I * M| with the Laplacian-difference mask
  M = [[1, -2, 1], [-2, 4, -2], [1, -2, 1]], which cancels linear structure. Edges that are not
  linear still respond, so text strokes read as some "noise".
- blur: the re-blur measure of Crete-Roffet et al. ("The blur effect: perception and estimation
  with a new no-reference perceptual blur metric", SPIE HVEI 2007): the share of neighbour
  differences a 9-tap average does *not* remove, taken the worse of the two directions; 0 is sharp,
  1 is as blurred as can be. Flat windows (no differences) have no blur value (NaN).
- compression: the block-edge impairment of Wu & Yuen (GBIM, "A generalized block-edge impairment
  metric for video coding", IEEE SPL 4(11), 1997), unweighted: mean absolute difference across the
  8-pixel grid's block boundaries over the mean difference inside blocks; 1 is no blocking. The grid
  starts at pixel 0: for an x8 SR output it is the LR pixel grid (the blocks an upsampler can leave);
  for an HR plate cropped and rectified from a CCPD JPEG, the JPEG grid is no longer aligned.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from lpsr.metrics import rgb_to_y

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)


def _luma(image: np.ndarray) -> np.ndarray:
    return rgb_to_y(image) if image.ndim == 3 else image.astype(np.float64)


def _local_mean(values: np.ndarray, window: int) -> np.ndarray:
    return cv2.boxFilter(values, cv2.CV_64F, (window, window), normalize=True, borderType=cv2.BORDER_REFLECT)


def noise_map(image: np.ndarray, window: int = 8) -> np.ndarray:
    """Local noise standard deviation (grey levels of Y) after Immerkaer (1996)."""
    response = np.abs(cv2.filter2D(_luma(image), cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    return math.sqrt(math.pi / 2) / 6 * _local_mean(response, window)


def blur_map(image: np.ndarray, window: int = 8, taps: int = 9) -> np.ndarray:
    """Local blur in [0, 1] after Crete-Roffet et al. (2007); NaN where the window is flat."""
    y = _luma(image)
    blurs = []
    for axis, size in ((0, (1, taps)), (1, (taps, 1))):  # cv2 sizes are (width, height): re-blur along the axis
        reblurred = cv2.blur(y, size, borderType=cv2.BORDER_REFLECT)
        d_image = np.abs(np.diff(y, axis=axis, append=np.take(y, [-1], axis=axis)))
        d_blurred = np.abs(np.diff(reblurred, axis=axis, append=np.take(reblurred, [-1], axis=axis)))
        variation = _local_mean(d_image, window)
        kept = _local_mean(np.maximum(0.0, d_image - d_blurred), window)
        with np.errstate(invalid="ignore", divide="ignore"):
            blurs.append(np.where(variation > 1e-3, (variation - kept) / variation, np.nan))
    return np.clip(np.fmax(blurs[0], blurs[1]), 0.0, 1.0)


def blockiness_map(image: np.ndarray, window: int = 16, block: int = 8) -> np.ndarray:
    """Local block-edge impairment (Wu & Yuen 1997, unweighted): boundary over interior difference."""
    y = _luma(image)
    ratios = []
    for axis in (0, 1):
        diff = np.abs(np.diff(y, axis=axis, append=np.take(y, [-1], axis=axis)))
        index = np.arange(y.shape[axis]).reshape((-1, 1) if axis == 0 else (1, -1))
        boundary = np.broadcast_to((index % block == block - 1) & (index < y.shape[axis] - 1), y.shape).astype(
            np.float64
        )
        interior = np.broadcast_to((index % block != block - 1) & (index < y.shape[axis] - 1), y.shape).astype(
            np.float64
        )
        across = _local_mean(diff * boundary, window) / np.maximum(_local_mean(boundary, window), 1e-9)
        within = _local_mean(diff * interior, window) / np.maximum(_local_mean(interior, window), 1e-9)
        ratios.append((across + 1.0) / (within + 1.0))  # +1 grey level keeps flat areas at 1
    return 0.5 * (ratios[0] + ratios[1])


def degradation_maps(image: np.ndarray) -> dict[str, np.ndarray]:
    """Noise, blur and compression maps of one RGB image (uint8 or float in 0-255)."""
    return {"noise": noise_map(image), "blur": blur_map(image), "compression": blockiness_map(image)}
