"""The plate reader: a ResNet-18 trunk with 8 character classifiers, one per plate position, on its
flattened last feature map.

Pretrained on the HR train plates (lpsr.training.encoder_pretraining), it gives the offline
`plates` initialisation of PECL's Siamese encoder (lpsr.losses.encoder), ESRGAN's perceptual
network and TBSRN's text-focused loss their features; this module holds the network, the labels
it reads and the loading of its file.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn

from lpsr.data.ccpd import ADS, ALPHABETS, PROVINCES, encode_plate
from lpsr.files import load_checkpoint
from lpsr.losses.encoder import PlateEncoder, file_sha256

# classes per plate position: province, alphabet letter, 5 (or 6) letters-and-digits; the 8th
# position (green plates only) has one more class, "blank", for 7-character plates
POSITION_CLASSES = (len(PROVINCES), len(ALPHABETS), *[len(ADS)] * 5, len(ADS) + 1)


BLANK = len(ADS)


class PlateClassifier(nn.Module):
    """A PlateEncoder trunk with 8 per-position character classifiers on its flattened last map
    (plates resized to `size`); what `lpsr.training.encoder_pretraining.pretrain_plate_encoder` trains."""

    def __init__(self, size: tuple[int, int] = (48, 144)):
        super().__init__()
        self.size = tuple(size)
        self.encoder = PlateEncoder(dim=1)
        self.encoder.resnet.fc = nn.Identity()  # only the trunk is used, kept and fingerprinted
        h, w = (math.ceil(s / 32) for s in size)
        self.dropout = nn.Dropout(0.2)
        self.heads = nn.ModuleList(nn.Linear(512 * h * w, n) for n in POSITION_CLASSES)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.dropout(self.encoder.features(x).flatten(1))
        return [head(features) for head in self.heads]

    def read(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(per-position logits, class maps (B, 8, h, w)). The class map of position k is the
        evidence for its true class at each place of the last feature map (the classifier's
        weights for that class times the features, summed over channels): where on the plate
        the reader finds character k, the analogue of a recogniser's attention map."""
        features = self.encoder.features(x)
        flat = self.dropout(features.flatten(1))
        logits = [head(flat) for head in self.heads]
        maps = [(head.weight[labels[:, k]].view_as(features) * features).sum(1) for k, head in enumerate(self.heads)]
        return logits, torch.stack(maps, 1)


def load_plate_classifier(path: str | Path) -> PlateClassifier:
    """The frozen trunk + position classifiers written by `lpsr.training.encoder_pretraining.pretrain_plate_encoder`."""
    state = load_checkpoint(path)
    if not (isinstance(state, dict) and "heads" in state and "meta" in state):
        raise ValueError(f"{path} holds no position classifiers: pretrain it again with `lpsr encoder pretrain`")
    classifier = PlateClassifier(tuple(state["meta"]["size"]))
    classifier.encoder.load_trunk(state["trunk"], str(path))
    classifier.heads.load_state_dict(state["heads"])
    classifier.init_info = {
        "init": "plates",
        "file": str(Path(path).resolve()),
        "sha256": file_sha256(path),
        "meta": state["meta"],
    }
    for parameter in classifier.parameters():
        parameter.requires_grad_(False)
    return classifier.eval()


def plate_labels(texts: list[str]) -> torch.Tensor:
    labels = []
    for text in texts:
        indices = list(encode_plate(text))
        labels.append(indices + [BLANK] * (8 - len(indices)))
    return torch.tensor(labels, dtype=torch.long)
