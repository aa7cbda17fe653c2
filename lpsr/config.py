"""Run configuration: one typed dataclass per concern, and the profiles.

A configuration is loaded from a profile (`smoke`, `cpu`, `paper`), optionally a YAML file
with the same nesting, and `section.field=value` overrides, in that order.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml


@dataclass
class DataConfig:
    root: str | None = None  # CCPD root (CCPD2019 layout); None: synthetic CCPD-format frames
    synthetic_frames: int = 600  # frames generated when root is None
    synthetic_seed: int = 0
    crop: str = "rectified"  # "rectified" (4-vertex perspective warp) or "bbox"
    kernel: str = "bicubic"  # LR downscale kernel (lpsr.resize)
    patch_size: int = 64  # HR training patch side (LR side = patch_size / scale)
    val_plates: int = 0  # validate on the first N val plates; 0: all


@dataclass
class ModelConfig:
    name: str = "lpsr"  # a name registered in lpsr.models.MODELS
    scale: int = 8
    options: dict = field(default_factory=dict)  # the model constructor's keyword arguments


@dataclass
class LossConfig:
    """The training loss: plain MSE, or PECL in one of its readings (lpsr.losses)."""

    name: str = "mse"  # "mse", "pecl", "esrgan" (lpsr.esrgan_loss), "text" (TBSRN's, lpsr.text_focus_loss)
    distance: str = "l1"  # D: "l1" (Manhattan, eq. 18) or "l2" (Euclidean)
    reading: str = "positive"  # contrastive term: "paper" (eq. 17 as written), "positive" (D^2), "positive-linear" (D)
    margin: float = 2.0  # m of eq. 17
    weighting: str = "fixed"  # "fixed", "paper" (learnable, clipped, sum to 1), "uncertainty" (Kendall et al.)
    w_pixel: float = 0.5  # the fixed w_pixel, or the learnable weights' starting point
    dim: int = 128  # embedding size d
    encoder_init: str = "plates"  # "plates" (pretrained here on HR train plates), "imagenet", "path", "random"
    encoder_path: str | None = None  # weights file for "imagenet" (optional), "path" and "plates" (optional)
    trainable: bool = False  # train the Siamese encoder with the SR model (default: frozen)
    encoder_iterations: int = 600  # pretraining iterations of the "plates" encoder (lpsr encoder pretrain)
    gan_start: float = 0.5  # esrgan: share of the iterations trained PSNR-first (L1) before the GAN phase
    gan_lr: float = 1e-4  # esrgan: the discriminator's Adam lr
    gan_select: str = "gan"  # esrgan: select the best val checkpoint of the GAN phase ("gan") or of the whole run ("any")
    text_plates: int = 1  # text: whole plates per iteration for the position and content terms (each costs ~10 patches)


@dataclass
class TrainConfig:
    iterations: int = 3000
    batch_size: int = 32
    lr: float = 1e-4  # Adam, as the paper
    warmup: int = 0  # linear warm-up iterations before the cosine schedule (paper: none)
    min_lr: float = 0.0  # cosine annealing floor
    val_every: int = 250  # validate on whole val plates every K iterations (and at the end)
    val_early: bool = True  # also at 10, 20, 50, 100, 200, ... below val_every (for log-axis curves)
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when present, else CPU
    threads: int = 2  # CPU threads (on a loaded 2-core machine 1 can beat 2)
    bf16: bool = False  # bf16 autocast (fast on GPUs and AVX-512-bf16 CPUs; 20x slower on AVX2-only CPUs)
    channels_last: bool = True
    compile: bool = False  # torch.compile the model
    divergence: float = 1e4  # stop when the loss exceeds this multiple of its lowest running mean


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def run_id(self, data_fingerprint: str = "") -> str:
        """A hash of everything that changes the result (not threads/device), and of the data."""
        semantic = self.to_dict()
        for key in ("threads", "device"):
            semantic["train"].pop(key)
        if semantic["loss"]["name"] != "esrgan":  # added later: other losses' runs keep their ids
            semantic["loss"].pop("gan_select")
        text = json.dumps([semantic, data_fingerprint], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


PROFILES: dict[str, dict] = {
    # CI: a few iterations on a small synthetic set, a minute end to end.
    "smoke": {
        "data": {"synthetic_frames": 120, "val_plates": 8},
        "loss": {"encoder_iterations": 10},
        "train": {"iterations": 20, "batch_size": 8, "val_every": 10, "bf16": False, "channels_last": False},
    },
    # The published book on a 2-core CPU: the paper's recipe, shortened to 1000 iterations of
    # batch 16 (2-3 min for MSE), so that the whole book (23 runs) trains in under 2 h. At
    # 1500 iterations the paper's lr (1e-4) left the model below bicubic; 2e-3 with a 50-iteration
    # warm-up reached the best val PSNR-Y of lr in {3e-4, 1e-3, 2e-3} on ccpd-mini (21.9 dB
    # against 20.5 for 1e-3). On a 2-core Xeon the book would take about 3.1 h at 1500 iterations
    # (chapters 1-3 measured); at 1000 it built from scratch in 114 min (2026-11-27).
    "cpu": {
        "data": {"synthetic_frames": 600},
        "train": {"iterations": 1000, "batch_size": 16, "lr": 2e-3, "warmup": 50, "val_every": 250},
    },
    # The paper's scale (sec. 4.1): batch 128, 1000k iterations, Adam 1e-4, cosine; for a GPU.
    "paper": {
        "data": {"synthetic_frames": 20000},
        "train": {"iterations": 1_000_000, "batch_size": 128, "lr": 1e-4, "val_every": 5000, "bf16": True},
    },
}


def _merge(obj, updates: dict, where: str = ""):
    fields = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in updates.items():
        if key not in fields:
            raise KeyError(f"unknown setting {where}{key}; known: {', '.join(fields)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"{where}{key} is a section; give it a mapping")
            _merge(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, current, f"{where}{key}"))


def _coerce(value, current, name: str):
    """Give a YAML/CLI value the type of the setting it replaces (YAML reads 2e-4 as a string)."""
    if isinstance(current, bool) or current is None or value is None:
        return value
    if isinstance(current, (int, float)) and not isinstance(value, bool):
        try:
            return type(current)(value) if isinstance(current, float) or float(value).is_integer() else float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    return value


def parse_override(text: str) -> dict:
    """`train.iterations=100` -> {"train": {"iterations": 100}} (values parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} is not of the form section.field=value")
    path, value = text.split("=", 1)
    keys = path.strip().split(".")
    nested = yaml.safe_load(value) if value.strip() else None
    for key in reversed(keys):
        nested = {key: nested}
    return nested


def load_config(profile: str = "cpu", file: str | Path | None = None, overrides: list[str] = (), method: str | None = None) -> RunConfig:
    """The profile, then a method's settings (lpsr.methods), then a YAML file, then overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    config = RunConfig()
    _merge(config, PROFILES[profile])
    if method:
        from lpsr.methods import method_settings

        for settings in method_settings(method, profile):
            _merge(config, settings)
    if file:
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"configuration file {path} does not exist")
        _merge(config, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    for override in overrides:
        _merge(config, parse_override(override))
    return config


def config_from_dict(data: dict) -> RunConfig:
    config = RunConfig()
    _merge(config, data)
    return config
