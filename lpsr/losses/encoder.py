"""The Siamese encoder of the PECL loss (paper sec. 3.3, eq. 15-16), and its initialisations.

PECL embeds the SR and the HR 64x64 patch with one shared ResNet-18 whose fc layer is replaced
by a d-dim head (d = 128 in sec. 3.3; 64/128/256/512 in the ablation), outputs L2-normalised
(eq. 16). `PlateEncoder` is that network: it takes RGB in [0, 1], applies the ImageNet mean/std
normalisation itself, and returns unit vectors. The input is *not* clamped (clamping would cut
the gradient of SR pixels that overshoot [0, 1]).

The paper uses an ImageNet-pretrained ResNet-18. This study runs offline and cannot download
those weights, so the initialisation is a choice, recorded in `encoder.init_info`
(``{"init", "file", "sha256", ...}``) and to be reported with every number it produced:

``imagenet``
    torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (``resnet18-f37072fd.pth``) read from a local
    file: an explicit ``path``, or ``$TORCH_HOME/hub/checkpoints/`` (``torch.hub.get_dir()``,
    ``~/.cache/torch`` by default). The paper's reading. Generic natural-image features
    (edges, textures, blobs) learnt from 1.28M photographs.
``plates``
    the trunk of a ResNet-18 trained here from scratch to *read* HR plates
    (`pretrain_plate_encoder`: 8 character classifiers, one per plate position, on the train
    split only). The offline fallback closest in spirit to the paper: features that separate
    characters. It is pretrained on *whole* plates resized to 48x144 but applied, in PECL, to
    64x64 *patches* cut from native-size plates (about 376x112), i.e. to a piece of a plate
    showing one or two characters at roughly twice the pretraining scale. It is still useful
    because a convolutional trunk is local: its early and middle layers respond to strokes,
    stroke ends, junctions and character parts wherever they appear, and those are exactly
    the structures an x8 super-resolver blurs or invents; the whole-plate classifiers only
    shaped which local features the trunk learnt. Its last stage sees a 2x2 map on a patch,
    so the embedding is a pooled summary of those character-part features.
``path``
    the trunk of any ResNet-18 state dict at ``path`` (a file written by
    `pretrain_plate_encoder`, or e.g. torchvision's own file); its fc, whatever its size, is
    dropped.
``random``
    a seeded random ResNet-18 (Kaiming init, as torchvision builds it). A frozen random
    convolutional network is not meaningless (random features still separate images, as in
    "deep image prior"/random-feature perceptual losses), but nothing in it is tuned to
    plates: the control that says how much a pretrained encoder adds.

In every case the d-dim head is a freshly seeded random projection (``nn.Linear(512, d)``,
torchvision's default init): the pretrained files carry no d-dim head (the plate classifiers
of `pretrain_plate_encoder` are not part of the encoder), and the paper does not say how its
head was trained. With a frozen encoder (the default, study notes sec. 2 point 3) the head
stays random; ``trainable=True`` trains head and trunk with the SR model.

A frozen encoder has ``requires_grad=False`` everywhere and stays in eval mode (its
BatchNorm uses the running statistics) even if ``.train()`` is called on it or on a parent
module; gradients still flow through it to its input, which is what lets PECL train the SR
model. Building an encoder does not touch the global random state; nor does
`pretrain_plate_encoder`, so a cache hit and a miss leave the caller's RNG identical.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet18

from lpsr.config import INITS  # the accepted values, declared with the settings
from lpsr.files import load_checkpoint
from lpsr.seeding import preserved_rng

IMAGENET_FILE = "resnet18-f37072fd.pth"
IMAGENET_SHA256_PREFIX = "f37072fd"  # torchvision names its files by the sha256's first 8 hex digits
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER_DIMS = (64, 128, 256, 512)


class PlateEncoder(nn.Module):
    """ResNet-18 trunk + d-dim linear head; RGB in [0, 1] -> L2-normalised embeddings (eq. 16)."""

    def __init__(self, dim: int = 128):
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ValueError(f"embedding dim must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        self.resnet = resnet18(weights=None)
        self.resnet.fc = nn.Linear(512, self.dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.frozen = False
        self.init_info: dict = {"init": "random", "file": None, "sha256": None}

    @property
    def head(self) -> nn.Linear:
        return self.resnet.fc

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's last feature map (B, 512, H/32, W/32) of RGB in [0, 1]."""
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(self.normalise(x)))))
        return r.layer4(r.layer3(r.layer2(r.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.resnet(self.normalise(x)), dim=1)

    def freeze(self) -> "PlateEncoder":
        self.frozen = True
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> "PlateEncoder":
        # a frozen encoder keeps its BatchNorm running statistics even inside a model put in .train()
        return super().train(mode and not self.frozen)

    def trunk_state_dict(self) -> dict:
        return {k: v for k, v in self.resnet.state_dict().items() if not k.startswith("fc.")}

    def load_trunk(self, state: dict, source: str) -> None:
        """Load a ResNet-18 state dict into the trunk; its fc (any size) is ignored."""
        trunk = {k.removeprefix("module."): v for k, v in state.items()}
        trunk = {k: v for k, v in trunk.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = self.resnet.load_state_dict(trunk, strict=False)
        except RuntimeError as error:  # shape mismatches
            raise ValueError(f"{source} is not a ResNet-18 state dict: {error}") from None
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise ValueError(
                f"{source} is not a ResNet-18 state dict: {len(missing)} missing keys "
                f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
            )


def imagenet_weights_path(path: str | Path | None = None) -> Path:
    """Where the ImageNet ResNet-18 weights are: `path`, or torchvision's cache file."""
    target = Path(path).expanduser() if path is not None else Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE
    if not target.is_file():
        raise FileNotFoundError(
            f"ImageNet ResNet-18 weights not found at {target}. This study runs offline and cannot "
            f"download them: put torchvision's {IMAGENET_FILE} (ResNet18_Weights.IMAGENET1K_V1, from "
            f"https://download.pytorch.org/models/{IMAGENET_FILE}, copied from a machine that has it) at "
            f"{Path(torch.hub.get_dir()) / 'checkpoints' / IMAGENET_FILE} (set TORCH_HOME to use another "
            f"cache root), or pass its path explicitly. Without it, use init='plates' (an encoder "
            f"pretrained here on HR plates, see lpsr.training.encoder_pretraining.pretrain_plate_encoder) or init='random' "
            f"(a seeded random encoder)."
        )
    return target


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encoder_fingerprint(encoder: nn.Module) -> str:
    """What a loss's frozen network computes with, for run ids: its `init_info` without where its
    file lies and what the file's metadata says of its making (pretraining time, data path), plus a
    hash of all its weights. A network pretrained again to the same bits keeps its runs' ids. Any
    module with an `init_info` serves: a PECL or perceptual `PlateEncoder`, or the text-focused
    loss's `PlateClassifier`."""
    kept = {k: v for k, v in encoder.init_info.items() if k not in ("file", "sha256", "meta")}
    digest = hashlib.sha256()
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return json.dumps(kept | {"weights_sha256": digest.hexdigest()}, sort_keys=True)


def build_encoder(
    dim: int = 128,
    init: str = "random",
    path: str | Path | None = None,
    trainable: bool = False,
    seed: int = 0,
) -> PlateEncoder:
    """A PECL encoder: `init` in INITS (see the module docstring), frozen unless `trainable`."""
    if init not in INITS:
        raise ValueError(f"unknown encoder init {init!r}: choose one of {INITS}")
    with preserved_rng():
        torch.manual_seed(seed)
        encoder = PlateEncoder(dim)
    info = {"init": init, "file": None, "sha256": None, "dim": encoder.dim, "seed": seed, "trainable": bool(trainable)}
    if init == "imagenet":
        file = imagenet_weights_path(path)
        info.update(file=str(file.resolve()), sha256=file_sha256(file))
        info["imagenet_hash_ok"] = info["sha256"].startswith(IMAGENET_SHA256_PREFIX)
        if not info["imagenet_hash_ok"]:
            warnings.warn(
                f"{file} is not torchvision's {IMAGENET_FILE} (sha256 {info['sha256'][:16]}... does not start "
                f"with {IMAGENET_SHA256_PREFIX}); loading it anyway as a ResNet-18 state dict",
                stacklevel=2,
            )
        encoder.load_trunk(load_checkpoint(file), str(file))
    elif init in ("path", "plates"):
        if path is None:
            hint = " (the encoder.pt written by pretrain_plate_encoder)" if init == "plates" else ""
            raise ValueError(f"init={init!r} needs path={hint or ' (a ResNet-18 state dict)'}")
        file = Path(path).expanduser()
        state = load_checkpoint(file)  # FileNotFoundError when missing
        is_pretrained = isinstance(state, dict) and "trunk" in state and "meta" in state
        if init == "plates" and not is_pretrained:
            raise ValueError(f"{file} was not written by pretrain_plate_encoder (no 'trunk'/'meta'); use init='path'")
        encoder.load_trunk(state["trunk"] if is_pretrained else state, str(file))
        info.update(file=str(file.resolve()), sha256=file_sha256(file))
        if is_pretrained:
            info["meta"] = state["meta"]
    encoder.init_info = info
    if not trainable:
        encoder.freeze()
    return encoder
