"""The paper's ablation (sec. 4.2.2, Fig. 8-11): PECL's embedding size d and distance against MSE,
and any other set of named variants of the Table 1 methods (seeds, encoder initialisations).

`embedding_sweep` trains the headline PECL setting (`lpsr.study.methods.PECL_HEADLINE`) for every
d and distance, and the same model with MSE alone, on one profile; each is selected on
validation and scored once on the test plates (`lpsr.study.compare.train_and_score`), so the runs
are the very ones Table 1 uses where the settings coincide (d = 128, L1). It returns one tidy
row per run: the best validation PSNR-Y (which selected its checkpoint), the test median and 95%
interval of PSNR and PSNR-Y, the OCR scores and the run folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpsr.config import RunConfig
from lpsr.study.compare import train_and_score
from lpsr.study.methods import method_config
from lpsr.training.runs import diverged_at, run_summary

DIMS = (64, 128, 256, 512)
DISTANCES = ("l1", "l2")
DISTANCE_NAMES = {"l1": "Manhattan (L1)", "l2": "Euclidean (L2)"}


def variant_configs(
    profile: str, data: str | None, variants: dict[str, tuple[str, list[str]]], overrides: list[str] = ()
) -> dict[str, RunConfig]:
    """Named configurations, each a method of `lpsr.study.methods` with its own settings on top of the
    profile, e.g. {"PECL, random encoder": ("ours-pecl", ["loss.encoder_init=random"])}."""
    extra = [*overrides, *([f"data.root={data}"] if data else [])]
    return {
        name: method_config(method, profile, overrides=[*extra, *settings])
        for name, (method, settings) in variants.items()
    }


def sweep_configs(
    profile: str = "cpu", data: str | None = None, dims=DIMS, distances=DISTANCES, overrides: list[str] = ()
) -> dict[str, RunConfig]:
    """`ours-mse` and one `ours-pecl` configuration per (distance, d), named `pecl-l1-d128` etc."""
    variants = {"ours-mse": ("ours-mse", [])}
    variants |= {
        f"pecl-{distance}-d{d}": ("ours-pecl", [f"loss.dim={d}", f"loss.distance={distance}"])
        for distance in distances
        for d in dims
    }
    return variant_configs(profile, data, variants, overrides)


def embedding_sweep(
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "ablation",
    dims=DIMS,
    distances=DISTANCES,
    overrides: list[str] = (),
    ocr: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or reuse) and score MSE and PECL for each d and distance; write `out/ablation.csv`."""
    scored = train_and_score(sweep_configs(profile, data, dims, distances, overrides), runs_dir, out, ocr, progress)
    rows = []
    for name, s in scored.items():
        pecl = s.config.loss.name == "pecl"
        row = {
            "name": name,
            "loss": s.config.loss.name,
            "distance": s.config.loss.distance if pecl else None,
            "d": s.config.loss.dim if pecl else None,
        }
        row["run"] = s.run.name if s.run else None
        row["error"] = s.error
        row["diverged_at"] = diverged_at(s.run) if s.run else None
        row["val_psnr_y"] = run_summary(s.run)["best"]["val_psnr_y"] if s.run else None
        for key, value in (s.summary or {}).items():
            if key.startswith(("psnr", "ssim", "ocr")) and isinstance(value, float):
                row[key] = value
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("name")
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "ablation.csv")
    return frame
