"""TBSRN's text-focused loss (Chen, Li and Xue, "Scene Text Telescope", CVPR 2021, sec. 3.3),
with plate supervision.

    L = L_MSE + 10 * L_position + 0.0005 * L_content                (weights as the authors' code)

In the original, a frozen transformer recogniser reads SR and HR text images: L_position is the
L1 distance between its attention maps on the two, L_content a (stroke-confusion weighted)
cross-entropy of its predictions on SR against the label. Its recogniser reads English, not
Chinese plates, so here the recogniser is the project's plate classifier (`plates` encoder:
a ResNet-18 trunk + one classifier per character position, pretrained on HR train plates,
lpsr.losses.encoder): L_position is the L1 distance between its class maps (per position, where it
finds the true character, made an attention map by a spatial softmax) on SR and HR, L_content the cross-entropy of its 8 position
classifiers on SR, summed over positions (plain cross-entropy: the stroke-confusion weights
are built for the English alphabet).

Both terms need whole plates with their text, which a 64x64 training patch is not: each
iteration, besides the patch batch (which gives L_MSE), `plates_per_step` whole train plates
are super-resolved at their native LR size (the degradation evaluation uses) and, like their
HR, resized (bilinear, antialiased) to the classifier's 48 x 144 input.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lpsr.losses.pecl import TrainingLoss
from lpsr.losses.plate_reader import PlateClassifier, plate_labels


def _image(array: np.ndarray, device) -> torch.Tensor:
    """A (1, 3, h, w) float tensor in [0, 1] of an HWC uint8 plate (copied: plates are memory-mapped)."""
    return torch.tensor(array, device=device).permute(2, 0, 1)[None].float().div(255)


def _attention(maps: torch.Tensor) -> torch.Tensor:
    """Class maps (B, 8, h, w) as attention maps: a softmax over the places of each position's
    map, in [0, 1] and summing to 1 like a recogniser's attention (the scale TBSRN's weight of 10
    was set for; the raw evidence is unbounded and swamps the pixel loss)."""
    return maps.flatten(2).softmax(-1)


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


class TextFocusedLoss(TrainingLoss):
    def __init__(
        self,
        classifier: PlateClassifier,
        plates,
        plates_per_step: int = 1,
        position_weight: float = 10.0,
        content_weight: float = 5e-4,
    ):
        super().__init__()
        if plates_per_step < 1:
            raise ValueError(f"the text-focused loss needs at least one whole plate per step, not {plates_per_step}")
        self.encoder = classifier  # frozen, rebuilt from its file on resume
        self.lr_plates, self.hr_plates = plates.lr, plates.hr
        self.labels = plate_labels(plates.texts)
        self.plates_per_step = plates_per_step
        self.position_weight, self.content_weight = position_weight, content_weight

    def forward(self, sr, hr, model=None, generator=None, **context):
        pixel = F.mse_loss(sr, hr)
        pick = torch.randint(len(self.lr_plates), (self.plates_per_step,), generator=generator).tolist()
        size = self.encoder.size
        sr_plates, hr_plates = [], []
        for i in pick:
            sr_plates.append(_resize(model(_image(self.lr_plates[i], sr.device)).float(), size))
            hr_plates.append(_resize(_image(self.hr_plates[i], sr.device), size))
        labels = self.labels[pick].to(sr.device)
        with torch.no_grad():
            _, hr_maps = self.encoder.read(torch.cat(hr_plates), labels)
        logits, sr_maps = self.encoder.read(torch.cat(sr_plates), labels)
        position = F.l1_loss(_attention(sr_maps), _attention(hr_maps))
        content = sum(F.cross_entropy(lg, labels[:, k]) for k, lg in enumerate(logits))
        total = pixel + self.position_weight * position + self.content_weight * content
        return total, {"mse": pixel.item(), "position": position.item(), "content": content.item()}
