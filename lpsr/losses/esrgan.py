"""ESRGAN's training recipe (Wang et al., ECCVW 2018, sec. 3.3 and 4.1), inside one budget.

The first `gan_start` share of the iterations train the generator PSNR-first with L1 alone,
as ESRGAN's PSNR-oriented pretraining. From then on the generator minimises

    L_G = L_percep + lambda * L_G^Ra + eta * L_1        (lambda = 5e-3, eta = 1e-2)

and a VGG-style discriminator C is trained after every generator step with the relativistic
average loss, D_Ra(x_r, x_f) = sigmoid(C(x_r) - E[C(x_f)]):

    L_D  = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]
    L_G^Ra = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]

ESRGAN's perceptual loss compares VGG-19 features; this study runs offline, so the perceptual
network is the PECL encoder's ResNet-18 trunk with the same initialisation choices
(lpsr.losses.encoder: `plates`, `imagenet` from a local file, `path`, `random`), frozen, and L_percep
is the L1 distance between its last feature maps of SR and HR. The discriminator has its own
Adam optimiser (lr `gan_lr`, betas (0.9, 0.99) as ESRGAN), kept in the loss's state, and
the generator's lr is capped at `gan_lr` too once the GAN phase starts (ESRGAN trains both
at 1e-4; the PSNR phase follows the profile's schedule).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from lpsr.config import GAN_SELECTS  # the accepted values, declared with the settings
from lpsr.losses.pecl import TrainingLoss


class ESRGANLoss(TrainingLoss):
    def __init__(
        self,
        encoder,
        discriminator,
        gan_start: int,
        gan_lr: float = 1e-4,
        gan_select: str = "gan",
        perceptual_weight: float = 1.0,
        adversarial_weight: float = 5e-3,
        l1_weight: float = 1e-2,
    ):
        super().__init__()
        self.encoder = encoder.freeze()
        self.discriminator = discriminator.requires_grad_(False)  # trained only in after_step
        if gan_select not in GAN_SELECTS:
            raise ValueError(f"gan_select must be one of {GAN_SELECTS}, not {gan_select!r}")
        self.gan_start, self.gan_lr, self.gan_select = gan_start, gan_lr, gan_select
        self.perceptual_weight, self.adversarial_weight, self.l1_weight = (
            perceptual_weight,
            adversarial_weight,
            l1_weight,
        )
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=gan_lr, betas=(0.9, 0.99))
        self.gan = False

    def forward(self, sr, hr, iteration: int = 0, **context):
        l1 = F.l1_loss(sr, hr)
        self.gan = iteration >= self.gan_start
        if not self.gan:
            return l1, {"l1": l1.item()}
        with torch.no_grad():
            hr_features = self.encoder.features(hr)
        perceptual = F.l1_loss(self.encoder.features(sr), hr_features)
        real = self.discriminator(hr).detach()
        fake = self.discriminator(sr)
        adversarial = 0.5 * (
            F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
            + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake))
        )
        total = self.perceptual_weight * perceptual + self.adversarial_weight * adversarial + self.l1_weight * l1
        return total, {"l1": l1.item(), "perceptual": perceptual.item(), "adversarial": adversarial.item()}

    def lr_cap(self, iteration: int) -> float | None:
        return self.gan_lr if iteration >= self.gan_start else None

    def selectable(self, done: int) -> bool:
        # PSNR-first checkpoints score higher on val PSNR-Y; selecting one would report the
        # L1-trained RRDBNet, not ESRGAN
        return self.gan_select == "any" or done > self.gan_start

    def after_step(self, sr, hr):
        if not self.gan:
            return {}
        self.discriminator.requires_grad_(True)
        fake = self.discriminator(sr.detach())
        real = self.discriminator(hr)
        loss = 0.5 * (
            F.binary_cross_entropy_with_logits(real - fake.mean(), torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake))
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if dist.is_initialized() and dist.get_world_size() > 1:
            for p in self.discriminator.parameters():
                dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)
        self.optimizer.step()
        self.discriminator.requires_grad_(False)
        return {"discriminator": loss.item(), "d_real": real.mean().item(), "d_fake": fake.mean().item()}

    def get_extra_state(self):
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
