"""The runs the chapters share: the methods of the paper's Table 1, the named variants built on
them, and training and scoring them once on the test plates.

Every architecture registered in `lpsr.models.MODELS` is a method trained with MSE under the
profile's recipe; `METHODS` names the rows of Table 1 and gives a method its own recipe where it
has one (a loss, and for the `cpu` profile a budget the table states). Adding a method is one
architecture module, its line in MODELS and, for a row of Table 1, one line here. `PAPER_TABLE1`
holds the paper's own numbers, shown beside ours for reference.

A variant is a method with settings on top (`variant_configs`); the chapters that show the same
run name it from here (`READING_VARIANTS`, `LEARNABLE_VARIANTS`, `sweep_configs` over `ARMS`), so
the run cache finds it whatever chapter trained it first. `train_and_score` trains each
configuration (or finds its finished run) and scores its validation-selected checkpoint once on
the test plates into `out/<name>/` (`per_plate.csv`, `summary.json`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from torch import nn

from lpsr.config import RunConfig, load_config
from lpsr.data.plates import split_plates
from lpsr.evaluation.evaluate import RELEASED_WEIGHTS, evaluate, load_model
from lpsr.files import CheckpointError
from lpsr.inference import inference_bf16
from lpsr.models import MODELS
from lpsr.training.runs import run_config
from lpsr.training.train import TrainingError, train

DIMS = (64, 128, 256, 512)


DISTANCE_NAMES = {"l1": "Manhattan (L1)", "l2": "Euclidean (L2)"}


# The embedding sizes each distance is trained at, by profile. The paper trains both distances at
# every d; at `smoke` and `cpu` the Euclidean distance is trained at d = 128 only, which keeps the
# `cpu` book's build short enough for a 2-core machine (the README gives its time) and still sets
# L1 against L2 at one d (chapters 4 and 5 say so on their pages, `partial_arms`).
ARMS = {
    "smoke": {"l1": DIMS, "l2": (128,)},
    "cpu": {"l1": DIMS, "l2": (128,)},
    "paper": {"l1": DIMS, "l2": DIMS},
}


# The readings of PECL's contrastive term and the weightings of eq. 19 that chapter 2 trains, each
# the MSE method with settings on top (a variant for `variant_configs`). Chapter 5 follows the
# learnable weights of the first two PECL variants and chapter 7 scores all of them with OCR: the
# chapters name the same runs from here.
LEARNABLE_VARIANTS = {
    "PECL positive (D², learnable w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=paper"],
    ),
    "PECL paper (max(m−D,0)², learnable w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=paper", "loss.weighting=paper"],
    ),
}


READING_VARIANTS = {
    "MSE": ("ours-mse", []),
    **LEARNABLE_VARIANTS,
    "PECL positive (D², uncertainty w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=uncertainty"],
    ),
    "PECL positive (D², fixed w_pixel 0.99)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=fixed", "loss.w_pixel=0.99"],
    ),
}


# The PECL setting validation ranks first in chapter 9's weight sweep at the `cpu` profile (the
# Euclidean distance, w_contrastive = 0.03), which chapter 9 traces over budget and chapter 10 over
# data: one name, so both chapters' runs at the same budget and data are the same run.
EUCLIDEAN_LABEL, EUCLIDEAN_VARIANT = "PECL L2, w 0.03", ("ours-pecl", ["loss.distance=l2", "loss.w_pixel=0.97"])


def partial_arms(arms: dict) -> str:
    """The distances of `arms` (as `sweep_configs` takes it) trained at fewer embedding sizes than
    the paper's `DIMS`, each with the d it is trained at ("Euclidean (L2) at d = 128"), or "none"
    when the sweep covers the paper's whole grid: chapters 4 and 5 glue it into their pages."""
    short = {k: v for k, v in arms.items() if tuple(sorted(v)) != DIMS}
    if not short:
        return "none"
    return "; ".join(f"{DISTANCE_NAMES[k]} at d = {', '.join(str(d) for d in sorted(v))}" for k, v in short.items())


def variant_configs(
    profile: str, data: str | None, variants: dict[str, tuple[str, list[str]]], overrides: list[str] = ()
) -> dict[str, RunConfig]:
    """Named configurations, each a method of `METHODS` with its own settings on top of the
    profile, e.g. {"PECL, random encoder": ("ours-pecl", ["loss.encoder_init=random"])}."""
    extra = [*overrides, *([f"data.root={data}"] if data else [])]
    return {
        name: method_config(method, profile, overrides=[*extra, *settings])
        for name, (method, settings) in variants.items()
    }


def sweep_configs(
    profile: str = "cpu", data: str | None = None, arms: dict | None = None, overrides: list[str] = ()
) -> dict[str, RunConfig]:
    """`ours-mse` and one `ours-pecl` configuration per (distance, d) of `arms` (distance -> the d
    it is trained at; None: the profile's `ARMS`), named `pecl-l1-d128` etc."""
    variants = {"ours-mse": ("ours-mse", [])}
    variants |= {
        f"pecl-{distance}-d{d}": ("ours-pecl", [f"loss.dim={d}", f"loss.distance={distance}"])
        for distance, dims in (ARMS[profile] if arms is None else arms).items()
        for d in dims
    }
    return variant_configs(profile, data, variants, overrides)


