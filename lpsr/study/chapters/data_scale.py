"""Chapter 10, does the answer change with data? MSE and PECL trained on nested, seeded subsets of
the train plates, at one budget, and what a fitted trend would say at the paper's data size.

`scale_sweep` trains each loss of `LOSSES` on each share of the train plates the profile trains
(`FRACTIONS`: `data.train_plates`, the nested subsets of lpsr.data.plates.nested_subset, so every
smaller set lies inside every larger one, and the val and test plates are the same whole splits),
selects each run on validation and scores it once on the test plates; every size's PECL rows carry
their paired difference to MSE over the same plates. At all the train plates a run is the very run
other chapters train (the same id): Table 1's, and chapter 9's weight sweep's for the Euclidean
variant. `seed_sweep` retrains each loss on all the plates with other seeds (`SEEDS`), and
`encoder_sweep` sets the plates encoder pretrained on a subset against one pretrained on all the
train plates and a random frozen one, at one size (`ENCODER_FRACTION`).

`scale_fit` fits PSNR-Y against log10(train plates) per loss and extrapolates it to the paper's
data size, with a bootstrap over the test plates: an extrapolation, not a measurement.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lpsr.data.plates import split_plates
from lpsr.metrics import paired_difference
from lpsr.study.experiments import EUCLIDEAN_LABEL, EUCLIDEAN_VARIANT, read_per_plate, train_and_score, variant_configs
from lpsr.study.extrapolation import log_linear_fit
from lpsr.study.findings import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, claim, interval_move
from lpsr.study.text import fit_phrases, index_in_corner, interval, names, number, supported
from lpsr.training.runs import run_summary

# The shares of the train plates each loss trains on, by profile (1: all of them).
FRACTIONS = {"smoke": (0.25, 1.0), "cpu": (0.125, 0.25, 0.5, 1.0), "paper": (0.125, 0.25, 0.5, 1.0)}
# The seeds each loss trains with on all the plates; the first is every other run's.
SEEDS = {"smoke": (0, 1), "cpu": (0, 1, 2), "paper": (0, 1, 2)}
# The losses, each a variant of lpsr.study.experiments (a method, settings on top): MSE, the headline
# PECL (chapter 2) and the PECL variant chapter 9's validation ranks first at the cpu profile.
LOSSES = {"MSE": ("ours-mse", []), "PECL": ("ours-pecl", []), EUCLIDEAN_LABEL: EUCLIDEAN_VARIANT}
ENCODER_FRACTION = 0.25  # the share of the train plates the encoders are compared at
# The plates encoder's pretraining data, for the headline PECL at ENCODER_FRACTION.
ENCODERS = {
    "pretrained on all train plates": [],
    "pretrained on the run's plates": ["loss.encoder_plates=subset"],
    "random, frozen": ["loss.encoder_init=random"],
}
PAPER_PLATES = 100_000  # CCPD's train split, as the paper trains on it (about)


def subset_sizes(config, fractions) -> dict[float, int]:
    """The number of train plates each share of `fractions` trains on (0 for all of them: the
    setting every other chapter's runs have), from the train split of `config`'s data."""
    total = len(split_plates(config, "train", progress=False))
    return {f: 0 if f >= 1 else max(1, round(f * total)) for f in fractions}


def scale_configs(profile: str, data: str | None, fractions, losses: dict | None = None) -> dict:
    """Each loss of `losses` (None: `LOSSES`) at each share of the train plates, named
    "<loss> @ <share>" ("@ all" for every plate)."""
    losses = LOSSES if losses is None else losses
    base = variant_configs(profile, data, {"MSE": LOSSES["MSE"]})["MSE"]
    sizes = subset_sizes(base, fractions)
    variants = {
        f"{loss} @ {_share(f)}": (method, [*settings, f"data.train_plates={n}"])
        for f, n in sizes.items()
        for loss, (method, settings) in losses.items()
    }
    return variant_configs(profile, data, variants)


def _share(fraction: float) -> str:
    """A share as the chapter names it: "all", "1/8" (shares are 1/k)."""
    return "all" if fraction >= 1 else f"1/{round(1 / fraction)}"


def scale_sweep(profile, data, runs_dir, out, fractions=None, losses=None, progress: bool = True) -> pd.DataFrame:
    """Train (or reuse) and score every loss at every share (`scale_configs`); one row per run with
    its plates, validation and test PSNR-Y, and, for a PECL row, the paired difference to MSE at the
    same share; written to `out/data_scale.csv`."""
    configs = scale_configs(profile, data, FRACTIONS[profile] if fractions is None else fractions, losses)
    frame = _scored_rows(train_and_score(configs, runs_dir, out, ocr=False, progress=progress), configs, losses)
    frame = _paired_with(frame, out, ["share"])
    Path(out).mkdir(parents=True, exist_ok=True)
    frame.to_csv(Path(out) / "data_scale.csv")
    return frame


def seed_sweep(profile, data, runs_dir, out, seeds=None, losses=None, progress: bool = True) -> pd.DataFrame:
    """Every loss on all the train plates with each seed of `seeds` (None: `SEEDS`); rows as
    `scale_sweep`'s, PECL paired with MSE of the same seed."""
    losses = LOSSES if losses is None else losses
    variants = {
        f"{loss}, seed {seed}": (method, [*settings, f"train.seed={seed}"])
        for seed in (SEEDS[profile] if seeds is None else seeds)
        for loss, (method, settings) in losses.items()
    }
    configs = variant_configs(profile, data, variants)
    frame = _scored_rows(train_and_score(configs, runs_dir, out, ocr=False, progress=progress), configs, losses)
    return _paired_with(frame, out, ["seed"])


def encoder_sweep(profile, data, runs_dir, out, fraction: float = ENCODER_FRACTION, progress: bool = True):
    """The headline PECL at one share of the train plates with each encoder of `ENCODERS`, beside
    MSE at that share; rows as `scale_sweep`'s, each PECL paired with that MSE."""
    base = variant_configs(profile, data, {"MSE": LOSSES["MSE"]})["MSE"]
    n = subset_sizes(base, [fraction])[fraction]
    variants = {"MSE": ("ours-mse", [f"data.train_plates={n}"])}
    variants |= {f"PECL, encoder {name}": ("ours-pecl", [*s, f"data.train_plates={n}"]) for name, s in ENCODERS.items()}
    configs = variant_configs(profile, data, variants)
    frame = _scored_rows(train_and_score(configs, runs_dir, out, ocr=False, progress=progress), configs, None)
    return _paired_with(frame, out, ["share"])


def _scored_rows(scored: dict, configs: dict, losses: dict | None) -> pd.DataFrame:
    """One row per scored name: its loss (the longest name of `losses` its name starts with), share,
    plates, seed, run, best validation PSNR-Y and test PSNR-Y median with its 95% interval."""
    labels = sorted(LOSSES if losses is None else losses, key=len, reverse=True)
    rows = []
    for name, s in scored.items():
        config = configs[name]
        done = run_summary(s.run) if s.run else {}
        summary = s.summary or {}
        rows.append(
            {
                "name": name,
                "loss": next(label for label in labels if name.startswith(label)),
                "share": name.split(" @ ")[1] if " @ " in name else "",
                "plates": _trained_plates(s.run) if s.run else None,
                "seed": config.train.seed,
                "run": s.run.name if s.run else None,
                "error": s.error,
                "val_psnr_y": done.get("best", {}).get("val_psnr_y"),
                **{k: summary.get(k) for k in ("psnr_y_median", "psnr_y_ci_low", "psnr_y_ci_high")},
            }
        )
    return pd.DataFrame(rows).set_index("name")


def _trained_plates(run: Path) -> int | None:
    """The train plates a run cut its patches from (its env.json: those at least a patch a side)."""
    return json.loads((Path(run) / "env.json").read_text(encoding="utf-8")).get("train_plates")


def _paired_with(frame: pd.DataFrame, out, keys: list[str]) -> pd.DataFrame:
    """`frame` with each non-MSE row's paired test PSNR-Y difference to the MSE row that shares its
    `keys` (diff_psnr_y, diff_ci_low, diff_ci_high)."""
    frame = frame.copy()
    scores = read_per_plate(out, frame.index)
    for name, row in frame.iterrows():
        mse = frame[(frame["loss"] == "MSE") & (frame[keys] == row[keys]).all(axis=1)].index
        if row["loss"] == "MSE" or mse.empty or name not in scores or mse[0] not in scores:
            continue
        diff = paired_difference(scores[name]["psnr_y"].to_numpy(), scores[mse[0]]["psnr_y"].to_numpy())
        frame.loc[name, ["diff_psnr_y", "diff_ci_low", "diff_ci_high"]] = (
            diff["median_diff"],
            diff["ci_low"],
            diff["ci_high"],
        )
    return frame


def scale_fit(frame: pd.DataFrame, out, target: int = PAPER_PLATES, resamples: int = 1000, seed: int = 0) -> dict:
    """Per loss, PSNR-Y = a + b log10(train plates) fitted to `scale_sweep`'s test medians and
    carried to `target` plates, with a bootstrap over the test plates
    (lpsr.study.extrapolation.log_linear_fit)."""
    return log_linear_fit(frame, read_per_plate(out, frame.index), "plates", target, resamples, seed)


def scale_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`scale_sweep`'s rows for the page: loss, share and plates, validation and test PSNR-Y with its
    interval, and the paired difference to MSE."""
    table = pd.DataFrame(index=frame.index)
    table["loss"], table["train plates"] = (
        frame["loss"],
        frame["plates"].map(lambda p: "–" if pd.isna(p) else f"{int(p):,}"),
    )
    table["val PSNR-Y (dB)"] = frame["val_psnr_y"].map(lambda v: number(v, absent="–"))
    table["test PSNR-Y (dB) [95% CI]"] = [
        interval(*v) for v in zip(frame["psnr_y_median"], frame["psnr_y_ci_low"], frame["psnr_y_ci_high"])
    ]
    diffs = zip(
        *(frame.get(k, pd.Series(np.nan, index=frame.index)) for k in ("diff_psnr_y", "diff_ci_low", "diff_ci_high"))
    )
    table["− MSE, paired (dB) [95% CI]"] = [interval(*v, sign="+") for v in diffs]
    return index_in_corner(table)


def scale_numbers(frame: pd.DataFrame, fit: dict, seeds: pd.DataFrame, encoders: pd.DataFrame) -> dict[str, str]:
    """The numbers chapter 10 glues: the train plates of each share, each PECL loss's paired
    difference to MSE at the smallest share and at all the plates and how it moves between them,
    the fitted slopes and the gap they imply at the paper's data size, the spread over seeds and
    the paired difference of each encoder's PECL run to MSE."""
    found = {"sizes": names([f"{int(p):,}" for p in sorted(frame["plates"].dropna().unique())], style="")}
    for key, loss in (("pecl", "PECL"), ("l2", EUCLIDEAN_LABEL)):
        rows = frame[frame["loss"] == loss].dropna(subset=["diff_psnr_y"]).sort_values("plates")
        ends = (rows.iloc[0], rows.iloc[-1]) if len(rows) >= 2 else None
        found[f"{key}_first"], found[f"{key}_last"] = (
            (_difference(r) for r in ends) if ends else ("not measured", "not measured")
        )
        found[f"{key}_move"] = MOVES[interval_move(*ends)] if ends else MOVES["holds"]
        phrases = fit_phrases(fit, loss, "train plates", "plate")
        found[f"{key}_slope"], found[f"{key}_fit_gap"], found[f"{key}_cross"] = (
            phrases["slope"],
            phrases["gap"],
            phrases["cross"],
        )
    found["mse_slope"] = fit_phrases(fit, "MSE", "train plates", "plate")["slope"]
    found["target"] = f"{fit['target']:,}"
    for loss, key in (("MSE", "mse"), ("PECL", "pecl")):
        scores = seeds.loc[seeds["loss"] == loss, "psnr_y_median"].dropna()
        found[f"seed_std_{key}"] = number(scores.std() if len(scores) > 1 else None, unit=" dB")
    gaps = seeds.loc[seeds["loss"] == "PECL", "diff_psnr_y"].dropna()
    found["seed_gaps"] = names([number(g, "+.2f") for g in gaps], style="") + " dB" if len(gaps) else "not measured"
    found["seeds"] = names([str(s) for s in sorted(seeds["seed"].unique())], style="")
    for name, key in zip(ENCODERS, ("enc_all", "enc_subset", "enc_random")):
        row = encoders.loc[f"PECL, encoder {name}"] if f"PECL, encoder {name}" in encoders.index else None
        found[key] = _difference(row) if row is not None and not pd.isna(row.get("diff_psnr_y")) else "not measured"
    found["encoder_plates"] = number(encoders["plates"].dropna().max(), ",.0f") if len(encoders) else "not measured"
    return found


# How a PECL loss's paired difference to MSE moves from the smallest share to all the plates.
MOVES = {"rises": "rises", "falls": "falls", "holds": "does not move beyond its two intervals"}


def _difference(row) -> str:
    return supported(row["diff_psnr_y"], row["diff_ci_low"], row["diff_ci_high"])


def scale_claims(frame: pd.DataFrame, chapter: str) -> list[dict]:
    """The chapter's question, this study's and not a claim of the paper: does PECL's deficit to MSE
    close with more training data? The headline PECL's paired difference at the smallest share and
    at all the plates: rising with the intervals apart, reproduced; falling apart, not reproduced;
    else inconclusive; fewer than two shares, not testable."""
    text = "PECL's deficit to MSE is a small-data effect that closes with more training plates (this study's question, not the paper's)"
    rows = frame[frame["loss"] == "PECL"].dropna(subset=["diff_psnr_y"]).sort_values("plates")
    if len(rows) < 2:
        return [claim(text, "fewer than two data sizes measured", NOT_TESTABLE, chapter)]
    first, last = rows.iloc[0], rows.iloc[-1]
    measured = (
        f"PECL − MSE, test PSNR-Y: {_difference(first)} at {int(first['plates']):,} train plates, "
        f"{_difference(last)} at {int(last['plates']):,}"
    )
    verdict = {"rises": REPRODUCED, "falls": NOT_REPRODUCED, "holds": INCONCLUSIVE}[interval_move(first, last)]
    return [claim(text, measured, verdict, chapter)]
