"""Run configuration: one typed dataclass per concern, and the profiles.

A configuration is loaded from a profile (`smoke`, `cpu`, `paper`), optionally a YAML file
with the same nesting, and `section.field=value` overrides, in that order. Every loaded
configuration is validated whole (`validate_config`): a setting of the wrong type or outside
what the code accepts is refused at once, naming the setting and the values it takes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from lpsr.precision import CPU_KERNEL_ENV, resolve_bf16, resolve_compile

# The values each choice setting accepts. They are declared here, where settings are validated,
# and the layers that implement them import them from here (this module imports none of them).
SCALES = (2, 4, 8)  # model.scale
CROPS = ("rectified", "bbox")  # data.crop: perspective warp of the 4 vertices, or the bounding box
KERNELS = ("bicubic", "area")  # data.kernel: the LR downscale kernel (lpsr.data.degradation)
MODEL_NAMES = ("bicubic", "lpsr", "srcnn", "espcn", "msrn", "rrdbnet", "tbsrn", "swinir")  # lpsr.models.MODELS
LOSSES = ("mse", "pecl", "esrgan", "text")  # loss.name
DISTANCES = ("l1", "l2")  # loss.distance
READINGS = ("paper", "positive", "positive-linear")  # loss.reading
WEIGHTINGS = ("fixed", "paper", "uncertainty")  # loss.weighting
INITS = ("imagenet", "path", "random", "plates")  # loss.encoder_init
ENCODER_PLATES = ("all", "subset")  # loss.encoder_plates: the train plates a "plates" encoder is pretrained on
GAN_SELECTS = ("gan", "any")  # loss.gan_select: the best val checkpoint of the GAN phase, or of the whole run


@dataclass
class DataConfig:
    root: str | None = None  # CCPD root (CCPD2019 layout); None: synthetic CCPD-format frames
    synthetic_frames: int = 600  # frames generated when root is None
    synthetic_seed: int = 0
    crop: str = "rectified"  # "rectified" (4-vertex perspective warp) or "bbox"
    kernel: str = "bicubic"  # LR downscale kernel (lpsr.data.degradation)
    patch_size: int = 64  # HR training patch side (LR side = patch_size / scale)
    val_plates: int = 0  # validate on the first N val plates; 0: all
    train_plates: int = 0  # train on N train plates, a nested seeded subset (lpsr.data.plates.nested_subset); 0: all
    subset_seed: int = 0  # the seed that ranks the train plates for train_plates


@dataclass
class ModelConfig:
    name: str = "lpsr"  # one of MODEL_NAMES, the models lpsr.models.MODELS registers
    scale: int = 8
    # the model constructor's keyword arguments (checked by lpsr.models.build_model)
    options: dict = field(default_factory=dict)


@dataclass
class LossConfig:
    """The training loss: plain MSE, or PECL in one of its readings (lpsr.losses)."""

    name: str = "mse"  # "mse", "pecl", "esrgan" (lpsr.losses.esrgan), "text" (TBSRN's, lpsr.losses.text_focus)
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
    # the train plates a "plates" encoder is pretrained on: "all" of them, or the run's own
    # data.train_plates subset (the same nested, seeded plates the SR model trains on)
    encoder_plates: str = "all"
    gan_start: float = 0.5  # esrgan: share of the iterations trained PSNR-first (L1) before the GAN phase
    gan_lr: float = 1e-4  # esrgan: the discriminator's Adam lr
    gan_select: str = (
        "gan"  # esrgan: select the best val checkpoint of the GAN phase ("gan") or of the whole run ("any")
    )
    text_plates: int = 1  # text: whole plates per iteration for the position and content terms (each costs ~10 patches)


SCHEDULES = ("cosine", "wsd")  # train.schedule


@dataclass
class TrainConfig:
    iterations: int = 3000
    batch_size: int = 32
    lr: float = 1e-4  # Adam, as the paper
    warmup: int = 0  # linear warm-up iterations before the schedule (paper: none)
    # after the warm-up: "cosine" annealing over the rest of the run (the paper's), or "wsd"
    # (warm-up, stable, decay): the lr held, then a linear decay over the last `decay` share of the
    # iterations; up to its decay a wsd run is the same run whatever its length, so runs of
    # several lengths branch from one stable phase (lpsr.training.train, lpsr.study.chapters.budget)
    schedule: str = "cosine"
    decay: float = 0.2  # wsd: the share of the iterations spent decaying
    min_lr: float = 0.0  # the schedule's floor
    val_every: int = 250  # validate on whole val plates every K iterations (and at the end)
    val_early: bool = True  # also at 10, 20, 50, 100, 200, ... below val_every (for log-axis curves)
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when present, else CPU
    threads: int = 0  # CPU threads; 0: this process's share of its usable cores (lpsr.training.sharing)
    # bf16 autocast: "auto" turns it on where a CPU computes bf16 natively (AVX-512-bf16 or AMX)
    # and off elsewhere (emulated on AVX2-only CPUs, far slower; on a GPU the step is bound by
    # kernel launches, where fp32 is the faster: the README gives the measured figures);
    # true/false force it (lpsr.precision)
    bf16: bool | str = "auto"
    channels_last: bool = True
    # the CPU kernels torch uses: "native", or "avx2" to train on an AVX-512 CPU as an AVX2-only one
    # would (in a child process; lpsr.precision)
    cpu_kernels: str = "native"
    compile: bool = False  # torch.compile the model (eager if compiling fails); on a CPU it does not repay its compile time within a run
    divergence: float = 1e4  # stop when the loss exceeds this multiple of its lowest running mean
    # clip the model's gradient to this global norm before each step (the pre-clip norm is logged as
    # grad_norm); 0: no clipping, as the paper
    grad_clip: float = 0.0

    def stable_until(self) -> int:
        """The iteration at which a wsd schedule starts to decay (after the warm-up)."""
        return max(self.warmup, self.iterations - round(self.decay * self.iterations))


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def run_id(self, data_fingerprint: str = "") -> str:
        """A hash of the settings that differ from their defaults, and of the data: a setting
        added later, with its default, changes no id. Threads and device do not enter (they
        change no number); train.bf16 enters as what it resolves to here, since bf16 and fp32
        give different numbers."""
        defaults = RunConfig().to_dict()
        settings = {
            section: {k: v for k, v in values.items() if k not in ("threads", "device") and v != defaults[section][k]}
            for section, values in self.to_dict().items()
        }
        settings["train"]["bf16"] = self.resolved_precision()["bf16"]
        text = json.dumps([settings, data_fingerprint], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def legacy_run_id(self, data_fingerprint: str = "") -> str:
        """The id this run had before ids hashed only the settings that differ from their
        defaults (every setting, less those added later at their defaults); it finds a run
        folder named so, which training then renames to `run_id` (lpsr.training.runs)."""
        semantic = self.to_dict()
        for key in ("threads", "device"):
            semantic["train"].pop(key)
        semantic["train"]["bf16"] = self.resolved_precision()["bf16"]
        if semantic["loss"]["name"] != "esrgan":
            semantic["loss"].pop("gan_select")
        if semantic["train"]["cpu_kernels"] == "native":
            semantic["train"].pop("cpu_kernels")
        if not semantic["train"]["grad_clip"]:
            semantic["train"].pop("grad_clip")
        if semantic["train"]["schedule"] == "cosine":
            for key in ("schedule", "decay"):
                semantic["train"].pop(key)
        text = json.dumps([semantic, data_fingerprint], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def resolved_precision(self, device=None) -> dict:
        """What train.bf16 (auto, true or false) and train.compile resolve to on `device`
        (default: train.device), and why: what env.json records."""
        device = self.train.device if device is None else device
        bf16, bf16_reason = resolve_bf16(self.train.bf16, device)
        compile_, compile_reason = resolve_compile(self.train.compile)
        return {"bf16": bf16, "bf16_reason": bf16_reason, "compile": compile_, "compile_reason": compile_reason}


PROFILES: dict[str, dict] = {
    # CI: a few iterations on a small synthetic set, a minute end to end.
    "smoke": {
        "data": {"synthetic_frames": 120, "val_plates": 8},
        "loss": {"encoder_iterations": 10},
        "train": {"iterations": 20, "batch_size": 4, "val_every": 10, "bf16": False, "channels_last": False},
    },
    # The published book on a 2-core CPU: the paper's recipe, shortened so that the whole book
    # trains in a few hours. At so few iterations the paper's lr (1e-4) leaves the model below
    # bicubic, so the lr is the best on validation of {3e-4, 1e-3, 2e-3}, with a short warm-up
    # (the book's chapter 3 and Table 1 state the recipe, and its intro the build times).
    "cpu": {
        "data": {"synthetic_frames": 600},
        "train": {"iterations": 1000, "batch_size": 16, "lr": 2e-3, "warmup": 50, "val_every": 250},
    },
    # The paper's scale (sec. 4.1): batch 128, 1000k iterations, Adam 1e-4, cosine; for a GPU.
    "paper": {
        "data": {"synthetic_frames": 20000},
        "train": {"iterations": 1_000_000, "batch_size": 128, "lr": 1e-4, "val_every": 5000},
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


def _parse_yaml(text: str, where: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ValueError(f"{where} is not valid YAML: {at}{getattr(error, 'problem', None) or error}") from None


def parse_override(text: str) -> dict:
    """`train.iterations=100` -> {"train": {"iterations": 100}} (values parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} is not of the form section.field=value")
    path, value = text.split("=", 1)
    keys = path.strip().split(".")
    nested = _parse_yaml(value, f"the value of override {text!r}") if value.strip() else None
    for key in reversed(keys):
        nested = {key: nested}
    return nested


