"""Bicubic interpolation as a model: the baseline row of Table 1 (no parameters).

PyTorch's bicubic (a = -0.75, align_corners=False, the same as OpenCV's INTER_CUBIC).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class Bicubic(nn.Module):
    def __init__(self, scale: int = 8):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
