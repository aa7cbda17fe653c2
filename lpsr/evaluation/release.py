"""`lpsr release`: a finished run turned into a model people can use, with its model card.

A released model folder holds `model.safetensors` (the run's validation-selected weights, stored
as float16 by default and loaded as float32; the model config in the file's metadata, so the file
alone loads), `config.yaml` (the run's settings: `lpsr train --config` retrains it), `card.json`
(every figure the card states) and `README.md` (the model card, Hugging Face front matter). The
scores are those of the released weights themselves, on the test split of the data given, against
bicubic, in fp32 (the same on every CPU); the fp32 checkpoint's PSNR-Y beside them says what the
float16 storage changes.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from lpsr.config import RunConfig
from lpsr.data.plates import PlateProtocol, load_plates
from lpsr.evaluation.evaluate import RELEASED_WEIGHTS, evaluate, load_model
from lpsr.files import weights_bytes, write_atomic
from lpsr.metrics import mean_interval, paired_difference
from lpsr.models import count_parameters
from lpsr.training.runs import run_config, run_summary

DTYPES = {"float16": torch.float16, "float32": torch.float32}


class ReleaseError(ValueError):
    """Runs that cannot be released (unfinished, diverged, candidates on different data) or an unknown dtype."""


def _per_plate(folder: Path) -> dict[str, list[float]]:
    with open(folder / "per_plate.csv", newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    return {
        key: [float(row[key]) for row in rows]
        for key in ("psnr", "psnr_y", "ssim", "exact", "char_acc")
        if key in rows[0]
    }


def _scores(folder: Path, summary: dict) -> dict:
    """A model's test figures: median ± std [95% CI] of PSNR, PSNR-Y and SSIM; mean [95% CI] of the OCR reads."""
    columns = _per_plate(folder)
    figures = {
        name: {key: summary[f"{name}_{key}"] for key in ("median", "std", "ci_low", "ci_high")}
        for name in ("psnr", "psnr_y", "ssim")
    }
    for name in ("exact", "char_acc"):
        if name in columns:
            figures[f"ocr_{name}"] = mean_interval(columns[name])
    return figures


def score_release(model, plates, folder: Path, reader=None) -> tuple[dict, dict]:
    """The released model's and bicubic's test figures, and the paired PSNR-Y difference."""
    bicubic, _ = load_model("bicubic", plates.protocol.scale)
    rows = {}
    for name, net in (("model", model), ("bicubic", bicubic)):
        summary = evaluate(net, plates, folder / name, method=name, bf16=False, reader=reader)
        rows[name] = _scores(folder / name, summary)
    gain = paired_difference(_per_plate(folder / "model")["psnr_y"], _per_plate(folder / "bicubic")["psnr_y"])
    return rows, gain


def _training_record(run_dir: Path, config: RunConfig) -> dict:
    env = json.loads((run_dir / "env.json").read_text(encoding="utf-8"))
    done = run_summary(run_dir)
    best = best_validation(run_dir)
    flags = env["precision"].get("cpu_bf16_flags") or []
    return {
        "run_id": run_dir.name,
        "iterations": done["iterations"],
        "batch_size": config.train.batch_size,
        "patches_seen": done["iterations"] * config.train.batch_size * done.get("world_size", 1),
        "train_seconds": round(done["train_seconds"], 1),
        "best_iteration": best["iteration"],
        "best_val_psnr_y": best["val_psnr_y"],
        "train_plates": env.get("train_plates"),
        "val_plates": env.get("val_plates"),
        "precision": "bf16" if env["precision"]["bf16"] else "fp32",
        "machine": f"{env['threads']} threads, {env['device']} ({env['processor']}"
        + (f", {' and '.join(flags)}" if flags else "")
        + f"), torch {env['torch']}",
        "seed": env["seed"],
    }


def best_validation(run_dir: Path) -> dict:
    """A finished run's validation-selected checkpoint (best.pt): its iteration and val PSNR-Y."""
    best = run_summary(run_dir)["best"]
    return {"run_id": run_dir.name, "iteration": best["iteration"], "val_psnr_y": round(best["val_psnr_y"], 3)}