@dataclass
class Scored:
    """One row's model judged on the test plates, or why it could not be (a diverged run)."""

    config: RunConfig
    model: nn.Module | None = None
    run: Path | None = None
    summary: dict | None = None
    error: str | None = None


def test_plates(config: RunConfig, progress: bool = True):
    """The whole test plates of a configuration's data (its protocol, scale and root)."""
    return split_plates(config, "test", progress)


def train_and_score(
    configs: dict[str, RunConfig],
    runs_dir: str | Path,
    out: str | Path,
    ocr: bool = True,
    progress: bool = True,
    released: dict[str, Path] | None = None,
) -> dict[str, Scored]:
    """Train each named configuration (or find its finished run), then score its validation-selected
    checkpoint once on the test plates into `out/<name>/`. A parameterless model (bicubic) is
    scored as it is; a run that diverges, or needs a file that is not there (ImageNet weights),
    is reported, not raised. A wsd run starts from the stable phase of a shorter one trained
    before it here (`lpsr.training.train`). `released`: named released model folders
    (`lpsr release`), scored on the same test plates after the configurations, untrained."""
    test = test_plates(next(iter(configs.values())), progress)
    reader = None
    if ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader()
    scored, trained = {}, []
    for name, config in configs.items():
        run = None
        if config.model.name == "bicubic":
            model = load_model("bicubic", config.model.scale)[0]
        else:
            try:
                run = train(config, runs_dir, progress=progress, branch_from=trained)  # wsd runs branch
            except (
                TrainingError,
                CheckpointError,
                FileNotFoundError,
            ) as error:  # diverged, or a weights file to put in place
                if progress:  # at the command line; a chapter (progress off) says it in its prose instead
                    print(f"{name}: {error}")
                scored[name] = Scored(config, error=str(error).split(";")[0])
                continue
            trained.append(run)
            model = load_model(run, config.model.scale)[0]
        key = run.name if run else config.model.name
        summary = evaluate_once(model, test, Path(out) / name, name, key, reader)
        scored[name] = Scored(config, model, run, summary)
    for name, folder in (released or {}).items():
        model = load_model(folder, test.protocol.scale)[0]
        weights = hashlib.sha256((Path(folder) / RELEASED_WEIGHTS).read_bytes()).hexdigest()[:12]
        summary = evaluate_once(model, test, Path(out) / name, name, f"{Path(folder).name}@{weights}", reader)
        scored[name] = Scored(run_config(folder), model, None, summary)
    return scored


def evaluate_once(model: nn.Module | None, plates, out_dir: Path, method: str, run: str, reader=None) -> dict:
    """`evaluate` into `out_dir` (model None: the HR plates themselves), or the summary `out_dir`
    already holds from scoring the same `run` on the same plates at the same inference precision,
    read by OCR when a reader is given: an unchanged book re-evaluates nothing."""
    precision = "bf16" if model is not None and inference_bf16("auto", "cpu") else "fp32"
    summary = _cached_summary(Path(out_dir), run, plates, reader is not None, precision)
    if summary is None:
        summary = evaluate(model, plates, out_dir, method=method, reader=reader, run=run)
    return summary


def _cached_summary(folder: Path, run: str, test, ocr: bool, precision: str) -> dict | None:
    """The summary already in `folder` when it scored the same run on the same test plates at the
    same inference `precision` (with OCR if asked for)."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (
        summary.get("run") == run
        and summary.get("precision") == precision
        and summary.get("n") == len(test)
        and summary.get("data") == {"root": test.summary.get("root"), "split": test.summary.get("split")}
        and summary.get("protocol") == json.loads(json.dumps(asdict(test.protocol)))
    )
    return summary if same and (not ocr or "ocr_exact" in summary) and (folder / "per_plate.csv").is_file() else None


def read_summaries(out: str | Path, table: pd.DataFrame) -> dict[str, dict]:
    """Each evaluated row's summary.json (the numbers behind the formatted table)."""
    files = {name: Path(out) / name / "summary.json" for name in table.index}
    return {name: json.loads(f.read_text(encoding="utf-8")) for name, f in files.items() if f.is_file()}


def read_per_plate(out: str | Path, names) -> dict[str, pd.DataFrame]:
    """Each scored name's per-plate test scores (`out/<name>/per_plate.csv`), for those scored."""
    files = {name: Path(out) / name / "per_plate.csv" for name in names}
    return {name: pd.read_csv(f) for name, f in files.items() if f.is_file()}


