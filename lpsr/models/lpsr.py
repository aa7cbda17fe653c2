"""The paper's LPSR network (sec. 3.2, Fig. 2).

conv3x3 (eq. 5) -> N residual dense blocks, each output scaled by a learnable alpha and
added to its input (eq. 6-7) -> channel attention (eq. 8-11) -> log2(s) stages of a 2x
transposed convolution + ReLU (eq. 12) -> conv3x3 (eq. 13).

Choices the paper leaves open, as BasicSR's RRDB (ESRGAN) makes them: each dense block has
4 growth convolutions (LeakyReLU 0.2) and a last 3x3 convolution back to `channels`; alpha
starts at `alpha_init` (0.2, ESRGAN's fixed residual scale); the dense-block convolutions'
default initialisation is scaled by `init_scale` (0.1, as BasicSR; 1.0 keeps PyTorch's).
With the defaults (64 channels, 8 blocks, growth 32) the model has 2.12M parameters at x8.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 4, 8)


class ResidualDenseBlock(nn.Module):
    """Dense 3x3 convolutions, scaled by a learnable alpha and added to the input (eq. 6-7)."""

    def __init__(
        self, channels: int = 64, growth: int = 32, layers: int = 4, alpha_init: float = 0.2, init_scale: float = 0.1
    ):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth, 3, padding=1) for i in range(layers))
        self.conv_last = nn.Conv2d(channels + layers * growth, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        with torch.no_grad():
            for conv in [*self.convs, self.conv_last]:
                conv.weight.mul_(init_scale)
                conv.bias.zero_()

    def forward(self, x):
        features = [x]
        for conv in self.convs:
            features.append(self.act(conv(torch.cat(features, 1))))
        return x + self.alpha * self.conv_last(torch.cat(features, 1))  # eq. 7


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: pooled channel statistics through two linear layers rescale each channel (eq. 8-11)."""

    def __init__(self, channels: int = 64, reduction: int = 16):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)  # eq. 8
        self.fc1 = nn.Linear(channels, channels // reduction)  # eq. 9
        self.fc2 = nn.Linear(channels // reduction, channels)  # eq. 10

    def forward(self, x):
        z = self.pool(x).flatten(1)
        z = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
        return x * z[:, :, None, None]  # eq. 11


class Upsample2x(nn.ConvTranspose2d):
    """A 2x transposed convolution (eq. 12), kernel 4, stride 2, padding 1, whose bias is added
    after the kernel instead of inside it: nn.ConvTranspose2d's parameters and maths, but under
    bf16 autocast oneDNN's backward of a transposed convolution with a bias computes the bias
    gradient on a slow path (a sum over the output that costs several times the weight gradient;
    `bench/train_speed.py --ops` shows it per op), where autograd's sum of the added bias is cheap."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 4, 2, 1)

    def forward(self, x):
        y = F.conv_transpose2d(x, self.weight, None, self.stride, self.padding)
        return y.add_(self.bias.to(y.dtype)[:, None, None])  # in place: the kernel's output is not saved for backward


class LPSR(nn.Module):
    def __init__(
        self,
        scale: int = 8,
        channels: int = 64,
        blocks: int = 8,
        growth: int = 32,
        reduction: int = 16,
        alpha_init: float = 0.2,
        init_scale: float = 0.1,
    ):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"LPSR supports scales {SCALES}, not {scale}")
        self.scale = scale
        self.head = nn.Conv2d(3, channels, 3, padding=1)  # eq. 5
        self.blocks = nn.Sequential(  # eq. 6-7
            *(ResidualDenseBlock(channels, growth, 4, alpha_init, init_scale) for _ in range(blocks))
        )
        self.attention = ChannelAttention(channels, reduction)  # eq. 8-11
        self.upsample = nn.Sequential(  # eq. 12: L = log2(s) stages
            *(m for _ in range(int(math.log2(scale))) for m in (Upsample2x(channels), nn.ReLU(inplace=True)))
        )
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)  # eq. 13

    def forward(self, x):
        return self.tail(self.upsample(self.attention(self.blocks(self.head(x)))))
