"""Chapter 5, training dynamics: the contrast of eq. 20 between PECL and MSE at every validation
(the paper's Fig. 10-11), and where the paper's learnable weights end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpsr.metrics import contrast
from lpsr.study.findings import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, claim
from lpsr.study.text import names, number
from lpsr.training.runs import read_log


def dynamics_claims(contrasts: dict[str, tuple[list[int], list[float]]], chapter: str) -> list[dict]:
    """Chapter 5's claim that PECL converges faster than MSE: the contrast of eq. 20 on validation
    PSNR at the first validation, one run per variant (no interval): above zero for every run,
    reproduced; for none, not reproduced; for some, inconclusive."""
    first = {name: values[0] for name, (_, values) in contrasts.items() if len(values)}
    if not first:
        return [claim("PECL converges faster than MSE (Figs. 10–11)", "not measured", NOT_TESTABLE, chapter)]
    iteration = next(iter(contrasts.values()))[0][0]
    ahead = sum(v > 0 for v in first.values())
    measured = (
        f"{ahead} of {len(first)} PECL runs ahead of MSE at the first validation (iteration {iteration:,}; "
        f"contrast of eq. 20 from {number(min(first.values()), '+.3f')} to {number(max(first.values()), '+.3f')}; one run each, no interval)"
    )
    verdict = REPRODUCED if ahead == len(first) else NOT_REPRODUCED if ahead == 0 else INCONCLUSIVE
    return [claim("PECL converges faster than MSE (Figs. 10–11)", measured, verdict, chapter)]


def psnr_contrast(
    run_dir: str | Path, baseline_dir: str | Path, key: str = "val_psnr"
) -> tuple[list[int], list[float]]:
    """Eq. 20 over training: (PSNR_PECL - PSNR_MSE) / PSNR_MSE at each validation both runs share."""
    _, vals = read_log(run_dir)
    _, base = read_log(baseline_dir)
    reference = {v["iteration"]: v[key] for v in base}
    shared = [v for v in vals if v["iteration"] in reference]
    return [v["iteration"] for v in shared], [contrast(v[key], reference[v["iteration"]]) for v in shared]


def contrast_table(runs: dict[str, str | Path], baseline_dir: str | Path, key: str = "val_psnr") -> pd.DataFrame:
    """Eq. 20 as a table: one row per run of `runs` other than the baseline, one column per
    validation it shares with the baseline (the iteration), rounded to 3 decimals."""
    contrasts = {
        name: dict(zip(*psnr_contrast(run_dir, baseline_dir, key)))
        for name, run_dir in runs.items()
        if Path(run_dir) != Path(baseline_dir)
    }
    return pd.DataFrame(contrasts).T.round(3)


def dynamics_findings(
    contrasts: dict[str, tuple[list[int], list[float]]],
    weights_end: dict[str, float | None],
    diverged: dict[str, int | None] | None = None,
) -> dict[str, str]:
    """The values chapter 5 glues into its closing paragraphs, by glue key, from each PECL run's
    contrast of eq. 20 against MSE (`psnr_contrast`: iterations, values), the w_pixel each
    learnable-weight run ends at and the iteration where a run's loss diverged and the run ended
    (`diverged`): the first and last validation (`first_iteration`, `last_iteration`), the
    contrast's range at each (`first_contrast`, `last_contrast`), the runs ending above MSE
    (`runs_above`, "2 of 5") and level with it (`runs_level`), every validation (`validations`),
    the final weights (`weights`) and the runs that diverged (`weights_diverged`)."""
    runs = {name: values for name, (_, values) in contrasts.items() if len(values)}
    iterations = next((its for its, values in contrasts.values() if len(values)), [])
    final = [values[-1] for values in runs.values()]
    level = sum(v == 0 for v in final)
    weights = [f"{number(w, '.3f', absent='not logged')} ({name})" for name, w in weights_end.items()]
    ended = [f"{name} at iteration {at:,}" for name, at in (diverged or {}).items() if at]
    return {
        "first_iteration": f"{iterations[0]:,}" if runs else "none",
        "first_contrast": _contrast_range({name: values[0] for name, values in runs.items()}, named=False),
        "last_iteration": f"{iterations[-1]:,}" if runs else "none",
        "last_contrast": _contrast_range({name: values[-1] for name, values in runs.items()}, named=True),
        "runs_above": f"{sum(v > 0 for v in final)} of {len(final)}" if runs else "no",
        "runs_level": f"{level}" if level else "none",
        "validations": ", ".join(str(i) for i in iterations) or "none",
        "weights": ", ".join(weights) or "not measured",
        "weights_diverged": names(ended, style="") if ended else "none",
    }


def _contrast_range(contrast: dict[str, float], named: bool) -> str:
    """The runs' contrasts at one validation as chapter 5 writes them: "between -0.020 and +0.010"
    (`named`: each end with its run), "+0.000 for every run" when they agree to three decimals,
    "not measured" without a run."""
    if not contrast:
        return "not measured"
    lowest, highest = min(contrast, key=contrast.get), max(contrast, key=contrast.get)
    low, high = number(contrast[lowest], "+.3f"), number(contrast[highest], "+.3f")
    if low == high:
        return f"{low} for every run"
    if named:
        return f"between {low} ({lowest}) and {high} ({highest})"
    return f"between {low} and {high}"