def _read_config_file(file: str | Path) -> dict:
    path = Path(file)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    sections = _parse_yaml(path.read_text(encoding="utf-8"), f"configuration file {path}")
    if sections is None:
        return {}
    if not isinstance(sections, dict):
        raise ValueError(
            f"configuration file {path} must hold a mapping of sections ({', '.join(f.name for f in dataclasses.fields(RunConfig))}), not a {type(sections).__name__}"
        )
    return sections


# What each setting's annotation allows (the dataclasses above annotate with these names).
_ANNOTATION_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "dict": (dict,),
    "None": (type(None),),
}
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "dict": "a mapping",
    "None": "null",
}


def _type_error(name: str, value, annotation: str) -> str | None:
    kinds = [kind.strip() for kind in annotation.split("|")]
    if not set(kinds) <= set(
        _ANNOTATION_TYPES
    ):  # an annotation this check does not know: its value rule (if any) judges
        return None
    fits = any(
        isinstance(value, _ANNOTATION_TYPES[kind]) and not (isinstance(value, bool) and kind in ("int", "float"))
        for kind in kinds
    )
    return None if fits else f"{name} must be {' or '.join(_TYPE_WORDS[kind] for kind in kinds)}, got {value!r}"


def _one_of(choices) -> tuple:
    return (lambda value: value in choices), f"one of {', '.join(map(str, choices))}"


