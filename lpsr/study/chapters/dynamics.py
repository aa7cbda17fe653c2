"""Chapter 5, training dynamics: the contrast of eq. 20 between PECL and MSE at every validation
(the paper's Fig. 10-11), and where the paper's learnable weights end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpsr.metrics import contrast
from lpsr.study.findings import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, claim
from lpsr.study.text import number
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
    """Chapter 5's sentences (Markdown), keyed for myst-nb's glue, from each PECL run's contrast of
    eq. 20 against MSE (`psnr_contrast`: iterations, values) and the w_pixel each learnable-weight
    run ends at (`diverged`: the iteration where a run's loss diverged and the run ended): the
    contrast's range at the first and last validation, how many runs end above MSE, the
    validations, the final weights."""
    runs = {name: (iterations, values) for name, (iterations, values) in contrasts.items() if len(values)}
    ended = {
        name: f"; its loss diverged at iteration {at:,}, where the run ended" if at else ""
        for name, at in (diverged or {}).items()
    }
    weights = ", ".join(
        f"{number(w, '.3f', absent='not logged')} ({name}{ended.get(name, '')})" for name, w in weights_end.items()
    )
    if not runs:
        none = "no PECL run shares a validation with MSE"
        return {
            "first": none,
            "last": "neither",
            "above": "no PECL run is compared",
            "validations": "none",
            "weights": weights or "not measured",
        }
    iterations = next(iter(runs.values()))[0]
    first = {name: values[0] for name, (_, values) in runs.items()}
    final = {name: values[-1] for name, (_, values) in runs.items()}
    low, high = min(first.values()), max(first.values())
    if number(low, "+.3f") == number(high, "+.3f"):
        first_text = f"(iteration {iterations[0]:,}) the contrast is {number(low, '+.3f')} for every run"
    else:
        first_text = (
            f"(iteration {iterations[0]:,}) the contrast ranges from {number(low, '+.3f')} to {number(high, '+.3f')}"
        )
    lowest, highest = min(final, key=final.get), max(final, key=final.get)
    if number(final[lowest], "+.3f") == number(final[highest], "+.3f"):
        last_text = f"(iteration {iterations[-1]:,}) it is {number(final[lowest], '+.3f')} for every run"
    else:
        last_text = f"(iteration {iterations[-1]:,}) from {number(final[lowest], '+.3f')} ({lowest}) to {number(final[highest], '+.3f')} ({highest})"
    above, level = sum(v > 0 for v in final.values()), sum(v == 0 for v in final.values())
    above_text = f"{above} of {len(final)} PECL runs end above MSE on validation PSNR" + (
        f" ({level} level with it)" if level else ""
    )
    return {
        "first": first_text,
        "last": last_text,
        "above": above_text,
        "validations": ", ".join(str(i) for i in iterations),
        "weights": weights or "not measured (no learnable-weight run)",
    }
