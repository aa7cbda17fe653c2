"""SRCNN (Dong et al., "Image Super-Resolution Using Deep Convolutional Networks", TPAMI 2016).

Three convolutions on the bicubic-upsampled input: patch extraction (f1 x f1, n1 maps), non-linear
mapping (f2 x f2, n2 maps), reconstruction (f3 x f3), ReLU between. The paper's Table 1 gives
SRCNN 57K parameters: that is the 9-5-5 network (n1 = 64, n2 = 32) on one (Y) channel (57,281).
This study super-resolves RGB, so the default is 9-5-5 on RGB (69,251 parameters);
`kernels=(9, 1, 5)` is the original 9-1-5 network (20,099 on RGB). Zero padding keeps the size.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class SRCNN(nn.Module):
    def __init__(self, scale: int = 8, kernels: tuple[int, int, int] = (9, 5, 5), n1: int = 64, n2: int = 32):
        super().__init__()
        self.scale = scale
        f1, f2, f3 = kernels
        self.body = nn.Sequential(
            nn.Conv2d(3, n1, f1, padding=f1 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(n1, n2, f2, padding=f2 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(n2, 3, f3, padding=f3 // 2),
        )

    def forward(self, x):
        return self.body(F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False))
