"""The degradation: how LR plates are made from HR plates.

The paper's degradation is downscaling only (sec. 4.1). Two kernels are offered:

- ``bicubic`` (default): Pillow's ``Image.resize(..., Image.BICUBIC)``, a cubic convolution
  kernel with a = -0.5 whose support is stretched by the scale factor when reducing, i.e.
  antialiased bicubic, the same kernel as MATLAB's ``imresize`` (and BasicSR's
  ``imresize``), computed by Pillow on 8-bit channels.
- ``area``: OpenCV's ``INTER_AREA`` (box average over each 8x8 block), the kernel the
  shared data's README measured its bicubic baseline with.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from lpsr.config import KERNELS  # the accepted values, declared with the settings


def downscale(hr: np.ndarray, scale: int, kernel: str = "bicubic") -> np.ndarray:
    """Downscale an HxWx3 uint8 image whose sides are multiples of `scale`."""
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"image {w}x{h} is not a multiple of the scale {scale}")
    size = (w // scale, h // scale)
    if kernel == "bicubic":
        return np.asarray(Image.fromarray(hr).resize(size, Image.BICUBIC))
    if kernel == "area":
        return cv2.resize(hr, size, interpolation=cv2.INTER_AREA)
    raise ValueError(f"unknown downscale kernel {kernel!r}; choose one of {KERNELS}")
