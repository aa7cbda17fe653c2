"""MSRN (Li et al., "Multi-scale Residual Network for Image Super-Resolution", ECCV 2018).

conv3x3 -> 8 multi-scale residual blocks (parallel 3x3 and 5x5 branches, exchanged once, fused
by a 1x1 convolution, plus the block input) -> the outputs of every block and of the head
concatenated and fused (1x1, then 3x3) -> pixel-shuffle upsampler (log2(s) stages of conv3x3 +
shuffle by 2) -> conv3x3. The DIV2K mean is subtracted at the input and added back at the end,
as the authors' code does. 64 features, 8 blocks: 6.22M parameters at x8 (paper: 6M).
"""

from __future__ import annotations

import math

import torch
from torch import nn

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class MultiScaleResidualBlock(nn.Module):
    def __init__(self, channels: int = 64):
        super().__init__()
        self.conv3_1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv5_1 = nn.Conv2d(channels, channels, 5, padding=2)
        self.conv3_2 = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1)
        self.conv5_2 = nn.Conv2d(2 * channels, 2 * channels, 5, padding=2)
        self.fuse = nn.Conv2d(4 * channels, channels, 1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        s1 = torch.cat([self.act(self.conv3_1(x)), self.act(self.conv5_1(x))], 1)
        s2 = torch.cat([self.act(self.conv3_2(s1)), self.act(self.conv5_2(s1))], 1)
        return x + self.fuse(s2)


class MSRN(nn.Module):
    def __init__(self, scale: int = 8, channels: int = 64, blocks: int = 8):
        super().__init__()
        if scale & (scale - 1):
            raise ValueError(f"MSRN's upsampler supports powers of 2, not {scale}")
        self.scale = scale
        self.register_buffer("mean", torch.tensor(DIV2K_MEAN).view(1, 3, 1, 1), persistent=False)
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.blocks = nn.ModuleList(MultiScaleResidualBlock(channels) for _ in range(blocks))
        self.fuse = nn.Sequential(
            nn.Conv2d(channels * (blocks + 1), channels, 1), nn.Conv2d(channels, channels, 3, padding=1)
        )
        self.upsample = nn.Sequential(
            *(
                m
                for _ in range(int(math.log2(scale)))
                for m in (nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2))
            )
        )
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, x):
        x = self.head(x - self.mean)
        outputs = []
        for block in self.blocks:
            outputs.append(block(outputs[-1] if outputs else x))
        features = self.fuse(torch.cat([*outputs, x], 1))
        return self.tail(self.upsample(features)) + self.mean