def _at_least(low) -> tuple:
    return (lambda value: value >= low), f"at least {low}"


_POSITIVE = (lambda value: value > 0), "above 0"
_SHARE = (lambda value: 0 <= value <= 1), "in [0, 1]"
_SEED = (lambda value: 0 <= value < 2**32), "in [0, 2^32)"  # numpy's seed range


def _value_rules(config: RunConfig) -> dict[str, tuple]:
    """setting -> (accepts(value), what it accepts), in the order they are checked: the model
    first, since other rules depend on its scale and architecture."""
    return _model_and_data_rules(config.model) | _loss_rules(config.loss) | _train_rules()


def _model_and_data_rules(model: ModelConfig) -> dict[str, tuple]:
    return {
        "model.name": _one_of(MODEL_NAMES),
        "model.scale": _one_of(SCALES),
        "data.synthetic_frames": _at_least(1),
        "data.synthetic_seed": _SEED,
        "data.crop": _one_of(CROPS),
        "data.kernel": _one_of(KERNELS),
        "data.patch_size": (
            (lambda value: value > 0 and value % model.scale == 0),
            f"a positive multiple of model.scale ({model.scale})",
        ),
        "data.val_plates": _at_least(0),
        "data.train_plates": _at_least(0),
        "data.subset_seed": _SEED,
    }


