"""Training losses, and `build_loss`, which builds the configured one with the networks it needs.

`pecl` is the paper's loss (MSE is PECL without an encoder), `encoder` its Siamese ResNet-18,
`plate_reader` the plate reader whose pretrained trunk is the offline `plates` encoder, `esrgan` and
`text_focus` the recipes of ESRGAN and TBSRN in Table 1.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lpsr.losses.encoder import build_encoder
from lpsr.losses.esrgan import ESRGANLoss
from lpsr.losses.pecl import PECLLoss, TrainingLoss
from lpsr.losses.plate_reader import load_plate_classifier
from lpsr.losses.text_focus import TextFocusedLoss
from lpsr.models.esrgan import VGGDiscriminator
from lpsr.seeding import preserved_rng


def build_loss(config, encoder_file: str | Path | None = None, train_plates=None) -> TrainingLoss:
    """The loss `config` (a lpsr.config.RunConfig: its loss, seed and budget) configures, with the
    networks it needs: the Siamese encoder of PECL, ESRGAN's perceptual encoder and discriminator,
    TBSRN's plate classifier (`train_plates` feed its whole-plate terms). A `plates` encoder and the
    text-focused loss's reader are loaded from `encoder_file`, the plate reader that training
    pretrains and caches (lpsr.training.encoder_pretraining.plate_encoder_for). (The configuration
    sits above the losses, so it is not imported here.)"""
    loss = config.loss
    if loss.name == "mse":
        return PECLLoss(None)
    path = encoder_file if encoder_file is not None else loss.encoder_path
    if (loss.encoder_init == "plates" or loss.name == "text") and path is None:
        raise ValueError(
            f"the {loss.name} loss needs the pretrained plate reader: hand build_loss its file "
            "(lpsr.training.encoder_pretraining.plate_encoder_for pretrains and caches it, as `lpsr train` does)"
        )
    if loss.name == "text":
        return TextFocusedLoss(load_plate_classifier(path), train_plates, loss.text_plates)
    encoder = build_encoder(loss.dim, loss.encoder_init, path, trainable=loss.trainable, seed=config.train.seed)
    if loss.name == "esrgan":
        with preserved_rng():
            torch.manual_seed(config.train.seed)
            discriminator = VGGDiscriminator(config.data.patch_size)
        return ESRGANLoss(
            encoder, discriminator, int(loss.gan_start * config.train.iterations), loss.gan_lr, loss.gan_select
        )
    return PECLLoss(encoder, loss.distance, loss.reading, loss.margin, loss.weighting, loss.w_pixel)
