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
import inspect
import json
import math
import random
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet18
from tqdm.auto import tqdm

from lpsr.ccpd import ADS, ALPHABETS, PROVINCES, encode_plate
from lpsr.precision import reproducible_fp32

IMAGENET_FILE = "resnet18-f37072fd.pth"
IMAGENET_SHA256_PREFIX = "f37072fd"  # torchvision names its files by the sha256's first 8 hex digits
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INITS = ("imagenet", "path", "random", "plates")
PAPER_DIMS = (64, 128, 256, 512)
ENCODER_FILE = "encoder.pt"
PRETRAIN_VERSION = 2  # 2: the file also holds the position classifiers
# The pretraining runs on this many CPU threads whatever the caller's count: oneDNN's convolution
# backward sums per-thread partial results, so the weights depend on it (2 is the training default,
# under which the cached encoders were made).
PRETRAIN_THREADS = 2
# classes per plate position: province, alphabet letter, 5 (or 6) letters-and-digits; the 8th
# position (green plates only) has one more class, "blank", for 7-character plates
POSITION_CLASSES = (len(PROVINCES), len(ALPHABETS), *[len(ADS)] * 5, len(ADS) + 1)
BLANK = len(ADS)


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
            f"pretrained here on HR plates, see lpsr.encoder.pretrain_plate_encoder) or init='random' "
            f"(a seeded random encoder)."
        )
    return target


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def preserved_rng():
    """Run a block without changing Python's, NumPy's or torch's (CPU and CUDA) global RNG state."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def build_encoder(
    dim: int = 128,
    init: str = "random",
    path: str | Path | None = None,
    trainable: bool = False,
    seed: int = 0,
) -> PlateEncoder:
    """A PECL encoder: `init` in INITS (see the module docstring), frozen unless `trainable`."""
    from lpsr.train import load_checkpoint

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


# --------------------------------------------------------------------------- plate pretraining


class PlateClassifier(nn.Module):
    """A PlateEncoder trunk with 8 per-position character classifiers on its flattened last map
    (plates resized to `size`); what `pretrain_plate_encoder` trains."""

    def __init__(self, size: tuple[int, int] = (48, 144)):
        super().__init__()
        self.size = tuple(size)
        self.encoder = PlateEncoder(dim=1)  # its head is unused; only the trunk is kept
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
        maps = [
            (head.weight[labels[:, k]].view_as(features) * features).sum(1)
            for k, head in enumerate(self.heads)
        ]
        return logits, torch.stack(maps, 1)


def load_plate_classifier(path: str | Path) -> PlateClassifier:
    """The frozen trunk + position classifiers written by `pretrain_plate_encoder`."""
    from lpsr.train import load_checkpoint

    state = load_checkpoint(path)
    if not (isinstance(state, dict) and "heads" in state and "meta" in state):
        raise ValueError(f"{path} holds no position classifiers: pretrain it again with `lpsr encoder pretrain`")
    classifier = PlateClassifier(tuple(state["meta"]["size"]))
    classifier.encoder.load_trunk(state["trunk"], str(path))
    classifier.heads.load_state_dict(state["heads"])
    classifier.init_info = {"init": "plates", "file": str(Path(path).resolve()), "sha256": file_sha256(path), "meta": state["meta"]}
    for parameter in classifier.parameters():
        parameter.requires_grad_(False)
    return classifier.eval()


def plate_labels(texts: list[str]) -> torch.Tensor:
    labels = []
    for text in texts:
        indices = list(encode_plate(text))
        labels.append(indices + [BLANK] * (8 - len(indices)))
    return torch.tensor(labels, dtype=torch.long)


def _resize_plates(plates: list[np.ndarray], size: tuple[int, int]) -> torch.Tensor:
    """(N, 3, h, w) uint8 tensor of plates resized to `size` = (h, w)."""
    h, w = size
    out = []
    for plate in plates:
        shrink = plate.shape[0] >= h and plate.shape[1] >= w
        out.append(cv2.resize(np.asarray(plate), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _augment(images: torch.Tensor, generator: torch.Generator, shift: int = 4) -> torch.Tensor:
    """Mild photometric jitter (brightness, contrast) and a small random translation."""
    b = images.shape[0]
    x = images.float().div(255)
    gain = 1 + 0.25 * (2 * torch.rand(b, 1, 1, 1, generator=generator) - 1)
    offset = 0.08 * (2 * torch.rand(b, 1, 1, 1, generator=generator) - 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * gain + mean + offset).clamp(0, 1)
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    dy, dx = torch.randint(0, 2 * shift + 1, (2, b), generator=generator).tolist()
    h, w = x.shape[2:]
    return torch.stack([padded[i, :, y : y + h, z : z + w] for i, (y, z) in enumerate(zip(dy, dx))])


@torch.no_grad()
def _evaluate(reader: PlateClassifier, images: torch.Tensor, labels: torch.Tensor, batch: int = 64) -> dict:
    reader.eval()
    predictions = []
    for start in range(0, len(images), batch):
        logits = reader(images[start : start + batch].float().div(255))
        predictions.append(torch.stack([lg.argmax(1) for lg in logits], dim=1))
    predicted = torch.cat(predictions)
    correct = predicted == labels
    real = labels != BLANK  # the characters a plate has (7 or 8)
    return {
        "char_accuracy": float((correct & real).sum() / real.sum()),  # of the plate's real characters
        "exact": float(correct.all(dim=1).float().mean()),  # every position right, blank included
        "position_accuracy": [float(c) for c in correct.float().mean(dim=0)],
        "plates": len(images),
    }


def _settings(**overrides) -> dict:
    """The pretraining settings (defaults of pretrain_plate_encoder, updated by `overrides`)."""
    parameters = inspect.signature(pretrain_plate_encoder).parameters
    names = [n for n in parameters if n not in ("root", "out_dir", "progress")]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(f"unknown pretraining settings {unknown}: choose from {names}")
    settings = {n: parameters[n].default for n in names} | overrides
    settings["size"] = [int(s) for s in settings["size"]]
    return settings


def plate_encoder_path(root: str | Path, cache_dir: str | Path | None = None, **settings) -> Path:
    """The canonical out_dir of `pretrain_plate_encoder(root, ..., **settings)` under
    `$LPSR_CACHE/encoders/`, keyed by the root, its train/val frame lists and the settings."""
    from lpsr.data import default_cache_dir, list_frames

    root = Path(root)
    digest = hashlib.sha256()
    digest.update(json.dumps([PRETRAIN_VERSION, str(root.resolve()), _settings(**settings)], sort_keys=True).encode())
    for split in ("train", "val"):
        for frame in list_frames(root, split):
            size = frame.stat().st_size if frame.exists() else -1
            name = frame.relative_to(root) if frame.is_relative_to(root) else frame
            digest.update(f"{split}:{name}:{size}\n".encode())
    return Path(cache_dir or default_cache_dir()) / "encoders" / f"plates-{digest.hexdigest()[:16]}"


def pretrain_plate_encoder(
    root: str | Path,
    out_dir: str | Path,
    iterations: int = 600,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    size: tuple[int, int] = (48, 144),
    progress: bool = True,
) -> Path:
    """Train a ResNet-18 trunk to read the HR train plates of `root`; return `out_dir/encoder.pt`.

    Plates (HR, rectified, as `load_plates` makes them) are resized to `size` = (h, w); 8
    classifiers on the flattened last feature map read one position each (province, letter,
    5-6 letters-and-digits, blank for the 8th position of 7-character plates); the loss is the
    cross-entropy summed over positions; Adam at `lr` with cosine annealing to 0; mild
    brightness/contrast jitter and +-4 px shifts. Character accuracy per position and exact
    plate match are measured on the val split. Writes `encoder.pt` ({"trunk": the ResNet-18
    state dict without fc, "heads": the position classifiers, "meta": ...}) atomically, then `done.json`; if `done.json` exists
    already the run is not repeated (a ValueError if it was made with other settings).
    Leaves the global RNG states and the caller's torch settings as they were; `done.json` also
    holds the loss of every iteration, to compare runs made on different machines.

    Reproducibility: it computes in fp32 on PRETRAIN_THREADS threads with deterministic algorithms
    (lpsr.precision.reproducible_fp32), so the same data and settings give the same bits on any
    machine with the same instruction set. Across instruction sets they cannot: oneDNN's AVX2 and
    AVX-512 convolution kernels accumulate in different orders, so the first forward pass already
    differs in the last bits, and training amplifies that (Adam's first steps, batch norm) into a
    different encoder within tens of iterations, and PECL trained with it into different numbers;
    float64 only delays it. To compare PECL across machines, pretrain once and pass the file
    (`loss.encoder_path`).
    """
    from lpsr.data import DataError, PlateProtocol, has_split, load_plates
    from lpsr.train import checkpoint_bytes, seed_everything, write_atomic

    out_dir = Path(out_dir)
    settings = _settings(iterations=iterations, batch_size=batch_size, lr=lr, seed=seed, size=tuple(size))
    done_file, encoder_file = out_dir / "done.json", out_dir / ENCODER_FILE
    if done_file.is_file() and encoder_file.is_file():
        done = json.loads(done_file.read_text(encoding="utf-8"))
        if done.get("settings") != settings:
            raise ValueError(
                f"{out_dir} holds an encoder pretrained with {done.get('settings')}, not {settings}: "
                f"use another out_dir (see plate_encoder_path) or delete it"
            )
        return encoder_file
    if iterations < 1 or batch_size < 1:
        raise ValueError(f"iterations and batch_size must be positive, got {iterations}, {batch_size}")
    root = Path(root)
    if not has_split(root, "val"):
        raise DataError(f"{root} has no val split (splits/val.txt or val/): the encoder is evaluated on it")
    train_plates = load_plates(root, "train", PlateProtocol(), progress=progress)
    val_plates = load_plates(root, "val", PlateProtocol(), progress=progress)
    size = tuple(settings["size"])
    train_images, train_labels = _resize_plates(train_plates.hr, size), plate_labels(train_plates.texts)
    val_images, val_labels = _resize_plates(val_plates.hr, size), plate_labels(val_plates.texts)

    started = time.perf_counter()
    with preserved_rng(), reproducible_fp32(PRETRAIN_THREADS):
        seed_everything(seed)
        generator = torch.Generator().manual_seed(seed)
        reader = PlateClassifier(size)
        optimizer = torch.optim.Adam(reader.parameters(), lr=lr)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=iterations)
        bar = tqdm(range(iterations), desc="plate encoder", disable=not progress, unit="it")
        losses = []
        for _ in bar:
            reader.train()
            pick = torch.randint(len(train_images), (batch_size,), generator=generator)
            logits = reader(_augment(train_images[pick], generator))
            labels = train_labels[pick]
            loss = sum(F.cross_entropy(lg, labels[:, k]) for k, lg in enumerate(logits))
            if not torch.isfinite(loss):
                raise RuntimeError(f"non-finite loss {loss.item()} while pretraining the plate encoder")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        train_seconds = time.perf_counter() - started
        val = _evaluate(reader, val_images, val_labels)
        train_scores = _evaluate(reader, train_images, train_labels)

    meta = {
        "val_char_accuracy": val["char_accuracy"],
        "val_exact": val["exact"],
        "val_position_accuracy": val["position_accuracy"],
        "train_char_accuracy": train_scores["char_accuracy"],
        "train_exact": train_scores["exact"],
        "final_loss": float(np.mean(losses[-20:])),
        "iterations": iterations,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "size": list(size),
        "train_plates": len(train_images),
        "val_plates": len(val_images),
        "train_seconds": train_seconds,
        "threads": PRETRAIN_THREADS,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX2 and AVX-512 machines make different encoders
        "root": str(root.resolve()),
        "torch": str(torch.__version__),
        "version": PRETRAIN_VERSION,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic({encoder_file: checkpoint_bytes({"trunk": reader.encoder.trunk_state_dict(), "heads": reader.heads.state_dict(), "meta": meta})})
    write_atomic({done_file: json.dumps({"settings": settings, **meta, "losses": losses}, indent=2).encode("utf-8")})  # after the weights: done.json vouches for them
    return encoder_file
