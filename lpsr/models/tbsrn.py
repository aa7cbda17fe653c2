"""TBSRN, the transformer-based SR network of Scene Text Telescope (Chen, Li and Xue,
"Scene Text Telescope: Text-Focused Scene Image Super-Resolution", CVPR 2021).

conv9x9 (2h maps) + PReLU -> `blocks` text-focused blocks -> conv3x3 + BatchNorm, added to the
head's output -> log2(s) stages of conv3x3 + pixel shuffle by 2 + Mish -> conv9x9 -> tanh, as
the authors' code. A block is conv3x3-BN-Mish-conv3x3-BN whose output, flattened to H*W tokens
and concatenated with a fixed 2D sinusoidal position encoding (2h more channels), goes through
a self-attention layer (4 heads, residual, LayerNorm), a position-wise feed-forward layer
(residual, LayerNorm) and a linear map back to 2h channels, added to the block input.

Differences from the authors' code, all forced by plates or by this protocol: the position
encoding is computed for the input's size (theirs is fixed to TextZoom's 16 x 64); the TPS
spatial transformer is left out (plates are already rectified by their four vertices, which
is the misalignment the STN corrects); two GRU blocks their code builds but never calls are
not built. With h = 32 and 5 blocks the SR network has 1.42M parameters at x8. The paper's 12M
probably counts TBSRN's frozen transformer recogniser, which its text-focused loss uses; here
that role is played by the project's plate reader (the `text` loss of lpsr.losses).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def positional_encoding_2d(channels: int, height: int, width: int) -> torch.Tensor:
    """(channels, height, width): sin/cos of the column in the first half, of the row in the second."""
    if channels % 4:
        raise ValueError(f"the 2D position encoding needs channels divisible by 4, not {channels}")
    half = channels // 2
    div = torch.exp(torch.arange(0.0, half, 2) * -(math.log(10000.0) / half))
    pe = torch.zeros(channels, height, width)
    cols = torch.arange(width, dtype=torch.float32)[:, None] * div  # (W, half/2)
    rows = torch.arange(height, dtype=torch.float32)[:, None] * div
    pe[0:half:2] = torch.sin(cols).T[:, None, :].expand(-1, height, -1)
    pe[1:half:2] = torch.cos(cols).T[:, None, :].expand(-1, height, -1)
    pe[half::2] = torch.sin(rows).T[:, :, None].expand(-1, -1, width)
    pe[half + 1 :: 2] = torch.cos(rows).T[:, :, None].expand(-1, -1, width)
    return pe


class FeatureEnhancer(nn.Module):
    def __init__(self, channels: int = 64, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        d_model = 2 * channels
        self.attention = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model, eps=1e-6)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, d_model), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(d_model, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model, eps=1e-6)
        self.out = nn.Linear(d_model, channels)

    def forward(self, x):
        b, c, h, w = x.shape
        position = positional_encoding_2d(c, h, w).to(x)
        tokens = torch.cat([x, position.expand(b, -1, -1, -1)], 1).flatten(2).transpose(1, 2)  # (B, HW, 2c)
        tokens = self.norm1(tokens + self.attention(tokens, tokens, tokens, need_weights=False)[0])
        tokens = self.norm2(tokens + self.feed_forward(tokens))
        return self.out(tokens).transpose(1, 2).reshape(b, c, h, w)


class TextFocusedBlock(nn.Module):
    def __init__(self, channels: int = 64):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.Mish(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )
        self.enhancer = FeatureEnhancer(channels)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, x):
        return x + self.enhancer(self.convs(x))


class TBSRN(nn.Module):
    def __init__(self, scale: int = 8, hidden: int = 32, blocks: int = 5):
        super().__init__()
        if scale & (scale - 1):
            raise ValueError(f"TBSRN's upsampler supports powers of 2, not {scale}")
        self.scale = scale
        channels = 2 * hidden
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU())
        self.blocks = nn.Sequential(*(TextFocusedBlock(channels) for _ in range(blocks)))
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.upsample = nn.Sequential(
            *(
                m
                for _ in range(int(math.log2(scale)))
                for m in (nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.Mish())
            )
        )
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    def forward(self, x):
        head = self.head(x)
        return torch.tanh(self.tail(self.upsample(head + self.body_tail(self.blocks(head)))))