@dataclass(frozen=True)
class Method:
    model: str  # a name registered in lpsr.models.MODELS
    settings: dict = field(default_factory=dict)  # config sections this method sets on top of any profile
    profiles: dict = field(default_factory=dict)  # {profile: sections} set for that profile only (budgets)
    label: str = ""  # the row's name in Table 1


@dataclass(frozen=True)
class PaperRow:
    """Table 1 of the paper: #p, then median (± std) over its test set."""

    params: str
    psnr: tuple[float, float]
    psnr_y: tuple[float, float]
    ocr: tuple[float, float]


# The PECL setting of the headline rows: of the readings and weightings chapter 2 compares at the
# cpu profile, the one with the best validation PSNR-Y (chapter 2 shows whether it still is in
# the build at hand).
PECL_HEADLINE = {"loss": {"name": "pecl", "reading": "positive", "weighting": "fixed", "w_pixel": 0.99}}


# The three heaviest competitors cost several times an MSE run of ours per iteration on a CPU;
# at the smoke and cpu profiles they train for half the profile's iterations, which Table 1's
# budget column states.
HEAVY_CPU = {"smoke": {"train": {"iterations": 10}}, "cpu": {"train": {"iterations": 500}}}


METHODS: dict[str, Method] = {
    "bicubic": Method("bicubic", label="Bicubic"),
    "srcnn": Method("srcnn", label="SRCNN"),
    "msrn": Method("msrn", label="MSRN"),
    "espcn": Method("espcn", label="ESPCN"),
    "esrgan": Method("rrdbnet", {"loss": {"name": "esrgan"}}, label="ESRGAN", profiles=HEAVY_CPU),
    # TBSRN diverges at the cpu profile's lr 2e-3 (its output goes constant) and learns at 5e-4:
    # its own lr, stated in Table 1's lr column
    "tbsrn": Method("tbsrn", {"loss": {"name": "text"}, "train": {"lr": 5e-4}}, label="TBSRN", profiles=HEAVY_CPU),
    "swinir": Method("swinir", label="SwinIR", profiles=HEAVY_CPU),
    "ours-mse": Method("lpsr", label="Ours (MSE)"),
    "ours-pecl": Method("lpsr", PECL_HEADLINE, label="Ours (PECL)"),
}


TABLE1 = ("bicubic", "srcnn", "msrn", "espcn", "esrgan", "tbsrn", "swinir", "ours-mse", "ours-pecl")


PAPER_TABLE1: dict[str, PaperRow] = {
    "bicubic": PaperRow("–", (18.53, 2.78), (18.70, 2.82), (0.697, 0.19)),
    "srcnn": PaperRow("57K", (19.57, 2.72), (19.84, 2.78), (0.665, 0.21)),
    "msrn": PaperRow("6M", (19.78, 2.74), (19.84, 2.82), (0.656, 0.20)),
    "espcn": PaperRow("800K", (23.52, 2.47), (24.11, 0.61), (0.848, 0.14)),
    "esrgan": PaperRow("16M", (18.76, 2.26), (19.01, 2.33), (0.812, 0.17)),
    "tbsrn": PaperRow("12M", (23.76, 2.48), (24.42, 2.63), (0.855, 0.15)),
    "swinir": PaperRow("11M", (23.56, 2.50), (24.18, 2.65), (0.850, 0.14)),
    "ours-pecl": PaperRow("2M", (25.13, 2.46), (25.92, 2.62), (0.852, 0.13)),
}


def method_settings(name: str, profile: str) -> list[dict]:
    """The config sections a method sets, in order: its model, its recipe, its profile budget."""
    if name in METHODS:
        method = METHODS[name]
        return [{"model": {"name": method.model}}, method.settings, method.profiles.get(profile, {})]
    if name in MODELS:
        return [{"model": {"name": name}}]
    raise ValueError(
        f"unknown method {name!r}; Table 1 methods: {', '.join(METHODS)}; architectures: {', '.join(MODELS)}"
    )


def method_config(
    name: str | None, profile: str = "cpu", file: str | Path | None = None, overrides: list[str] = ()
) -> RunConfig:
    """The configuration of method `name` (a row of Table 1, or any architecture; None: the
    profile's own model and loss) at `profile`: the profile, the method's settings, then a YAML
    file and overrides (lpsr.config.load_config)."""
    return load_config(profile, file, overrides, sections=method_settings(name, profile) if name else ())


def score_methods(
    methods: list[str] | tuple[str, ...] = TABLE1,
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "table1",
    overrides: list[str] = (),
    ocr: bool = True,
    progress: bool = True,
) -> dict[str, Scored]:
    """`train_and_score` for methods of `METHODS` (or architectures of lpsr.models) at `profile`,
    on CCPD at `data` (None: the synthetic frames), each scored into `out/<method>/`."""
    extra = [
        *overrides,
        *([f"data.root={json.dumps(str(data))}"] if data else []),
    ]  # quoted: a folder named 2024 stays a string
    configs = {name: method_config(name, profile, overrides=extra) for name in methods}
    return train_and_score(configs, runs_dir, out, ocr, progress)