def choose_on_validation(runs: list[Path]) -> tuple[Path, list[dict]]:
    """The candidate run with the highest validation PSNR-Y, and every candidate's figure. A run
    that is unfinished or diverged, or trained another data set or protocol, is refused."""
    for run_dir in runs:
        if not (run_dir / "done.json").is_file():
            raise ReleaseError(f"{run_dir} is not a finished run (no done.json): finish it with `lpsr train` first")
        if run_summary(run_dir).get("diverged"):
            raise ReleaseError(f"{run_dir} diverged: release a run that trained to its end")
    configs = {r: run_config(r) for r in runs}
    data = {json.dumps(asdict(c.data) | {"scale": c.model.scale}) for c in configs.values()}
    if len(data) > 1:
        raise ReleaseError(
            "the candidate runs trained on different data or protocols: validation cannot choose between them"
        )
    table = sorted(
        (best_validation(r) | {"loss": c.loss.name} for r, c in configs.items()), key=lambda c: -c["val_psnr_y"]
    )
    return next(r for r in runs if r.name == table[0]["run_id"]), table


def release(runs: list[str | Path], out: str | Path, data: str | Path, dtype: str = "float16", reader=None) -> dict:
    """Write the released model folder `out` from the candidate run with the best validation
    PSNR-Y (`choose_on_validation`); return its card.json figures. `data`: the CCPD root whose
    test split the card scores (the runs' own data)."""
    if dtype not in DTYPES:
        raise ReleaseError(f"unsupported dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    out = Path(out)
    run_dir, candidates = choose_on_validation([Path(r) for r in runs])
    config = run_config(run_dir)
    model, _ = load_model(run_dir, config.model.scale)
    model_config = {"name": config.model.name, "scale": config.model.scale, "options": config.model.options}
    weights = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    metadata = {"model_config": json.dumps(model_config), "run": run_dir.name, "format": "lpsr-release-1"}
    released_bytes = weights_bytes(weights, metadata)
    protocol = PlateProtocol(scale=config.model.scale, crop=config.data.crop, kernel=config.data.kernel)
    plates = load_plates(data, "test", protocol)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as staging:
        staging = Path(staging)
        (staging / RELEASED_WEIGHTS).write_bytes(released_bytes)
        released, _ = load_model(staging, config.model.scale)
        rows, gain = score_release(released, plates, staging / "test", reader)
        fp32 = evaluate(model, plates, None, bf16=False)["psnr_y_median"]
    card = {
        "name": out.name,
        "model": model_config | {"parameters": count_parameters(model), "dtype": dtype},
        "loss": config.loss.name,
        "training": _training_record(run_dir, config),
        "candidates": candidates,
        "test": {"data": str(data), "plates": len(plates), "precision": "fp32", **rows, "psnr_y_gain": gain},
        "fp32_checkpoint_psnr_y_median": fp32,
    }
    (out / "candidates").mkdir(parents=True, exist_ok=True)
    write_atomic(
        {
            out / RELEASED_WEIGHTS: released_bytes,
            out / "config.yaml": (run_dir / "config.yaml").read_bytes(),
            **{out / "candidates" / f"{Path(r).name}.yaml": (Path(r) / "config.yaml").read_bytes() for r in runs},
            out / "card.json": json.dumps(card, indent=2, ensure_ascii=False).encode("utf-8"),
            out / "README.md": model_card(card).encode("utf-8"),
        }
    )
    return card


def _figure(row: dict, digits: int = 2) -> str:
    if "median" in row:
        return f"{row['median']:.{digits}f} ± {row['std']:.{digits}f} [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def model_card(card: dict) -> str:
    """The model card (markdown with Hugging Face front matter) of a card.json."""
    train, test, model = card["training"], card["test"], card["model"]
    candidate_rows = "\n".join(
        f"| `{c['run_id']}` | {c['loss']} | {c['val_psnr_y']:.2f} | {c['iteration']:,} |" for c in card["candidates"]
    )
    fp16_change = test["model"]["psnr_y"]["median"] - card["fp32_checkpoint_psnr_y_median"]
    minutes = train["train_seconds"] / 60
    return f"""---
license: mit
library_name: pytorch
pipeline_tag: image-to-image
tags: [super-resolution, license-plate, ccpd, lpsr]
datasets: [ccpd]
metrics: [psnr, ssim]
---

# {card["name"]}

x{model["scale"]} super-resolution of Chinese license plates: the LPSR network (residual dense
blocks with learnable scaling, channel attention, transposed-convolution upsampling) of
*Embedding Similarity Guided License Plate Super Resolution*, trained with the {card["loss"].upper()} loss
by this project (`lpsr`).

## Model

- Architecture `{model["name"]}`, {model["parameters"]:,} parameters, x{model["scale"]}, fully convolutional (any plate size).
- Weights: `model.safetensors`, stored as {model["dtype"]} and loaded as float32. Stored so, the test PSNR-Y
  median moves by {fp16_change:+.3f} dB against the run's float32 checkpoint.
- Run `{train["run_id"]}`; its settings in `config.yaml`.

## Training

- Data: the train split of ccpd-mini, {train["train_plates"]} real CCPD plates (rectified from their four
  corners; LR by bicubic x{model["scale"]} downscaling), as 64x64 HR patches; {train["val_plates"]} val plates.
- Budget: {train["iterations"]:,} iterations at batch {train["batch_size"]} ({train["patches_seen"]:,} patches; the paper: 1,000k
  at batch 128 on the ~100k plates of CCPD's train split), seed {train["seed"]}, {train["precision"]}.
- Checkpoint: the best validation PSNR-Y, {train["best_val_psnr_y"]:.2f} dB at iteration {train["best_iteration"]:,}.
- Machine: {train["machine"]}; {minutes:.1f} min of training.

## Selection

Chosen on validation (PSNR-Y of the val plates at each run's best checkpoint), never on test:

| run | loss | val PSNR-Y (dB) | at iteration |
|---|---|---|---|
{candidate_rows}

{_results(test)}{_use_and_reproduce(card)}"""


def _use_and_reproduce(card: dict) -> str:
    """The card's intended use, limits, licence and the commands that reproduce it."""
    train, test, model = card["training"], card["test"], card["model"]
    reproduce = "\n".join(
        [f"lpsr train --config models/{card['name']}/candidates/{c['run_id']}.yaml" for c in card["candidates"]]
        + [
            f"lpsr release {' '.join('runs/' + c['run_id'] for c in card['candidates'])} --data {test['data']} --out models/{card['name']}"
        ]
    )
    return f"""## Intended use

x{model["scale"]} upscaling of crops of Chinese CCPD-style plates (blue, and green new-energy) about
8 px high, from parking-lot photographs, for reading or inspection: `lpsr upscale plate.png out.png`,
or `lpsr.load_model().upscale(image)` in Python.

## Limits

Trained on {train["train_plates"]} plates, far below the paper's scale. Not trained on plates of other
countries, other scripts, night or motion-blurred video, other degradations than bicubic
downscaling, or other scales than x{model["scale"]}; on such input it invents plausible strokes, and
its output is no evidence of a plate's text.

## Licence

MIT, as the project; trained on CCPD frames (Xu et al., ECCV 2018), released under the MIT licence.

## Reproduce

```bash
{reproduce}
```
"""


def _results(test: dict) -> str:
    """The card's results section: the released model against bicubic on the test plates."""
    rows = [("PSNR (dB)", "psnr", 2), ("PSNR-Y (dB)", "psnr_y", 2), ("SSIM (Y)", "ssim", 3)]
    if "ocr_exact" in test["model"]:
        rows += [("OCR exact plate", "ocr_exact", 3), ("OCR characters", "ocr_char_acc", 3)]
    table = "\n".join(
        f"| {label} | {_figure(test['model'][key], digits)} | {_figure(test['bicubic'][key], digits)} |"
        for label, key, digits in rows
    )
    gain = test["psnr_y_gain"]
    return f"""## Results

Test split of ccpd-mini, {test["plates"]} whole plates, {test["precision"]} inference; median ± std [95%
bootstrap interval of the median] for the image scores, share [95% interval] for PaddleOCR's
PP-OCRv4 reads of the plate text.

| | this model | bicubic |
|---|---|---|
{table}

PSNR-Y gain over bicubic, paired by plate: {gain["median_diff"]:+.2f} dB [{gain["ci_low"]:+.2f}, {gain["ci_high"]:+.2f}],
higher on {gain["wins"]:.0%} of the plates.

"""
