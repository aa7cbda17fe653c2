"""Chapter 2, PECL as written and as intended: the contrastive term's readings and the weightings
of eq. 19 on one worked batch and over training, and the headline setting validation picks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lpsr.config import RunConfig
from lpsr.study.experiments import LEARNABLE_VARIANTS, PECL_HEADLINE
from lpsr.study.text import leaders, names, number, results_table
from lpsr.training.runs import read_log


def one_step_distances(worked: pd.DataFrame) -> dict[str, str]:
    """The numbers chapter 2 glues under its worked batch, keyed for myst-nb's glue, from its table
    of `lpsr.losses.pecl.contrastive_step` per reading (rows; columns D, dterm/dD, D after one
    step): D, the paper term's slope, and for the `positive` and the paper's term D after one step
    down it with the way that step moves SR ("closer to HR", "**away** from HR", or "no change at
    three decimals")."""
    values = {
        "d": number(worked.loc["positive", "D"], ".3f"),
        "paper_slope": number(worked.loc["paper", "dterm/dD"], "+.2f"),
    }
    for reading in ("positive", "paper"):
        before, after = (number(worked.loc[reading, key], ".3f") for key in ("D", "D after one step"))
        values[f"{reading}_after"] = after
        values[f"{reading}_direction"] = (
            "no change at three decimals"
            if after == before
            else ("**away** from HR" if float(after) > float(before) else "closer to HR")
        )
    return values


def readings_table(summaries: list[dict], dynamics: dict[str, dict], diverged: dict[str, int]) -> pd.DataFrame:
    """Chapter 2's results: `results_table` of the test summaries, then each run's learnt loss
    terms at the end of training (`loss_dynamics`: the distance and the
    weights, where the run has them) and the iteration it diverged at ('–': it did not)."""
    table = results_table(summaries)
    for name, values in dynamics.items():
        for key in ("distance", "w_pixel", "w_contrastive"):
            if key in values:
                table.loc[name, f"final {key}"] = f"{values[key]:.3f}"
    table["diverged at"] = [diverged.get(name) or "–" for name in table.index]
    return table


def readings_results(
    tests: dict[str, dict],
    dynamics: dict[str, dict],
    val: dict[str, float],
    configs: dict[str, RunConfig],
    diverged: dict[str, int],
    headline: dict = PECL_HEADLINE["loss"],
) -> dict[str, str]:
    """The numbers and names chapter 2 glues into its closing paragraphs, keyed for myst-nb's glue,
    from the test summaries of bicubic and each variant (by name), each run's last loss terms
    (`loss_dynamics`), its best validation PSNR-Y, its configuration and where a run diverged: D and
    w_pixel at the end of the two learnable-weight runs (`LEARNABLE_VARIANTS`), the test plates and
    PSNR-Y, the runs that diverged with the iteration ("none"), the PECL variant validation picks
    (ties named together) with its validation PSNR-Y and that of MSE, the headline setting and
    whether it "is", "is not" or "cannot be checked against" that variant's."""
    positive, paper = LEARNABLE_VARIANTS

    def psnr_y(name: str) -> str:
        return number(tests.get(name, {}).get("psnr_y_median"), unit=" dB", absent="not measured (not trained)")

    def last(name: str, key: str) -> str:
        return number(dynamics.get(name, {}).get(key), ".3f", absent="not measured (not trained)")

    pecl = {name: val.get(name) for name, config in configs.items() if config.loss.name == "pecl"}
    top = leaders(pecl)
    return {
        "d_positive": last(positive, "distance"),
        "d_paper": last(paper, "distance"),
        "w_positive": last(positive, "w_pixel"),
        "w_paper": last(paper, "w_pixel"),
        "plates": f"{tests.get('MSE', tests.get('bicubic', {})).get('n', 0):,}",
        "psnr_mse": psnr_y("MSE"),
        "psnr_positive": psnr_y(positive),
        "psnr_paper": psnr_y(paper),
        "psnr_bicubic": psnr_y("bicubic"),
        "diverged": names([f"*{name}* at iteration {it:,}" for name, it in diverged.items()], "")
        if diverged
        else "none",
        "best_pecl": names(top) + (", tied" if len(top) > 1 else "") if top else "no variant (none finished)",
        "best_pecl_psnr": number(pecl[top[0]] if top else None, unit=" dB"),
        "val_mse": number(val.get("MSE"), unit=" dB"),
        "headline": ", ".join(f"{k} = {v}" for k, v in headline.items()),
        "headline_match": _headline_match(top, configs, headline),
    }


def _headline_match(top: list[str], configs: dict[str, RunConfig], headline: dict) -> str:
    """Whether the headline setting "is", "is not" or "cannot be checked against" the setting of
    the PECL variant validation picks (`top`: the leaders, more than one when they tie)."""
    if not top:
        return "cannot be checked against"
    same = any(all(getattr(configs[n].loss, k) == v for k, v in headline.items()) for n in top)
    return "is" if same else "is not"


def parameter_table(parameters: dict[str, int]) -> pd.DataFrame:
    """A model's parameters by block (`lpsr.models.parameters_by_block`): the count, with
    thousands separators, and the share of the whole."""
    counts = pd.Series(parameters, dtype="int64")
    shares = (counts / counts.sum()).map("{:.1%}".format)
    return pd.DataFrame({"parameters": counts.map("{:,}".format), "share": shares})


def loss_dynamics(run_dir: str | Path, last: int = 50) -> dict:
    """Mean of each logged loss term over the last `last` iterations of a run."""
    steps, _ = read_log(run_dir)
    tail = steps[-last:]
    keys = [k for k in ("mse", "contrastive", "distance", "w_pixel", "w_contrastive") if k in tail[0]]
    return {k: float(np.mean([s[k] for s in tail])) for k in keys}
