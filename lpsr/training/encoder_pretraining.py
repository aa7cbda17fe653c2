"""Pretraining the plate reader (lpsr.losses.plate_reader): a ResNet-18 trunk and 8 per-position
character classifiers trained to read the HR train plates, measured on val, and cached under
`$LPSR_CACHE/encoders/` (`plate_encoder_path`). Its trunk is the offline `plates` initialisation
of PECL's Siamese encoder and of ESRGAN's perceptual network; the whole reader feeds TBSRN's
text-focused loss. Training hands the file to `lpsr.losses.build_loss` (`plate_encoder_for`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lpsr.data.plates import (
    DataError,
    PlateProtocol,
    default_cache_dir,
    has_split,
    hash_frames,
    list_frames,
    load_plates,
    nested_subset,
)
from lpsr.files import checkpoint_bytes, write_atomic
from lpsr.losses import TrainingLoss, build_loss
from lpsr.losses.plate_reader import BLANK, PlateClassifier, plate_labels
from lpsr.precision import reproducible_fp32
from lpsr.seeding import preserved_rng, seed_everything

ENCODER_FILE = "encoder.pt"
PRETRAIN_VERSION = 2  # 2: the file also holds the position classifiers
# The pretraining runs on this many CPU threads whatever the caller's count: oneDNN's convolution
# backward sums per-thread partial results, so the weights depend on it (2 is the training default,
# under which the cached encoders were made).
PRETRAIN_THREADS = 2


def loss_for(config, root: str | Path, train_plates=None, progress: bool = True) -> TrainingLoss:
    """The loss a run of `config` trains with: `lpsr.losses.build_loss` handed the plate reader it
    needs (`plate_encoder_for`, pretrained on `root` on first use)."""
    return build_loss(config, plate_encoder_for(config, root, progress), train_plates)


def plate_encoder_for(config, root: str | Path, progress: bool = True) -> Path | None:
    """The plate-reader file the loss of `config` (a lpsr.config.RunConfig) needs: its
    `loss.encoder_path` when given, else for a `plates` encoder or the text-focused loss the one
    pretrained on `root` with the run's seed and kernels (pretrained now on first use, then
    cached); None when the loss needs none."""
    loss = config.loss
    if (
        loss.name == "mse"
        or loss.encoder_path is not None
        or not (loss.encoder_init == "plates" or loss.name == "text")
    ):
        return loss.encoder_path
    settings = {"iterations": loss.encoder_iterations, "seed": config.train.seed}
    if loss.encoder_plates == "subset":
        settings |= {"train_plates": config.data.train_plates, "subset_seed": config.data.subset_seed}
    out = plate_encoder_path(root, kernels=config.train.cpu_kernels, **settings)
    return pretrain_plate_encoder(root, out, progress=progress, **settings)


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
    if not settings["train_plates"]:  # every train plate: keyed as encoders were before subsets existed
        del settings["train_plates"], settings["subset_seed"]
    return settings


def plate_encoder_path(
    root: str | Path, cache_dir: str | Path | None = None, kernels: str = "native", **settings
) -> Path:
    """The canonical out_dir of `pretrain_plate_encoder(root, ..., **settings)` under
    `$LPSR_CACHE/encoders/`, keyed by the root, its train/val frame lists and the settings; an
    encoder pretrained on other CPU kernels than the native ones (`train.cpu_kernels`) is another
    encoder, in a folder of its own."""
    root = Path(root)
    digest = hashlib.sha256()
    digest.update(json.dumps([PRETRAIN_VERSION, str(root.resolve()), _settings(**settings)], sort_keys=True).encode())
    for split in ("train", "val"):
        hash_frames(digest, root, list_frames(root, split), prefix=f"{split}:")
    suffix = "" if kernels == "native" else f"-{kernels}"
    return Path(cache_dir or default_cache_dir()) / "encoders" / f"plates-{digest.hexdigest()[:16]}{suffix}"


def pretrain_plate_encoder(
    root: str | Path,
    out_dir: str | Path,
    iterations: int = 600,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    size: tuple[int, int] = (48, 144),
    train_plates: int = 0,
    subset_seed: int = 0,
    progress: bool = True,
) -> Path:
    """Train a ResNet-18 trunk to read the HR train plates of `root` (`train_plates` of them, the
    nested subset of `subset_seed` as lpsr.data.plates.nested_subset ranks them; 0: all); return
    `out_dir/encoder.pt`.

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
    out_dir = Path(out_dir)
    given = {"iterations": iterations, "batch_size": batch_size, "lr": lr, "seed": seed, "size": tuple(size)}
    settings = _settings(**given, train_plates=train_plates, subset_seed=subset_seed)
    done_file, encoder_file = out_dir / "done.json", out_dir / ENCODER_FILE
    if _pretrained(out_dir, settings):
        return encoder_file
    reader, meta, losses = _pretrain(root, settings, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(
        {
            encoder_file: checkpoint_bytes(
                {"trunk": reader.encoder.trunk_state_dict(), "heads": reader.heads.state_dict(), "meta": meta}
            )
        }
    )
    write_atomic(
        {done_file: json.dumps({"settings": settings, **meta, "losses": losses}, indent=2).encode("utf-8")}
    )  # after the weights: done.json vouches for them
    return encoder_file


def _pretrained(out_dir: Path, settings: dict) -> bool:
    """Whether `out_dir` holds a finished pretraining (its `done.json` and weights); a ValueError
    if it was made with other settings."""
    done_file = out_dir / "done.json"
    if not (done_file.is_file() and (out_dir / ENCODER_FILE).is_file()):
        return False
    done = json.loads(done_file.read_text(encoding="utf-8"))
    if done.get("settings") != settings:
        raise ValueError(
            f"{out_dir} holds an encoder pretrained with {done.get('settings')}, not {settings}: "
            f"use another out_dir (see plate_encoder_path) or delete it"
        )
    return True


def _pretrain(root: str | Path, settings: dict, progress: bool) -> tuple[PlateClassifier, dict, list[float]]:
    """The trained reader, what its file records of it, and the loss of every iteration."""
    iterations, batch_size, lr, seed = (settings[k] for k in ("iterations", "batch_size", "lr", "seed"))
    if iterations < 1 or batch_size < 1:
        raise ValueError(f"iterations and batch_size must be positive, got {iterations}, {batch_size}")
    root = Path(root)
    if not has_split(root, "val"):
        raise DataError(f"{root} has no val split (splits/val.txt or val/): the encoder is evaluated on it")
    train_plates = load_plates(root, "train", PlateProtocol(), progress=progress)
    train_plates = nested_subset(train_plates, settings.get("train_plates", 0), settings.get("subset_seed", 0))
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
        losses = _fit(reader, optimizer, scheduler, train_images, train_labels, batch_size, generator, progress)
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
    return reader, meta, losses


def _fit(
    reader, optimizer, scheduler, images, labels, batch_size: int, generator: torch.Generator, progress: bool
) -> list[float]:
    """The pretraining loop: the cross-entropy summed over plate positions, one step a batch; the loss of every step."""
    losses = []
    bar = tqdm(range(scheduler.T_max), desc="plate encoder", disable=not progress, unit="it")
    for _ in bar:
        reader.train()
        pick = torch.randint(len(images), (batch_size,), generator=generator)
        logits, picked = reader(_augment(images[pick], generator)), labels[pick]
        loss = sum(F.cross_entropy(lg, picked[:, k]) for k, lg in enumerate(logits))
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss {loss.item()} while pretraining the plate encoder")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return losses
