"""Chapter 4, the paper's ablation (sec. 4.2.2, Fig. 8-9): PECL's embedding size d and distance
against MSE.

`embedding_sweep` trains the headline PECL setting for every (distance, d) the profile trains
(`lpsr.study.experiments.ARMS`), and the same model with MSE alone; each is selected on validation
and scored once on the test plates, so the runs are the very ones Table 1 uses where the settings
coincide (d = 128, L1). It returns one tidy row per run: the best validation PSNR-Y (which selected
its checkpoint), the test median and 95% interval of PSNR and PSNR-Y, the OCR scores and the run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lpsr.metrics import paired_difference
from lpsr.study.experiments import DISTANCE_NAMES, PECL_HEADLINE, sweep_configs, train_and_score
from lpsr.study.findings import NOT_TESTABLE, claim, interval_verdict
from lpsr.study.text import difference, interval, leaders, missing, names, number, stated
from lpsr.training.runs import diverged_at, run_summary


def dims_of_both_distances(pecl: pd.DataFrame) -> list:
    """The embedding sizes at which both distances have a row of `pecl` (`embedding_sweep`'s PECL
    rows), in order: where L1 and L2 can be set against each other."""
    return sorted(set(pecl.loc[pecl["distance"] == "l1", "d"]) & set(pecl.loc[pecl["distance"] == "l2", "d"]))


def embedding_sweep(
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "ablation",
    arms: dict | None = None,
    overrides: list[str] = (),
    ocr: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or reuse) and score MSE and PECL for each (distance, d) of `arms` (None: the
    profile's `ARMS`); write `out/ablation.csv`."""
    scored = train_and_score(sweep_configs(profile, data, arms, overrides), runs_dir, out, ocr, progress)
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


def ablation_table(frame: pd.DataFrame):
    """`embedding_sweep`'s rows as chapter 4 shows them (a pandas Styler): the loss, distance and d,
    the validation PSNR-Y that selects, the test medians with their 95% intervals, and the OCR scores."""

    def ci(row, key: str) -> str:
        return interval(*(row.get(f"{key}_{end}") for end in ("median", "ci_low", "ci_high")))

    rows = {}
    for name, row in frame.iterrows():
        pecl = row.get("loss") == "pecl"
        rows[name] = {
            "loss": "PECL" if pecl else "MSE",
            "distance": DISTANCE_NAMES.get(row.get("distance"), "–") if pecl else "–",
            "d": f"{int(row['d'])}" if pecl and not missing(row.get("d")) else "–",
            "val PSNR-Y (dB)": number(row.get("val_psnr_y"), absent="–"),
            "PSNR (dB) [95% CI]": ci(row, "psnr"),
            "PSNR-Y (dB) [95% CI]": ci(row, "psnr_y"),
            "OCRρ": number(row.get("ocr_conf_median"), ".3f", absent="–"),
            "OCR exact": number(row.get("ocr_exact"), ".3f", absent="–"),
        }
    return pd.DataFrame.from_dict(rows, orient="index").style.hide(axis="index")  # loss, distance and d name each row


def ablation_findings(
    frame: pd.DataFrame, per_plate: dict[str, np.ndarray], headline: dict = PECL_HEADLINE["loss"]
) -> dict[str, str]:
    """The values chapter 4 glues into its closing paragraphs, by glue key, from `embedding_sweep`'s
    rows and each run's per-plate test PSNR-Y: MSE's median test PSNR-Y with its interval (`mse`),
    the PECL variant validation picks and its paired difference from MSE (`_best_variant`), the d
    both distances are trained at and each distance's PSNR-Y there (`_by_distance`), the variants
    whose interval lies wholly above MSE's (`above_mse`: their names, "none" or "not measured"),
    the shares of plates OCR reads exactly (`_exact_reads`) and the headline PECL setting."""
    mse = frame.loc["ours-mse"] if "ours-mse" in frame.index else None
    pecl = frame[frame["loss"] == "pecl"]
    beats = [n for n in pecl.index if mse is not None and pecl.loc[n, "psnr_y_ci_low"] > mse["psnr_y_ci_high"]]
    above = "not measured" if mse is None else names(beats, style="") if beats else "none"
    return {
        "mse": _median_and_interval(mse),
        **_best_variant(pecl.dropna(subset=["val_psnr_y"]), per_plate),
        **_by_distance(pecl),
        "above_mse": above,
        **_exact_reads(mse, pecl),
        "headline": ", ".join(f"{k} = {v}" for k, v in headline.items() if k != "name"),
    }


def _median_and_interval(row: pd.Series | None) -> str:
    """A run's median test PSNR-Y with its 95% interval, "20.00 dB [19.80, 20.20]", or "not measured"."""
    if row is None or missing(row.get("psnr_y_median")):
        return "not measured"
    return f"{number(row['psnr_y_median'])} dB [{number(row['psnr_y_ci_low'])}, {number(row['psnr_y_ci_high'])}]"


