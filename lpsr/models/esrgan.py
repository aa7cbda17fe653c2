"""ESRGAN (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
ECCVW 2018): the RRDBNet generator and a VGG-style discriminator.

The generator is spandrel's maintained copy of the authors' RRDBNet: 64 features, 23
residual-in-residual dense blocks, nearest-neighbour + conv upsampling stages (log2(s) of
them): 16.7M parameters at x8 (paper: 16M). As in BasicSR, the default initialisation of every
dense-block convolution is scaled by 0.1 (spandrel builds the network for inference and does
not). The training recipe (PSNR-oriented first, then relativistic GAN + perceptual + L1) is the
`esrgan` loss of lpsr.losses; the discriminator lives here because it is an architecture.
"""

from __future__ import annotations

import torch
from spandrel.architectures.ESRGAN import ESRGAN as _RRDBNet
from torch import nn


class RRDBNet(nn.Module):
    def __init__(self, scale: int = 8, features: int = 64, blocks: int = 23, init_scale: float = 0.1):
        super().__init__()
        self.scale = scale
        self.net = _RRDBNet(in_nc=3, out_nc=3, num_filters=features, num_blocks=blocks, scale=scale)
        with torch.no_grad():
            for name, module in self.net.named_modules():
                if isinstance(module, nn.Conv2d) and ".RDB" in name:
                    nn.init.kaiming_normal_(module.weight)
                    module.weight.mul_(init_scale)
                    module.bias.zero_()

    def forward(self, x):
        return self.net(x)


class VGGDiscriminator(nn.Module):
    """ESRGAN's VGG-style discriminator for `size` x `size` patches (64 here): conv pairs
    (stride 1, then stride 2) doubling the width from 64 to 512 until the map is 4 x 4, then
    two dense layers to one logit. BatchNorm and LeakyReLU 0.2, as the original."""

    def __init__(self, size: int = 64, features: int = 64):
        super().__init__()
        layers = [nn.Conv2d(3, features, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        layers += [
            nn.Conv2d(features, features, 4, 2, 1, bias=False),
            nn.BatchNorm2d(features),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width, side = features, size // 2
        while side > 4:
            out = min(2 * width, 512)
            layers += [
                nn.Conv2d(width, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            layers += [nn.Conv2d(out, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, inplace=True)]
            width, side = out, side // 2
        if side != 4:
            raise ValueError(f"the discriminator needs a power-of-2 patch size >= 8, not {size}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(width * 16, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))
