"""Chapter 8, performance: each method's size, arithmetic and measured training and inference
throughput on the machine that built the book, from chapter 3's runs and test scores.
"""

from __future__ import annotations

import pandas as pd

from lpsr.models import count_flops, count_parameters
from lpsr.study.experiments import METHODS, Scored
from lpsr.study.text import index_in_corner, leaders, missing, names, number
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


def performance_numbers(performance: pd.DataFrame, paper_iterations: int, paper_batch: int) -> dict[str, str]:
    """What chapter 8's closing paragraph glues, from its table of cost and speed (one row per
    method, named by its Table 1 label): the slowest and the fastest training throughput with the
    methods at each (`slowest_speed`, `slowest`, `fastest_speed`, `fastest`), and the paper's model
    (`_model_numbers`)."""
    speed = performance["train samples/s (this machine)"].dropna() if len(performance) else pd.Series(dtype=float)
    return {
        **_speed_end(speed.to_dict(), "slowest", highest=False),
        **_speed_end(speed.to_dict(), "fastest", highest=True),
        **_model_numbers(performance, paper_iterations, paper_batch),
    }


def _speed_end(speeds: dict, end: str, highest: bool) -> dict[str, str]:
    """The highest or lowest training throughput to one decimal (`<end>_speed`) and the methods
    that reach it, ties named together (`<end>`)."""
    at = leaders(speeds, ".1f", highest)
    return {
        f"{end}_speed": number(speeds[at[0]] if at else None, ".1f", " samples/s"),
        end: names(at, style="") if at else "no method trained",
    }


def _model_numbers(performance: pd.DataFrame, paper_iterations: int, paper_batch: int) -> dict[str, str]:
    """The paper's model (Ours (MSE)) in chapter 8's table: its GFLOP per patch, inference
    throughput, the paper's budget in PFLOP, this machine's training throughput, and the days that
    budget would take at it; each "not measured" where the model or its throughput is not."""
    ours = METHODS["ours-mse"].label
    row = performance.loc[ours] if ours in performance.index else pd.Series(dtype=float)
    per_s = row.get("train samples/s (this machine)")
    measured = not missing(per_s) and per_s > 0
    return {
        "model_gflop": number(row.get("GFLOP per 8×8→64×64 forward"), unit=" GFLOP"),
        "model_plates": number(row.get("infer plates/s (this machine)"), ".1f", " whole plates/s"),
        "model_pflop": number(row.get("paper budget, PFLOP (model only)"), ",.0f", " PFLOP"),
        "model_speed": number(per_s if measured else None, ".0f", " samples/s"),
        "model_days": number(paper_iterations * paper_batch / per_s / 86400 if measured else None, ",.0f", " days"),
    }
