"""A straight line in log10 of a scale (training patches seen, train plates) per loss, and what it
implies at the paper's scale: an extrapolation, not a measurement.

`log_linear_fit` fits test PSNR-Y = a + b log10(x) to the test medians of a sweep's rows (one row
per run, its loss and its scale in column `x`; its per-plate test scores as
lpsr.study.experiments.read_per_plate reads them) and carries each line to `target`; each loss's implied gap to MSE there and where the two lines cross
come with 95% intervals from refitting on bootstrap resamples of the test plates. Chapter 9 fits
against patches seen, chapter 10 against train plates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def log_linear_fit(
    frame: pd.DataFrame, scores: dict[str, pd.DataFrame], x: str, target: float, resamples: int = 1000, seed: int = 0
) -> dict:
    """Per loss (`frame["loss"]`) with two scales or more, PSNR-Y = a + b log10(`x`) fitted to the
    test medians of `frame`'s rows (`scores`: each row's per-plate test scores, by name), and the value it implies at `target`; and each other loss's
    implied gap to MSE there (`fitted_gaps`). The 95% intervals come from refitting on `resamples`
    bootstrap resamples of the test plates (the same resample for every run, so the runs stay
    paired): they hold the plates' sampling noise, not the doubt of carrying a straight line in
    log-scale past the data."""
    rows = frame.dropna(subset=["psnr_y_median", x])
    per_plate = {name: scores[name]["psnr_y"].to_numpy() for name in rows.index if name in scores}
    n = len(next(iter(per_plate.values()))) if per_plate else 0
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n)) if n else np.zeros((0, 0), int)
    fits = {}
    for loss, group in rows.groupby("loss", sort=False):
        names = [name for name in group.sort_values(x).index if name in per_plate]
        if len(names) < 2:
            continue
        scale = np.log10(group.loc[names, x].to_numpy(float))
        medians = np.stack([np.median(per_plate[name][draws], axis=1) for name in names], axis=1)
        slope, intercept = np.polyfit(scale, np.median(np.stack([per_plate[k] for k in names]), axis=1), 1)
        boot = np.array([np.polyfit(scale, m, 1) for m in medians])
        fits[loss] = {
            "slope": slope,
            "intercept": intercept,
            "at_target": intercept + slope * np.log10(target),
            "boot_at_target": boot[:, 1] + boot[:, 0] * np.log10(target),
            "boot": boot,  # (slope, intercept) of each resample
            "x": group.loc[names, x].to_numpy(float),
        }
    return {"target": target, "x": x, "fits": fits, "gaps": fitted_gaps(fits)}


def fitted_gaps(fits: dict) -> dict:
    """Each loss's fitted gap to MSE at the target with its 95% bootstrap interval, the difference
    of slopes per tenfold, and the scale at which the two fitted lines cross (None when they are
    parallel or cross below a scale of one)."""
    if "MSE" not in fits:
        return {}
    mse, gaps = fits["MSE"], {}
    for loss, fit in fits.items():
        if loss == "MSE":
            continue
        boot = fit["boot_at_target"] - mse["boot_at_target"]
        slopes = fit["slope"] - mse["slope"]
        cross = None if abs(slopes) < 1e-12 else (mse["intercept"] - fit["intercept"]) / slopes
        gaps[loss] = {
            "gap": fit["at_target"] - mse["at_target"],
            "ci_low": float(np.percentile(boot, 2.5)),
            "ci_high": float(np.percentile(boot, 97.5)),
            "crosses_at": None if cross is None or cross < 0 else float(10**cross),
            "slope_gap": slopes,
        }
    return gaps