def _loss_rules(loss: LossConfig) -> dict[str, tuple]:
    gan_phase = loss.name == "esrgan" and loss.gan_select == "gan"  # a GAN phase to select from must exist
    uses_encoder = loss.name in ("pecl", "esrgan")
    return {
        "loss.name": _one_of(LOSSES),
        "loss.distance": _one_of(DISTANCES),
        "loss.reading": _one_of(READINGS),
        "loss.margin": _POSITIVE,
        "loss.weighting": _one_of(WEIGHTINGS),
        "loss.w_pixel": _SHARE,
        "loss.dim": _at_least(1),
        "loss.encoder_init": _one_of(INITS),
        "loss.encoder_path": (
            (lambda value: value is not None or loss.encoder_init != "path" or not uses_encoder),
            "a weights file when loss.encoder_init is path",
        ),
        "loss.encoder_iterations": _at_least(1),
        "loss.encoder_plates": _one_of(ENCODER_PLATES),
        "loss.gan_start": ((lambda value: 0 <= value < 1), "in [0, 1) with loss.gan_select gan (1 leaves no GAN phase)")
        if gan_phase
        else _SHARE,
        "loss.gan_lr": _POSITIVE,
        "loss.gan_select": _one_of(GAN_SELECTS),
        "loss.text_plates": _at_least(1),
    }


def _train_rules() -> dict[str, tuple]:
    return {
        "train.iterations": _at_least(1),
        "train.batch_size": _at_least(1),
        "train.lr": _POSITIVE,
        "train.warmup": _at_least(0),
        "train.schedule": _one_of(SCHEDULES),
        "train.decay": ((lambda value: 0 < value <= 1), "in (0, 1]"),
        "train.min_lr": _at_least(0),
        "train.grad_clip": _at_least(0),
        "train.val_every": _at_least(1),
        "train.seed": _SEED,
        "train.device": (
            (lambda value: re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value) is not None),
            "auto, cpu, mps, cuda or cuda:N",
        ),
        "train.threads": _at_least(0),
        "train.bf16": ((lambda value: isinstance(value, bool) or value == "auto"), "auto, true or false"),
        "train.cpu_kernels": _one_of(tuple(CPU_KERNEL_ENV)),
        "train.divergence": ((lambda value: value > 1), "above 1 (a multiple of the lowest running loss)"),
    }


def validate_config(config: RunConfig) -> RunConfig:
    """`config` itself if every setting has its type and an accepted value; else a ValueError
    naming the first setting that does not and what it accepts."""
    for section in dataclasses.fields(config):
        settings = getattr(config, section.name)
        for setting in dataclasses.fields(settings):
            problem = _type_error(f"{section.name}.{setting.name}", getattr(settings, setting.name), setting.type)
            if problem:
                raise ValueError(problem)
    for name, (accepts, accepted) in _value_rules(config).items():
        section, key = name.split(".")
        value = getattr(getattr(config, section), key)
        if not accepts(value):
            raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return config


def load_config(
    profile: str = "cpu", file: str | Path | None = None, overrides: list[str] = (), sections: list[dict] = ()
) -> RunConfig:
    """The profile, then `sections` (a method's settings: lpsr.study.experiments.method_config), then a
    YAML file, then overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    config = RunConfig()
    _merge(config, PROFILES[profile])
    for settings in sections:
        _merge(config, settings)
    if file:
        _merge(config, _read_config_file(file))
    for override in overrides:
        _merge(config, parse_override(override))
    return validate_config(config)


def config_from_dict(data: dict) -> RunConfig:
    config = RunConfig()
    _merge(config, data)
    return validate_config(config)