def _best_variant(chosen: pd.DataFrame, per_plate: dict[str, np.ndarray]) -> dict[str, str]:
    """Chapter 4's values on the PECL variant validation picks (`chosen`: the PECL rows with a
    validation PSNR-Y): its validation PSNR-Y (`best_val`), the variants level with it
    (`best_level`: "" when none), its d and distance (`best_variant`), its median test PSNR-Y
    (`best_test`), its paired test difference from MSE (`best_gap`) and, where that is not nil, the
    share of plates it is better on (`best_share`: "" otherwise)."""
    if chosen.empty:
        unmeasured = dict.fromkeys(("best_val", "best_test", "best_gap"), "not measured")
        return unmeasured | {"best_level": "", "best_variant": "none, as no PECL variant finished", "best_share": ""}
    name = chosen["val_psnr_y"].idxmax()  # chosen on validation, then compared on test once
    row, level = chosen.loc[name], len(leaders(chosen["val_psnr_y"].to_dict())) - 1
    gap, share = "not measured", ""
    if name in per_plate and "ours-mse" in per_plate:
        gain = paired_difference(per_plate[name], per_plate["ours-mse"])
        gap = difference(gain["median_diff"], gain["ci_low"], gain["ci_high"])
        share = "" if gap.startswith("nil") else f", better on {gain['wins']:.0%} of them"
    return {
        "best_val": number(row["val_psnr_y"], unit=" dB"),
        "best_level": f"; {level} other{'s are' if level > 1 else ' is'} level with it to 0.01 dB" if level else "",
        "best_variant": f"d = {int(row['d'])} with the {DISTANCE_NAMES[row['distance']]} distance",
        "best_test": number(row.get("psnr_y_median"), unit=" dB"),
        "best_gap": gap,
        "best_share": share,
    }


def _by_distance(pecl: pd.DataFrame) -> dict[str, str]:
    """The embedding sizes at which both distances are scored on test (`both_dims`: "d = 128",
    "d = 64, 128" or "no d") and each distance's median test PSNR-Y there, averaged over those d
    (`l1_psnr_y`, `l2_psnr_y`)."""
    scored = pecl.dropna(subset=["psnr_y_median"]) if "psnr_y_median" in pecl else pecl.iloc[:0]
    shared = dims_of_both_distances(scored)
    by_distance = scored[scored["d"].isin(shared)].groupby("distance")["psnr_y_median"].mean()
    return {
        "both_dims": f"d = {', '.join(str(int(d)) for d in shared)}" if shared else "no d",
        **{f"{k}_psnr_y": number(by_distance.get(k), unit=" dB") for k in DISTANCE_NAMES},
    }


def _exact_reads(mse: pd.Series | None, pecl: pd.DataFrame) -> dict[str, str]:
    """The share of test plates OCR reads exactly for MSE (`ocr_exact_mse`) and for the PECL
    variants (`ocr_exact_pecl`: one share when every variant has it, else the lowest to the
    highest)."""
    exact = pecl["ocr_exact"].dropna() if "ocr_exact" in pecl else pd.Series(dtype=float)
    low, high = (number(exact.min(), ".1%"), number(exact.max(), ".1%")) if len(exact) else ("not measured",) * 2
    return {
        "ocr_exact_mse": number(None if mse is None else mse.get("ocr_exact"), ".1%"),
        "ocr_exact_pecl": low if low == high else f"{low} to {high}",
    }


def ablation_claims(frame: pd.DataFrame, per_plate: dict[str, np.ndarray], chapter: str) -> list[dict]:
    """The ablation's claims (chapter 4) from `embedding_sweep`'s rows and each run's per-plate test
    PSNR-Y: PECL above MSE at every d and distance, PSNR-Y rising from the smallest d to the
    largest (each distance), and the Manhattan distance above the Euclidean (per plate, averaged over
    the d both distances are trained at)."""
    pecl = frame[frame["loss"] == "pecl"]
    names = [n for n in pecl.index if n in per_plate and "ours-mse" in per_plate]
    diffs = [paired_difference(per_plate[n], per_plate["ours-mse"]) for n in names]
    if diffs:
        above = sum(d["ci_low"] > 0 for d in diffs)
        below = sum(d["ci_high"] < 0 for d in diffs)
        measured = f"{above} of {len(diffs)} variants above MSE and {below} below it (paired test PSNR-Y, 95% CI)"
    else:
        measured = "not measured"
    rows = [
        claim(
            "PECL beats MSE at every embedding size d and distance (Fig. 8)", measured, interval_verdict(diffs), chapter
        )
    ]
    rising, texts = [], []
    for distance, group in pecl.dropna(subset=["d"]).groupby("distance"):
        ends = group.sort_values("d")
        small, large = ends.index[0], ends.index[-1]
        if small != large and small in per_plate and large in per_plate:
            diff = paired_difference(per_plate[large], per_plate[small])
            rising.append(diff)
            texts.append(
                stated(diff, f"{distance.upper()}, d = {int(ends['d'].iloc[-1])} − d = {int(ends['d'].iloc[0])}")
            )
    rows.append(
        claim(
            "PSNR rises with the embedding size d (Fig. 8)",
            "; ".join(texts) or "not measured",
            interval_verdict(rising),
            chapter,
        )
    )
    scored = pecl[pecl.index.isin(list(per_plate))].dropna(subset=["d"])
    shared = dims_of_both_distances(scored)
    by = {dist: [per_plate[n] for n in g.index if g.loc[n, "d"] in shared] for dist, g in scored.groupby("distance")}
    if shared:
        diff = paired_difference(np.mean(by["l1"], axis=0), np.mean(by["l2"], axis=0))
        at = f"d = {', '.join(str(int(d)) for d in shared)}"
        measured, verdict = (
            stated(diff, f"L1 − L2, test PSNR-Y {'averaged over' if len(shared) > 1 else 'at'} {at}"),
            interval_verdict([diff]),
        )
    else:
        measured, verdict = "not measured (both distances are needed)", NOT_TESTABLE
    rows.append(claim("The Manhattan (L1) distance beats the Euclidean (L2) (Fig. 8)", measured, verdict, chapter))
    return rows
