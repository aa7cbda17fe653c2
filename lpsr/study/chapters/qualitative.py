"""Chapter 6, qualitative results and degradation maps (the paper's Fig. 12-13).

The chapter's models are the ablation's PECL runs at one embedding size d and the MSE run beside
bicubic (the book), or, where the run folder holds no finished run (a fresh clone opened in
JupyterLab), the released model beside bicubic, so that the chapter and its plate explorer show
plates without training anything. The explorer is an ipywidgets view for JupyterLab: pick a test
plate and a method, see LR, SR and HR with their scores and what PaddleOCR reads; the HTML book
shows a static table of every plate (`explorer_table`) instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lpsr.evaluation.ocr import normalize_plate_text
from lpsr.evaluation.upscale import DEFAULT_MODEL, released_model
from lpsr.inference import super_resolve
from lpsr.metrics import calculate_ssim, paired_difference, psnr_rgb, psnr_y
from lpsr.study.degradation_maps import degradation_maps
from lpsr.study.experiments import Scored, sweep_configs, test_plates, train_and_score, variant_configs
from lpsr.study.findings import NOT_TESTABLE, claim, interval_verdict
from lpsr.study.plotting import plate_grid
from lpsr.study.text import diff_ends, index_in_corner, missing, names, number, supported

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


def qualitative_claims(
    per_plate: dict[str, pd.DataFrame], chapter: str, mse: str = "MSE", pecl: str | None = "PECL (Man)"
) -> list[dict]:
    """Chapter 6's two claims, which the paper makes by eye: PECL's plates sharper, and less noisy,
    than MSE's, here each paired over the test plates on the blur and the noise estimator of
    `lpsr.study.degradation_maps` (`per_plate`: `plate_degradations`); MSE − PECL above zero is
    PECL ahead."""
    measures = {
        "blur": (
            "PECL's plates are sharper than MSE's (Fig. 12, judged by eye in the paper)",
            "blur (0 sharp, 1 blurred)",
            "",
        ),
        "noise": (
            "PECL's plates are less noisy than MSE's (Figs. 12–13, judged by eye in the paper)",
            "noise σ",
            " grey levels",
        ),
    }
    rows = []
    for key, (text, what, unit) in measures.items():
        if mse not in per_plate or pecl not in per_plate:
            rows.append(claim(text, "not measured", NOT_TESTABLE, chapter))
            continue
        diff = paired_difference(per_plate[mse][key].to_numpy(), per_plate[pecl][key].to_numpy())
        rows.append(
            claim(text, f"MSE − PECL, {what} {supported(*diff_ends(diff), unit)}", interval_verdict([diff]), chapter)
        )
    return rows


def plate_degradations(images: dict[str, list[np.ndarray]]) -> dict[str, pd.DataFrame]:
    """Each plate's mean noise, blur and compression (one row per plate, in order), per name."""
    return {
        name: pd.DataFrame([{k: float(np.nanmean(v)) for k, v in degradation_maps(p).items()} for p in plates])
        for name, plates in images.items()
    }


