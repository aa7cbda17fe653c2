"""ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", CVPR 2016).

conv5x5 (n1) -> tanh -> conv3x3 (n2) -> tanh -> conv3x3 (3 s^2) -> pixel shuffle by s, all at LR
resolution. The original widths (64, 32) give 79K parameters at x8; the paper's Table 1 lists
800K, so the default widens both layers 5x (320, 160): 761,952 parameters at x8.
"""

from __future__ import annotations

from torch import nn


class ESPCN(nn.Module):
    def __init__(self, scale: int = 8, n1: int = 320, n2: int = 160):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(3, n1, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(n1, n2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(n2, 3 * scale**2, 3, padding=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, x):
        return self.body(x)
