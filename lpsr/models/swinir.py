"""SwinIR (Liang et al., "SwinIR: Image Restoration Using Swin Transformer", ICCVW 2021), the
classical-SR configuration, built from spandrel's maintained copy of the authors' architecture.

Classical SR: embed_dim 180, 6 residual Swin transformer blocks of depth 6 with 6 heads,
window 8, MLP ratio 2, pixel-shuffle upsampler, one conv in the residual connection: 11.9M
parameters at x8 (paper: 11M). The input is edge-padded (replicate) to a multiple of the window
(8 LR pixels) and the output cropped back to s times the input size, so whole plates of any size
go through; spandrel's own reflect padding cannot pad a 4-pixel-high LR plate to 8. `img_size` only fixes the size for which the shifted-window
mask is precomputed; 64 keeps shifted windows (a size <= the window would switch them off).
"""

from __future__ import annotations

import warnings

import torch.nn.functional as F
from spandrel.architectures.SwinIR import SwinIR as _SwinIR
from torch import nn


class SwinIR(nn.Module):
    def __init__(
        self,
        scale: int = 8,
        embed_dim: int = 180,
        depth: int = 6,
        stages: int = 6,
        heads: int = 6,
        window_size: int = 8,
        img_size: int = 64,
    ):
        super().__init__()
        self.scale = scale
        with warnings.catch_warnings():  # spandrel calls torch.meshgrid without `indexing` (same result)
            warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
            self.net = _SwinIR(
                upscale=scale,
                img_size=img_size,
                window_size=window_size,
                img_range=1.0,
                depths=[depth] * stages,
                embed_dim=embed_dim,
                num_heads=[heads] * stages,
                mlp_ratio=2.0,
                upsampler="pixelshuffle",
                resi_connection="1conv",
            )

    def forward(self, x):
        h, w = x.shape[-2:]
        size = self.net.window_size
        x = F.pad(x, (0, -w % size, 0, -h % size), mode="replicate")
        return self.net(x)[..., : h * self.scale, : w * self.scale]
