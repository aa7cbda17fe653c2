"""Table 1 of the paper, reproduced: every method trained and judged under one protocol.

`compare(methods, profile, ...)` trains each method (or finds its finished run), evaluates
its validation-selected checkpoint once on the test split's whole plates with the same
metrics (PSNR, PSNR-Y, SSIM, PaddleOCR confidence, exact match, character accuracy), and
writes `table1.csv` and `table1.md` into `out`, with `out/<method>/per_plate.csv` and
`summary.json` beside them. Rows give median (± std) as the paper does, the paired median
difference in PSNR-Y against bicubic on the same plates with its 95% bootstrap interval,
the parameter count, the training budget and speed, and the paper's own numbers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from torch import nn

from lpsr.config import RunConfig, split_plates
from lpsr.evaluation.evaluate import evaluate, load_model
from lpsr.files import CheckpointError
from lpsr.inference import inference_bf16
from lpsr.metrics import paired_difference
from lpsr.models import count_parameters
from lpsr.study.methods import METHODS, PAPER_TABLE1, TABLE1, method_config
from lpsr.training.runs import run_summary
from lpsr.training.train import TrainingError, train


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
    configs: dict[str, RunConfig], runs_dir: str | Path, out: str | Path, ocr: bool = True, progress: bool = True
) -> dict[str, Scored]:
    """Train each named configuration (or find its finished run), then score its validation-selected
    checkpoint once on the test plates into `out/<name>/`. A parameterless model (bicubic) is
    scored as it is; a run that diverges, or needs a file that is not there (ImageNet weights),
    is reported, not raised."""
    test = test_plates(next(iter(configs.values())), progress)
    reader = None
    if ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader()
    scored = {}
    for name, config in configs.items():
        run = None
        if config.model.name == "bicubic":
            model = load_model("bicubic", config.model.scale)[0]
        else:
            try:
                run = train(config, runs_dir, progress=progress)
            except (
                TrainingError,
                CheckpointError,
                FileNotFoundError,
            ) as error:  # diverged, or a weights file to put in place
                print(f"{name}: {error}")
                scored[name] = Scored(config, error=str(error).split(";")[0])
                continue
            model = load_model(run, config.model.scale)[0]
        key = run.name if run else config.model.name
        summary = _cached_summary(Path(out) / name, key, test, ocr, "bf16" if inference_bf16("auto", "cpu") else "fp32")
        if summary is None:
            summary = evaluate(model, test, Path(out) / name, method=name, reader=reader, run=key)
        scored[name] = Scored(config, model, run, summary)
    return scored


def _cached_summary(folder: Path, run: str, test, ocr: bool, precision: str) -> dict | None:
    """The summary already in `folder` when it scored the same run on the same test plates at the
    same inference `precision` (with OCR if asked for): an unchanged book re-evaluates nothing."""
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


def compare(
    methods: list[str] | tuple[str, ...] = TABLE1,
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "table1",
    overrides: list[str] = (),
    ocr: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or reuse) and evaluate `methods`; return Table 1 and write it into `out`."""
    out = Path(out)
    if "bicubic" not in methods:
        methods = ["bicubic", *methods]  # the reference of the paired intervals
    extra = [
        *overrides,
        *([f"data.root={json.dumps(str(data))}"] if data else []),
    ]  # quoted: a folder named 2024 stays a string
    scored = train_and_score(
        {name: method_config(name, profile, overrides=extra) for name in methods}, runs_dir, out, ocr, progress
    )
    rows = [
        _row(name, s) if s.summary else {"method": name, "SR method": _label(name), "note": s.error}
        for name, s in scored.items()
    ]
    table = pd.DataFrame(rows).set_index("method").fillna("–")
    per_plate = {name: pd.read_csv(out / name / "per_plate.csv") for name, s in scored.items() if s.summary}
    reference = per_plate["bicubic"]["psnr_y"].to_numpy()
    for name in per_plate:
        diff = paired_difference(per_plate[name]["psnr_y"].to_numpy(), reference)
        table.loc[name, "ΔPSNR-Y vs bicubic [95% CI]"] = (
            f"{diff['median_diff']:+.2f} [{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]"
        )
        table.loc[name, "plates better than bicubic"] = f"{diff['wins']:.0%}"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table1.csv")
    (out / "table1.md").write_text(table.to_markdown() + "\n", encoding="utf-8")
    return table


def _label(name: str) -> str:
    return METHODS[name].label if name in METHODS else name


def _pm(summary: dict, key: str, digits: int = 2) -> str:
    if f"{key}_median" not in summary:
        return "–"
    return f"{summary[f'{key}_median']:.{digits}f} (± {summary[f'{key}_std']:.{digits}f})"


def _row(name: str, scored: Scored) -> dict:
    config, summary, model, run = scored.config, scored.summary, scored.model, scored.run
    done = run_summary(run) if run else {}
    paper = PAPER_TABLE1.get(name)
    n = count_parameters(model)
    row = {
        "method": name,
        "SR method": _label(name),
        "#p": f"{n / 1e6:.2f}M" if n >= 1e6 else (f"{n / 1e3:.0f}K" if n else "–"),
        "loss": config.loss.name if run else "–",
        "iterations × batch": (
            f"{done['iterations']} × {config.train.batch_size}" + (" (diverged)" if done.get("diverged") else "")
        )
        if run
        else "–",
        "lr": f"{config.train.lr:g}" if run else "–",
        "PSNR [dB]": _pm(summary, "psnr"),
        "PSNR-Y [dB]": _pm(summary, "psnr_y"),
        "SSIM": _pm(summary, "ssim", 3),
        "OCRρ": _pm(summary, "ocr_conf", 3),
        "OCR exact": f"{summary['ocr_exact']:.3f}" if "ocr_exact" in summary else "–",
        "OCR char acc": f"{summary['ocr_char_acc']:.3f}" if "ocr_char_acc" in summary else "–",
        "train samples/s": f"{done['samples_per_s']:.1f}" if done.get("samples_per_s") else "–",
        "infer plates/s": f"{summary['plates_per_s']:.1f}",
        "paper #p": paper.params if paper else "–",
        "paper PSNR": f"{paper.psnr[0]:.2f} (± {paper.psnr[1]:.2f})" if paper else "–",
        "paper PSNR-Y": f"{paper.psnr_y[0]:.2f} (± {paper.psnr_y[1]:.2f})" if paper else "–",
        "paper OCRρ": f"{paper.ocr[0]:.3f} (± {paper.ocr[1]:.2f})" if paper else "–",
        "run": Path(run).name if run else "–",
    }
    return row


def method_runs(table: pd.DataFrame, runs_dir: str | Path) -> dict[str, Path]:
    """The run folder of each trained row of a Table 1 (as `compare` returns it)."""
    return {name: Path(runs_dir) / run for name, run in table["run"].items() if run != "–"}


def method_models(table: pd.DataFrame, runs_dir: str | Path, scale: int = 8) -> dict:
    """Each row's model: bicubic, and the validation-selected checkpoint of every trained row."""
    models = {"bicubic": load_model("bicubic", scale)[0]} if "bicubic" in table.index else {}
    return models | {name: load_model(run, scale)[0] for name, run in method_runs(table, runs_dir).items()}


def read_summaries(out: str | Path, table: pd.DataFrame) -> dict[str, dict]:
    """Each evaluated row's summary.json (the numbers behind the formatted table)."""
    files = {name: Path(out) / name / "summary.json" for name in table.index}
    return {name: json.loads(f.read_text(encoding="utf-8")) for name, f in files.items() if f.is_file()}