def degradation_table(per_plate: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Median over plates (`plate_degradations`) of each plate's mean noise, blur and compression
    (one row per name)."""
    return pd.DataFrame({name: frame[["noise", "blur", "compression"]].median() for name, frame in per_plate.items()}).T


def degradation_findings(table: pd.DataFrame, mse: str = "MSE", pecl: str | None = "PECL (Man)") -> dict[str, str]:
    """The values chapter 6 glues into its closing paragraph, by glue key, from `degradation_table`
    (rows HR, bicubic and the models): the median blur of HR, bicubic and the shown models
    (`blur_hr`, `blur_bicubic`, `blur_models`: "0.108 for MSE and 0.102 for PECL (Man)"), the noise
    of HR and the models (`noise_hr`, `noise_models`), the block-edge ratio of bicubic and the
    models (`compression_bicubic`, `compression_models`), how PECL's blur compares with MSE's
    (`pecl_sharpness`: "sharper than", "blurrier than", "as sharp as" or "not compared with") and
    the SR outputs no smoother than HR (`not_smoother`). `pecl` None: the page shows no PECL model
    (chapter 6 on the released model alone)."""

    def value(row: str, key: str, spec: str) -> str:
        return number(table[key].get(row, np.nan), spec)

    def each(key: str, spec: str, form: str) -> str:
        shown = [name for name in (mse, pecl) if name is not None]
        return names([form.format(value=value(name, key, spec), name=name) for name in shown], style="")

    return {
        "blur_hr": value("HR", "blur", ".3f"),
        "blur_bicubic": value("bicubic", "blur", ".3f"),
        "blur_models": each("blur", ".3f", "{value} for {name}"),
        "pecl_sharpness": _pecl_sharpness(value(mse, "blur", ".3f"), value(pecl, "blur", ".3f") if pecl else None),
        "noise_hr": value("HR", "noise", ".2f"),
        "noise_models": each("noise", ".2f", "{value} ({name})"),
        "compression_bicubic": value("bicubic", "compression", ".3f"),
        "compression_models": each("compression", ".3f", "{value} for {name}"),
        "not_smoother": _not_smoother(table),
    }


def _pecl_sharpness(blur_mse: str, blur_pecl: str | None) -> str:
    """How PECL's median blur (as written, "0.102"; None: no PECL model shown) compares with MSE's:
    "sharper than", "blurrier than", "as sharp as" (equal to three decimals) or "not compared with"."""
    if blur_pecl is None or "not measured" in (blur_pecl, blur_mse):
        return "not compared with"
    if float(blur_pecl) == float(blur_mse):
        return "as sharp as"
    return "sharper than" if float(blur_pecl) < float(blur_mse) else "blurrier than"


def _not_smoother(table: pd.DataFrame) -> str:
    """The SR outputs of `degradation_table` whose median blur is no higher than HR's (*names*),
    "none", or "not measured" without HR's blur or a model's."""
    models = [row for row in table.index if row not in ("HR", "bicubic") and not missing(table.loc[row, "blur"])]
    hr = table["blur"].get("HR", np.nan)
    if missing(hr) or not models:
        return "not measured"
    sharp = [row for row in models if not table.loc[row, "blur"] > hr]
    return names(sharp) if sharp else "none"


def plate_view(models: dict, plates, index: int, method: str, reader=None, cache: dict | None = None) -> tuple:
    """The figure (LR, SR, HR) and the caption line for one plate through one named model."""
    cache = {} if cache is None else cache
    if (index, method) not in cache:
        cache[(index, method)] = super_resolve(models[method], [plates.lr[index]])[0]
    sr = cache[(index, method)]
    hr, text = plates.hr[index], plates.texts[index]
    line = (
        f"{method}: PSNR {psnr_rgb(sr, hr):.2f} dB, PSNR-Y {psnr_y(sr, hr):.2f} dB, SSIM {calculate_ssim(sr, hr):.3f}"
    )
    if reader is not None:
        ((read, conf),) = reader.read([sr])
        verdict = "exact" if normalize_plate_text(read) == normalize_plate_text(text) else "wrong"
        line += f"; OCR reads {read!r} ({conf:.3f}, {verdict}; the plate is {text})"
    fig = plate_grid({"LR": [plates.lr[index]], method: [sr], "HR": [hr]}, row_titles=[text], width=3.2)
    return fig, line


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def plate_explorer(models: dict, plates, reader=None):
    """A widget: a plate dropdown and method buttons above the plate's LR / SR / HR and scores.

    The view is an `Image` widget (the figure as PNG) and an `HTML` caption whose values are set
    from the kernel. An `Output` widget would capture `display` through the front end instead, and
    headless executors (nbclient, so papermill and the book build) mimic that front end by sending
    comm messages on the shell channel while they wait on it for the cell's reply, which can lose
    the reply and stall the cell until its timeout."""
    import html

    import ipywidgets as widgets

    plate = widgets.Dropdown(options=[(f"{i}: {text}", i) for i, text in enumerate(plates.texts)], description="plate")
    method = widgets.ToggleButtons(options=list(models), description="method")
    image, caption, cache = widgets.Image(format="png"), widgets.HTML(), {}

    def show(_=None):
        fig, line = plate_view(models, plates, plate.value, method.value, reader, cache)
        image.value = _png(fig)
        caption.value = f"<pre>{html.escape(line)}</pre>"
        plt.close(fig)

    plate.observe(show, names="value")
    method.observe(show, names="value")
    show()
    return widgets.VBox([plate, method, image, caption])


def explorer_table(per_plate: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The explorer's static stand-in: one row per test plate (its text), and for each named model
    the plate's PSNR-Y and what PaddleOCR reads of its SR plate, marked ✓ when exact, "–" when it
    reads nothing (`per_plate`: each model's `per_plate.csv`, as `lpsr.evaluation.evaluate.evaluate` writes it)."""
    first = next(iter(per_plate.values()))
    table = pd.DataFrame({"plate": first["plate"].to_numpy()})
    for name, scores in per_plate.items():
        table[(name, "PSNR-Y (dB)")] = scores["psnr_y"].map("{:.2f}".format).to_numpy()
        if "ocr_text" in scores:
            reads = scores["ocr_text"].fillna("").astype(str)
            table[(name, "OCR reads")] = [
                f"{r} ✓" if e else r or "–" for r, e in zip(reads, scores["exact"].astype(bool))
            ]
    table = table.set_index("plate")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return index_in_corner(table)
