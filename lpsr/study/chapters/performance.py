"""Chapter 8, performance: each method's size, arithmetic and measured training and inference
throughput on the machine that built the book, from chapter 3's runs and test scores.
"""

from __future__ import annotations

import pandas as pd

from lpsr.models import count_flops, count_parameters
from lpsr.study.experiments import METHODS, Scored
from lpsr.study.text import index_in_corner, missing, number
from lpsr.training.runs import run_summary


def performance(scored: dict[str, Scored], paper_iterations: int, paper_batch: int) -> pd.DataFrame:
    """Chapter 8's numbers, one row per scored method (`score_methods`) named by its Table 1 label:
    size, the arithmetic of one 8×8 → 64×64 pass, the training throughput of its run, the inference
    throughput and median PSNR-Y of its test evaluation, and the paper's budget in training
    arithmetic for the SR network alone (forward and backward FLOPs per patch × iterations × batch)."""
    rows = []
    for name, s in scored.items():
        if s.summary is None:  # diverged, or a weights file missing: nothing to time
            continue
        done = run_summary(s.run) if s.run else {}
        rows.append(
            {
                "method": METHODS[name].label if name in METHODS else name,
                "parameters": count_parameters(s.model),
                "GFLOP per 8×8→64×64 forward": count_flops(s.model) / 1e9,
                "train samples/s (this machine)": done.get("samples_per_s"),
                "infer plates/s (this machine)": s.summary["plates_per_s"],
                "test PSNR-Y (dB)": s.summary["psnr_y_median"],
                "paper budget, PFLOP (model only)": count_flops(s.model, backward=True)
                * paper_iterations
                * paper_batch
                / 1e15,
            }
        )
    return pd.DataFrame(rows).set_index("method")


def performance_table(performance: pd.DataFrame) -> pd.DataFrame:
    """Chapter 8's table of cost and speed for the page: counts with thousands separators, speeds
    to one decimal, "–" where a method has no value (bicubic is not trained)."""

    def formatted(spec: str):
        return lambda v: "–" if missing(v) else format(v, spec)

    specs = {
        "parameters": ",.0f",
        "GFLOP per 8×8→64×64 forward": ".2f",
        "train samples/s (this machine)": ",.1f",
        "infer plates/s (this machine)": ",.1f",
        "test PSNR-Y (dB)": ".2f",
        "paper budget, PFLOP (model only)": ",.0f",
    }
    return index_in_corner(
        pd.DataFrame({column: performance[column].map(formatted(spec)) for column, spec in specs.items()})
    )


def performance_findings(performance: pd.DataFrame, paper_iterations: int, paper_batch: int) -> dict[str, str]:
    """Chapter 8's sentences (Markdown), keyed for myst-nb's glue, from its table of cost and speed
    (one row per method, named by its Table 1 label): the slowest and fastest training throughput,
    and what the paper's model costs per patch and would take at the paper's budget on this machine."""
    speed = performance["train samples/s (this machine)"].dropna() if len(performance) else pd.Series(dtype=float)
    if speed.empty:
        training = "was not measured: no method here was trained"
    elif number(speed.min(), ".1f") == number(speed.max(), ".1f"):
        training = f"runs at {number(speed.min(), '.1f')} samples/s for every method trained ({', '.join(speed.index)})"
    else:
        slowest, fastest = speed.idxmin(), speed.idxmax()
        training = f"runs from {number(speed[slowest], '.1f')} samples/s ({slowest}) to {number(speed[fastest], '.1f')} samples/s ({fastest})"
    ours = METHODS["ours-mse"].label
    if ours not in performance.index:
        model = "The paper's model is not among the methods measured here."
    else:
        row = performance.loc[ours]
        model = (
            f"The paper's model costs {number(row['GFLOP per 8×8→64×64 forward'])} GFLOP per patch and scores "
            f"{number(row['infer plates/s (this machine)'], '.1f')} whole plates/s; the paper's budget is "
            f"{number(row['paper budget, PFLOP (model only)'], ',.0f')} PFLOP of training arithmetic for it alone"
        )
        per_s = row["train samples/s (this machine)"]
        if missing(per_s) or not per_s > 0:
            model += " (its training throughput was not measured here, so no duration is given)."
        else:
            days = paper_iterations * paper_batch / per_s / 86400
            model += (
                f", which at this machine's {number(per_s, '.0f')} samples/s would take {number(days, ',.0f')} days."
            )
    return {"training": training, "paper_model": model}
