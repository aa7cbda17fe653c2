"""Chapter 6's models: the ablation's PECL runs at one embedding size d and the MSE run beside
bicubic (the book), or, where the run folder holds no finished run (a fresh clone opened in
JupyterLab), the released model beside bicubic, so that the chapter and its plate explorer show
plates without training anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lpsr.evaluation.upscale import DEFAULT_MODEL, released_model
from lpsr.study.ablation import sweep_configs, variant_configs
from lpsr.study.compare import Scored, test_plates, train_and_score

MODEL_SOURCES = ("auto", "runs", "released")


@dataclass
class QualitativeModels:
    """What chapter 6 shows: each model scored on the test plates (`scored`, by key), their display
    names (`labels`), the test plates, and the two models it sets against each other (`mse`,
    `pecl`: display names; `pecl` is None when the page shows the released model)."""

    source: str  # "runs" or "released"
    scored: dict[str, Scored]
    labels: dict[str, str]
    plates: object
    mse: str
    pecl: str | None

    @property
    def models(self) -> dict:
        """The SR models (not bicubic) by display name, those that were scored."""
        return {self.labels[k]: s.model for k, s in self.scored.items() if k != "bicubic" and s.summary}

    @property
    def compared(self) -> list[str]:
        """The display names of the models Fig. 13 maps beside HR."""
        return [name for name in (self.mse, self.pecl) if name is not None]


def model_source(source: str, runs_dir: str | Path) -> str:
    """ "runs" or "released": `source` itself, or for "auto" "runs" when `runs_dir` holds a
    finished run and "released" when it holds none."""
    if source not in MODEL_SOURCES:
        raise ValueError(f"model_source is one of {', '.join(MODEL_SOURCES)}; got {source!r}")
    if source == "auto":
        return "runs" if any(Path(runs_dir).glob("*/done.json")) else "released"
    return source


def qualitative_models(
    profile: str,
    data_root: str | None,
    runs_dir: str | Path,
    out: str | Path,
    d: int = 128,
    source: str = "auto",
    released: str = DEFAULT_MODEL,
) -> QualitativeModels:
    """Train (or reuse) and score chapter 6's models on the test plates into `out/<key>/`, with
    OCR: MSE and PECL with the Manhattan and the Euclidean distance at embedding size `d`
    (`source` "runs"), or the released model `released` (`source` "released"), beside bicubic.
    "auto": `model_source`."""
    source = model_source(source, runs_dir)
    configs = variant_configs(profile, data_root, {"bicubic": ("bicubic", [])})
    if source == "runs":
        configs |= sweep_configs(profile, data_root, {"l1": [d], "l2": [d]})
        labels = {"ours-mse": "MSE", f"pecl-l1-d{d}": "PECL (Man)", f"pecl-l2-d{d}": "PECL (Euc)"}
        scored = train_and_score(configs, runs_dir, out, progress=False)
        mse, pecl = "MSE", "PECL (Man)"
    else:
        labels = {released: released}
        scored = train_and_score(configs, runs_dir, out, progress=False, released={released: released_model(released)})
        mse, pecl = released, None
    plates = test_plates(configs["bicubic"], progress=False)
    return QualitativeModels(source, scored, {"bicubic": "bicubic", **labels}, plates, mse, pecl)
