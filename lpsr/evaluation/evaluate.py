"""Evaluation on whole plates: per-plate scores, a summary as the paper reports it.

`evaluate(model, plates, out_dir)` super-resolves every LR plate of a split whole (the
models are fully convolutional; the paper aggregates patches instead), scores it against
its HR plate with PSNR on RGB, PSNR-Y (BasicSR's BT.601 Y, float64, no border cropped
unless `crop_border`) and SSIM on Y, and writes `per_plate.csv` and `summary.json`
(median, std, 95% bootstrap interval of the median, n, and the protocol).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from lpsr.config import config_from_dict
from lpsr.data.plates import PlateSet
from lpsr.evaluation.ocr import ocr_scores, score_read
from lpsr.files import load_checkpoint, load_weights, write_atomic
from lpsr.inference import inference_bf16, super_resolve
from lpsr.metrics import calculate_ssim, psnr_rgb, psnr_y, summarize
from lpsr.models import build_model

TIMED_PLATES = 256  # inference throughput (plates_per_s) is timed on a second pass over this many plates


RELEASED_WEIGHTS = "model.safetensors"  # a released model folder's weights (lpsr release)


def _model_file(path: Path, device) -> tuple[dict, dict]:
    """The weights and the model_config of a checkpoint (.pt) or a released safetensors file."""
    if path.suffix == ".safetensors":
        tensors, metadata = load_weights(path)
        if "model_config" not in metadata:
            raise ValueError(f"{path} is not an lpsr model: its safetensors metadata holds no model_config")
        weights = {k: (v.float() if v.is_floating_point() else v).to(device) for k, v in tensors.items()}
        return weights, json.loads(metadata["model_config"])
    state = load_checkpoint(path, device)
    if not isinstance(state, dict) or not {"model", "model_config"} <= set(state):
        raise ValueError(
            f"{path} is not an lpsr checkpoint (it holds no model_config and model weights): give a run folder, its best.pt or last.pt"
        )
    return state["model"], state["model_config"]


def load_model(spec: str | Path, scale: int = 8, device: str | torch.device = "cpu") -> tuple[nn.Module | None, str]:
    """A model from `bicubic`, a run folder (its best.pt), a released model folder (its
    model.safetensors), a checkpoint file or a released safetensors file, and its name.
    `hr` gives no model: `evaluate` then scores the HR plates themselves (the OCR reference row).
    A checkpoint of an unfinished run (its folder has no done.json) is loaded with a warning on stderr."""
    if str(spec) == "hr":
        return None, "HR"
    if str(spec) == "bicubic":
        return build_model("bicubic", scale), "bicubic"
    path = Path(spec)
    if path.is_dir():
        path = path / (RELEASED_WEIGHTS if (path / RELEASED_WEIGHTS).is_file() else "best.pt")
    weights, model_config = _model_file(path, device)
    try:
        config = config_from_dict({"model": model_config}).model
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: its model_config is not one lpsr builds ({error.args[0]})") from None
    if config.scale != scale:
        raise ValueError(f"{path} is a x{config.scale} model; the data protocol asks for x{scale}")
    model = build_model(config.name, config.scale, **config.options)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{path}: its weights do not fit its model_config ({config.name}, options {config.options})"
        ) from None
    in_run = path.name in ("best.pt", "last.pt") and (path.parent / "config.yaml").is_file()
    if in_run and not (path.parent / "done.json").is_file():
        print(
            f"warning: {path.parent} is an unfinished run (no done.json): its {path.name} is from before it stopped; `lpsr train` with its settings finishes it",
            file=sys.stderr,
        )
    name = path.parent.name if path.name in ("best.pt", "last.pt", RELEASED_WEIGHTS) else path.stem
    return model.to(device).eval(), name


def score_plates(sr: list, hr: list, crop_border: int = 0) -> dict[str, list[float]]:
    return {
        "psnr": [psnr_rgb(s, h, crop_border) for s, h in zip(sr, hr)],
        "psnr_y": [psnr_y(s, h, crop_border) for s, h in zip(sr, hr)],
        "ssim": [calculate_ssim(s, h, crop_border) for s, h in zip(sr, hr)],
    }


def _plates_per_s(model: nn.Module, lr_images: list, device, bf16: bool, channels_last: bool) -> float:
    """Inference throughput over the first `TIMED_PLATES` plates, timed on a second pass: the first
    (the scoring pass) built the kernels for these plate sizes."""
    timed = lr_images[:TIMED_PLATES]
    started = time.perf_counter()
    super_resolve(model, timed, device, bf16=bf16, channels_last=channels_last)
    return len(timed) / (time.perf_counter() - started)


def evaluate(
    model: nn.Module,
    plates: PlateSet,
    out_dir: str | Path | None = None,
    method: str = "",
    device: str | torch.device = "cpu",
    crop_border: int = 0,
    bf16: bool | str = "auto",
    channels_last: bool = True,
    reader=None,
    run: str | None = None,
) -> dict:
    """Score a model on whole plates; write per_plate.csv and summary.json into `out_dir`.
    `run` names the run folder the model comes from (kept in the summary).

    With a `lpsr.evaluation.ocr.PlateReader`, each SR plate is also read and compared with the plate text
    of its CCPD file name (OCR text, confidence, exact match, character accuracy). `bf16`: true,
    false or "auto" (bf16 autocast where `device` computes bf16 natively); the summary records it."""
    bf16 = inference_bf16(bf16, device)
    if model is None:  # the HR plates themselves: no scores, nothing to time
        sr, scores, plates_per_s = plates.hr, {}, None
    else:
        if channels_last:  # faster whole-plate inference on CPU (bench/infer_speed.py measures by how much)
            model = model.to(memory_format=torch.channels_last)
        sr = super_resolve(model, plates.lr, device, bf16=bf16, channels_last=channels_last)
        scores = score_plates(sr, plates.hr, crop_border)
        plates_per_s = _plates_per_s(model, plates.lr, device, bf16, channels_last)
    columns, ocr_summary = dict(scores), {}
    if reader is not None:
        reads, ocr_summary = read_plates(reader, sr, plates.texts)
        columns |= reads
    summary = {
        "method": method,
        "run": run,
        "n": len(plates),
        "scale": plates.protocol.scale,
        "precision": "bf16" if bf16 and model is not None else "fp32",
        "device": str(device),
    }
    for name, values in scores.items():
        stats = summarize(values)
        summary |= {f"{name}_{key}": stats[key] for key in ("median", "std", "ci_low", "ci_high", "mean")}
    summary |= ocr_summary | {
        "plates_per_s": plates_per_s,
        "crop_border": crop_border,
        "protocol": asdict(plates.protocol),
        "data": {"root": plates.summary.get("root"), "split": plates.summary.get("split")},
    }
    if out_dir is not None:
        write_results(Path(out_dir), plates, columns, summary)
    return summary


def read_plates(reader, sr: list, texts: list[str]) -> tuple[dict[str, list], dict]:
    """What `reader` reads of each SR plate against its text: the per-plate columns (OCR text,
    confidence, exact match, character accuracy) and their summary (exact and character accuracy,
    and the paper's OCRρ: the median (± std) of the confidence)."""
    reads = reader.read(sr)
    scored = [score_read(text, truth) for (text, _), truth in zip(reads, texts)]
    columns = {
        "ocr_text": [text for text, _ in reads],
        "ocr_conf": [conf for _, conf in reads],
        "exact": [s["exact"] for s in scored],
        "char_acc": [s["char_acc"] for s in scored],
    }
    summary = {k: v for k, v in ocr_scores(reads, texts).items() if k != "n"}
    conf = summarize(columns["ocr_conf"])
    return columns, summary | {"ocr_conf_median": conf["median"], "ocr_conf_std": conf["std"]}


def write_results(out: Path, plates: PlateSet, columns: dict[str, list], summary: dict) -> None:
    """per_plate.csv (a row per plate: file, text, size, then `columns`) and summary.json into
    `out`, both or neither: a failure leaves the previous pair whole."""
    out.mkdir(parents=True, exist_ok=True)
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["file", "plate", "width", "height", *columns])
    for i, (file, text) in enumerate(zip(plates.files, plates.texts)):
        h, w = plates.hr[i].shape[:2]
        values = (f"{columns[k][i]:.4f}" if isinstance(columns[k][i], float) else columns[k][i] for k in columns)
        writer.writerow([file, text, w, h, *values])
    write_atomic(
        {
            out / "per_plate.csv": table.getvalue().encode("utf-8"),
            out / "summary.json": json.dumps(summary, indent=2, ensure_ascii=False).encode("utf-8"),
        }
    )


def evaluate_run(
    run_dir: str | Path, plates: PlateSet, method: str | None = None, device: str | torch.device = "cpu"
) -> dict:
    """Score a run's selected checkpoint (best.pt) on a split; results land in the run folder."""
    run_dir = Path(run_dir)
    model, name = load_model(run_dir, plates.protocol.scale, device)
    split = plates.summary.get("split", "test")
    return evaluate(model, plates, run_dir / f"eval-{split}", method=method or name, device=device)
