"""The paper's ablation (sec. 4.2.2, Fig. 8-11): PECL's embedding size d and distance against MSE,
and any other set of named variants of the Table 1 methods (seeds, encoder initialisations).

`embedding_sweep` trains the headline PECL setting (`lpsr.study.methods.PECL_HEADLINE`) for every
(distance, d) the profile trains (`ARMS`), and the same model with MSE alone, on one profile;
each is selected on validation and scored once on the test plates
(`lpsr.study.compare.train_and_score`), so the runs are the very ones Table 1 uses where the
settings coincide (d = 128, L1). It returns one tidy
row per run: the best validation PSNR-Y (which selected its checkpoint), the test median and 95%
interval of PSNR and PSNR-Y, the OCR scores and the run folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lpsr.config import RunConfig
from lpsr.metrics import paired_difference
from lpsr.precision import has_avx512_kernels
from lpsr.study.compare import Scored, read_per_plate, train_and_score
from lpsr.study.figures import ocr_agreement, results_table
from lpsr.study.methods import PECL_HEADLINE, method_config
from lpsr.study.prose import difference, index_in_corner, interval, leaders, missing, names, number
from lpsr.training.runs import diverged_at, run_summary

DIMS = (64, 128, 256, 512)
DISTANCE_NAMES = {"l1": "Manhattan (L1)", "l2": "Euclidean (L2)"}

# The embedding sizes each distance is trained at, by profile. The paper trains both distances at
# every d; at `smoke` and `cpu` the Euclidean distance is trained at d = 128 only, which keeps the
# `cpu` book's build short enough for a 2-core machine (the README gives its time) and still sets
# L1 against L2 at one d (chapters 4 and 5 say so on their pages, `arms_note`).
ARMS = {
    "smoke": {"l1": DIMS, "l2": (128,)},
    "cpu": {"l1": DIMS, "l2": (128,)},
    "paper": {"l1": DIMS, "l2": DIMS},
}
# The seeds of chapter 7's question 4, by profile; at `cpu` two, for the same reason (`seeds_note`).
SEEDS = {"smoke": (0, 1), "cpu": (0, 1), "paper": (0, 1, 2)}

# The readings of PECL's contrastive term and the weightings of eq. 19 that chapter 2 trains, each
# the MSE method with settings on top (a variant for `variant_configs`). Chapter 5 follows the
# learnable weights of the first two PECL variants and chapter 7 scores all of them with OCR: the
# chapters name the same runs from here.
LEARNABLE_VARIANTS = {
    "PECL positive (D², learnable w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=paper"],
    ),
    "PECL paper (max(m−D,0)², learnable w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=paper", "loss.weighting=paper"],
    ),
}
READING_VARIANTS = {
    "MSE": ("ours-mse", []),
    **LEARNABLE_VARIANTS,
    "PECL positive (D², uncertainty w)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=uncertainty"],
    ),
    "PECL positive (D², fixed w_pixel 0.99)": (
        "ours-mse",
        ["loss.name=pecl", "loss.reading=positive", "loss.weighting=fixed", "loss.w_pixel=0.99"],
    ),
}


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
    profile: str = "cpu", data: str | None = None, arms: dict | None = None, overrides: list[str] = ()
) -> dict[str, RunConfig]:
    """`ours-mse` and one `ours-pecl` configuration per (distance, d) of `arms` (distance -> the d
    it is trained at; None: the profile's `ARMS`), named `pecl-l1-d128` etc."""
    variants = {"ours-mse": ("ours-mse", [])}
    variants |= {
        f"pecl-{distance}-d{d}": ("ours-pecl", [f"loss.dim={d}", f"loss.distance={distance}"])
        for distance, dims in (ARMS[profile] if arms is None else arms).items()
        for d in dims
    }
    return variant_configs(profile, data, variants, overrides)


def arms_note(arms: dict, profile: str) -> str:
    """What the sweep leaves out of the paper's d x distance grid, as a sentence for the page ("" if
    nothing): `arms` as `sweep_configs` takes it."""
    short = {k: v for k, v in arms.items() if tuple(sorted(v)) != DIMS}
    if not short:
        return ""
    trained = "; ".join(
        f"{DISTANCE_NAMES[k]} at d = {', '.join(str(d) for d in sorted(v))} only" for k, v in short.items()
    )
    return (
        f"At the `{profile}` profile the grid of d and distance is not complete: {trained}"
        f" (the paper: every distance at d = {', '.join(str(d) for d in DIMS)}). The missing runs would lengthen"
        " the `cpu` book's build (the introduction times it), and the paper's two"
        " distances are still set against each other where both are trained; the `paper` profile trains"
        " the whole grid."
    )


def seeds_note(seeds, profile: str) -> str:
    """Chapter 7's sentence on how many seeds question 4 trains, where that is fewer than the
    `paper` profile's ("" otherwise)."""
    if len(seeds) >= len(SEEDS["paper"]):
        return ""
    return (
        f"At the `{profile}` profile question 4 trains {len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
        f" (the `paper` profile {len(SEEDS['paper'])}): each seed is an MSE run, a PECL run and its own"
        " pretrained encoder, and each more would lengthen the `cpu` book's build (the introduction times it),"
        f" so the spread above is that of {len(seeds)} values, a rough scale rather than an estimate."
    )


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


def worked_step_findings(worked: pd.DataFrame) -> dict[str, str]:
    """Chapter 2's sentences on one batch (Markdown), keyed for myst-nb's glue, from its table of
    `lpsr.losses.pecl.contrastive_step` per reading (rows; columns D, dterm/dD, D after one step):
    D, where one step down the `positive` and the paper's term moves it, and the paper term's slope."""

    def step(reading: str) -> str:
        before, after = (number(worked.loc[reading, key], ".3f") for key in ("D", "D after one step"))
        if after == before:
            return f"leaves it at {after} (a change below 0.001)"
        away = " (**away** from HR)" if float(after) > float(before) else ""
        return f"moves it to {after}{away}"

    return {
        "d": number(worked.loc["positive", "D"], ".3f"),
        "positive_step": step("positive"),
        "paper_slope": number(worked.loc["paper", "dterm/dD"], "+.2f"),
        "paper_step": step("paper"),
    }


def readings_table(summaries: list[dict], dynamics: dict[str, dict], diverged: dict[str, int]) -> pd.DataFrame:
    """Chapter 2's results: `results_table` of the test summaries, then each run's learnt loss
    terms at the end of training (`lpsr.study.figures.loss_dynamics`: the distance and the
    weights, where the run has them) and the iteration it diverged at ('–': it did not)."""
    table = results_table(summaries)
    for name, values in dynamics.items():
        for key in ("distance", "w_pixel", "w_contrastive"):
            if key in values:
                table.loc[name, f"final {key}"] = f"{values[key]:.3f}"
    table["diverged at"] = [diverged.get(name) or "–" for name in table.index]
    return table


def readings_findings(
    tests: dict[str, dict],
    dynamics: dict[str, dict],
    val: dict[str, float],
    configs: dict[str, RunConfig],
    diverged: dict[str, int],
    headline: dict = PECL_HEADLINE["loss"],
) -> dict[str, str]:
    """Chapter 2's closing sentences (Markdown), keyed for myst-nb's glue, from the test summaries of
    bicubic and each variant (by name), each run's last loss terms (`loss_dynamics`), its best
    validation PSNR-Y, its configuration and where a run diverged: D and w_pixel at the end of the
    two learnable-weight runs (`LEARNABLE_VARIANTS`), test PSNR-Y, which PECL variant validation
    picks (ties named together) and whether the headline setting is that variant's."""
    positive, paper = LEARNABLE_VARIANTS

    def psnr_y(name: str) -> str:
        return number(tests.get(name, {}).get("psnr_y_median"), unit=" dB", absent="not measured (not trained)")

    def last(name: str, key: str) -> str:
        return number(dynamics.get(name, {}).get(key), ".3f", absent="not measured (not trained)")

    pecl = {name: val.get(name) for name, config in configs.items() if config.loss.name == "pecl"}
    top = leaders(pecl)
    if not top:
        best, match = "no variant: none finished", "which no PECL variant trained here can be checked against"
    else:
        tied = ", tied" if len(top) > 1 else ""
        mse = number(val.get("MSE"), unit=" dB")
        best = f"{names(top)}{tied} ({number(pecl[top[0]], unit=' dB')}; MSE alone: {mse})"
        same = [n for n in top if all(getattr(configs[n].loss, k) == v for k, v in headline.items())]
        match = (
            "the setting of that variant"
            if same
            else "which is not that variant on this run: the headline was fixed from the `cpu` profile on ccpd-mini"
        )
    broke = " ".join(
        f"*{name}* diverged at iteration {it} (its loss exploded; the run ends there and is scored on the checkpoint validation selected before)."
        for name, it in diverged.items()
    )
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
        "diverged": broke or "No run diverged.",
        "best_pecl": best,
        "headline": ", ".join(f"{k} = {v}" for k, v in headline.items()),
        "headline_match": match,
    }


def ablation_findings(
    frame: pd.DataFrame, per_plate: dict[str, np.ndarray], headline: dict = PECL_HEADLINE["loss"]
) -> dict[str, str]:
    """Chapter 4's sentences (Markdown), keyed for myst-nb's glue, from `embedding_sweep`'s rows and
    each run's per-plate test PSNR-Y: MSE's median and interval, the PECL variant validation picks
    and its paired difference from MSE on test, PSNR-Y by distance, which variants' intervals lie
    wholly above MSE's, and the range of exact OCR reads."""
    mse = frame.loc["ours-mse"] if "ours-mse" in frame.index else None
    pecl = frame[frame["loss"] == "pecl"]
    chosen = pecl.dropna(subset=["val_psnr_y"])
    if mse is None or missing(mse.get("psnr_y_median")):
        mse_text = "not measured (the MSE run did not finish)"
    else:
        mse_text = (
            f"{number(mse['psnr_y_median'])} dB [{number(mse['psnr_y_ci_low'])}, {number(mse['psnr_y_ci_high'])}]"
        )
    best = _best_variant(chosen, per_plate)
    scored = pecl.dropna(subset=["psnr_y_median"]) if "psnr_y_median" in pecl else pecl.iloc[:0]
    shared = dims_of_both_distances(scored)
    by_distance = scored[scored["d"].isin(shared)].groupby("distance")["psnr_y_median"].mean()
    at = f"d = {', '.join(str(int(d)) for d in shared)}"
    if not shared:
        by_distance_text = "The two distances are not both measured at any d, so they are not compared."
    else:
        where = f"Averaged over {at}" if len(shared) > 1 else f"At {at}, the one size both are trained at"
        by_distance_text = (
            f"{where}, PSNR-Y is "
            + ", ".join(f"{number(v, unit=' dB')} for {DISTANCE_NAMES[k]}" for k, v in by_distance.items())
            + "."
        )
    beats = [n for n in pecl.index if mse is not None and pecl.loc[n, "psnr_y_ci_low"] > mse["psnr_y_ci_high"]]
    if mse is None:
        beats_text = "Without an MSE run, no PECL variant's interval can be set against MSE's."
    elif beats:
        beats_text = f"Variants whose interval lies wholly above MSE's: {', '.join(beats)}."
    else:
        beats_text = "No PECL variant's interval lies wholly above MSE's: at this budget the paper's finding (PECL above MSE for every d, rising with d, L1 above L2) is not reproduced."
    exact = pecl["ocr_exact"].dropna() if "ocr_exact" in pecl else pd.Series(dtype=float)
    if mse is None or missing(mse.get("ocr_exact")) or exact.empty:
        ocr = "OCR exact reads were not measured for MSE and the PECL variants."
    else:
        low, high = number(exact.min(), ".1%"), number(exact.max(), ".1%")
        spread = f"{low} of every PECL variant's" if low == high else f"between {low} and {high} of the PECL variants'"
        ocr = f"OCR reads {number(mse['ocr_exact'], '.1%')} of MSE's plates exactly and {spread}."
    return {
        "mse": mse_text,
        "best": best,
        "by_distance": by_distance_text,
        "beats": beats_text,
        "ocr": ocr,
        "headline": ", ".join(f"{k} = {v}" for k, v in headline.items() if k != "name"),
    }


def _best_variant(chosen: pd.DataFrame, per_plate: dict[str, np.ndarray]) -> str:
    """Chapter 4's sentence on the PECL variant validation picks (`chosen`: the PECL rows with a
    validation PSNR-Y) and its paired test difference from MSE."""
    if chosen.empty:
        return "No PECL variant finished, so none is set against MSE."
    name = chosen["val_psnr_y"].idxmax()  # chosen on validation, then compared on test once
    row, level = chosen.loc[name], len(leaders(chosen["val_psnr_y"].to_dict())) - 1
    others = f"; {level} other{'s are' if level > 1 else ' is'} level with it to 0.01 dB" if level else ""
    best = (
        f"The PECL variant with the best validation PSNR-Y ({number(row['val_psnr_y'], unit=' dB')}{others}) is d = {int(row['d'])} "
        f"with {DISTANCE_NAMES[row['distance']]} distance; on test it reaches {number(row.get('psnr_y_median'), unit=' dB')}"
    )
    if name in per_plate and "ours-mse" in per_plate:
        gain = paired_difference(per_plate[name], per_plate["ours-mse"])
        gap = difference(gain["median_diff"], gain["ci_low"], gain["ci_high"])
        if gap.startswith("nil"):
            best += f", and paired over the same plates its difference from MSE is {gap}."
        else:
            best += (
                f", and paired over the same plates it differs from MSE by {gap}, better on {gain['wins']:.0%} of them."
            )
    else:
        best += "; its paired difference from MSE is not measured (a run has no per-plate scores)."
    return best


def beyond_findings(
    readings: dict[str, dict],
    per_plate: dict[str, pd.DataFrame],
    encoders: dict[str, Scored],
    by_seed: pd.DataFrame,
    real: pd.DataFrame | None = None,
    confident: float = 0.9,
    kernels: dict | None = None,
) -> dict[str, str]:
    """Chapter 7's sentences (Markdown), keyed for myst-nb's glue: (1) which reading and weighting
    has the highest test PSNR-Y and the most exact reads (ties named together), from their test
    summaries; (2) how far OCR confidence tells exact reads from wrong ones, from their per-plate
    reads; (3) each encoder's PSNR-Y or why it was not trained; (4) the spread over seeds of PSNR-Y
    and of the paired PECL - MSE difference, from the seed table, and across machines
    (`kernel_difference`; None: not measured here); (5) the exact reads of the real crops as they
    are and after each model (`read_before_and_after`; None: question 5 skipped)."""
    psnr = {name: s.get("psnr_y_median") for name, s in readings.items()}
    exact = {name: s.get("ocr_exact") for name, s in readings.items()}
    top, read = leaders(psnr), leaders(exact, ".1%")
    best_psnr = "none has a test score"
    if top:
        verb = "share" if len(top) > 1 else "has"
        best_psnr = f"{names(top)} {verb} the highest median test PSNR-Y ({number(psnr[top[0]], unit=' dB')})"
    best_exact = "none was read by OCR"
    if read and len(read) == len([v for v in exact.values() if not missing(v)]) and len(read) > 1:
        best_exact = f"all read the same share exactly ({number(exact[read[0]], '.1%')})"
    elif read:
        best_exact = (
            f"{names(read)} {'share ' if len(read) > 1 else ''}the most exact reads ({number(exact[read[0]], '.1%')})"
        )
    everything = pd.concat(per_plate.values()) if per_plate else pd.DataFrame({"ocr_conf": [], "exact": []})
    auroc = pd.Series([ocr_agreement(frame, confident)["auroc"] for frame in per_plate.values()], dtype=float).mean()
    if missing(auroc):
        auroc_text = "Whether PaddleOCR's confidence separates exact reads from wrong ones is not measured: no variant has both exact and wrong reads"
    else:
        auroc_text = f"PaddleOCR's confidence separates exact reads from wrong ones with a mean AUROC of {number(auroc)} over those variants (0.5: chance)"
    wrong = int(((everything["ocr_conf"] >= confident) & (everything["exact"] == 0)).sum())
    sure_wrong = f"{wrong:,} of {len(everything):,} reads were wrong with a confidence of {confident:g} or more"
    if wrong:
        sure_wrong += ", so a high OCRρ does not by itself mean a plate was read"
    return {
        "best_psnr": best_psnr,
        "best_exact": best_exact,
        "auroc": auroc_text,
        "sure_wrong": sure_wrong,
        "encoders": "; ".join(f"{name}: {_encoder(s)}" for name, s in encoders.items()) or "no encoder was trained",
        **_seed_findings(by_seed),
        "kernels": _kernel_findings(kernels),
        "real": _real_findings(real),
    }


def _encoder(scored: Scored) -> str:
    if scored.summary:
        return number(scored.summary.get("psnr_y_median"), unit=" dB")
    if scored.error and "diverged" in scored.error:
        return "diverged (not scored)"
    return "not trained (its weights file is missing)"


def seed_scores(scored: dict, out: str | Path, seeds) -> pd.DataFrame:
    """One row per seed from `train_and_score`'s "MSE seed N" and "PECL seed N" (scored into
    `out`): each loss's median test PSNR-Y, and their paired difference with its 95% interval
    (`diff`, `diff_ci_low`, `diff_ci_high`)."""
    rows = []
    for seed in seeds:
        mse, pecl = f"MSE seed {seed}", f"PECL seed {seed}"
        if scored[mse].summary is None or scored[pecl].summary is None:
            continue
        scores = read_per_plate(out, (pecl, mse))
        diff = paired_difference(scores[pecl]["psnr_y"].to_numpy(), scores[mse]["psnr_y"].to_numpy())
        rows.append(
            {
                "seed": seed,
                "MSE PSNR-Y": scored[mse].summary["psnr_y_median"],
                "PECL PSNR-Y": scored[pecl].summary["psnr_y_median"],
                "diff": diff["median_diff"],
                "diff_ci_low": diff["ci_low"],
                "diff_ci_high": diff["ci_high"],
            }
        )
    return pd.DataFrame(
        rows, columns=["seed", "MSE PSNR-Y", "PECL PSNR-Y", "diff", "diff_ci_low", "diff_ci_high"]
    ).set_index("seed")


def seed_table(seeds: pd.DataFrame) -> pd.DataFrame:
    """`seed_scores` for the page: medians in dB, the paired difference with its interval."""
    table = pd.DataFrame(index=seeds.index)
    table["MSE, test PSNR-Y (dB)"] = seeds["MSE PSNR-Y"].map("{:.2f}".format)
    table["PECL, test PSNR-Y (dB)"] = seeds["PECL PSNR-Y"].map("{:.2f}".format)
    table["PECL − MSE, paired (dB) [95% CI]"] = [
        interval(*v, sign="+") for v in zip(seeds["diff"], seeds["diff_ci_low"], seeds["diff_ci_high"])
    ]
    return index_in_corner(table)


def avx2_variant(seed: int) -> dict:
    """Chapter 7's variant across machines: the PECL headline at `seed` trained with AVX2 kernels,
    as an AVX2-only CPU trains it (`train.cpu_kernels=avx2`: fp32 where `train.bf16` is auto, and a
    plates encoder pretrained with those kernels); empty where torch runs no AVX-512 kernels, since
    it would then train as this machine does."""
    if not has_avx512_kernels():
        return {}
    return {avx2_name(seed): ("ours-pecl", [f"train.seed={seed}", "train.cpu_kernels=avx2"])}


def avx2_name(seed: int) -> str:
    return f"PECL seed {seed}, AVX2 kernels"


def kernel_difference(scored: dict, out: str | Path, seed: int) -> dict | None:
    """The `avx2_variant` against this machine's PECL run at `seed` (both from `train_and_score`,
    scored into `out`): each one's median test PSNR-Y and best validation PSNR-Y, and the paired
    AVX2 - native difference with its 95% interval; None where the variant was not scored."""
    avx2, native = avx2_name(seed), f"PECL seed {seed}"
    if avx2 not in scored or scored[avx2].summary is None or scored[native].summary is None:
        return None
    scores = read_per_plate(out, (avx2, native))
    diff = paired_difference(scores[avx2]["psnr_y"].to_numpy(), scores[native]["psnr_y"].to_numpy())
    both = {"avx2": scored[avx2], "native": scored[native]}
    return {
        "seed": seed,
        **{f"{k} PSNR-Y": s.summary["psnr_y_median"] for k, s in both.items()},
        **{f"{k} val PSNR-Y": run_summary(s.run)["best"]["val_psnr_y"] for k, s in both.items()},
        "diff": diff["median_diff"],
        "diff_ci_low": diff["ci_low"],
        "diff_ci_high": diff["ci_high"],
    }


def _kernel_findings(kernels: dict | None) -> str:
    """Question 4's spread across machines: the AVX2-kernel PECL run against this machine's."""
    if kernels is None and has_avx512_kernels():
        return "The spread across machines is not measured in this build: the PECL run with AVX2 kernels has no test score."
    if kernels is None:
        return (
            f"The spread across machines is not measured in this build: torch runs "
            f"{torch.backends.cpu.get_cpu_capability()} kernels on this CPU, so a run with AVX2 kernels "
            "would train as this machine does (it takes a CPU with AVX-512)."
        )
    return (
        f"Trained with AVX2 kernels, as an AVX2-only CPU trains it (in fp32, with a plates encoder "
        f"pretrained with the same kernels), PECL seed {kernels['seed']} reaches a median test PSNR-Y of "
        f"{number(kernels['avx2 PSNR-Y'], unit=' dB')} against this machine's "
        f"{number(kernels['native PSNR-Y'], unit=' dB')}, a paired difference of "
        f"{difference(kernels['diff'], kernels['diff_ci_low'], kernels['diff_ci_high'])} (best validation "
        f"PSNR-Y {number(kernels['avx2 val PSNR-Y'])} against {number(kernels['native val PSNR-Y'])} dB): "
        "the spread across machines, to read beside the spread over seeds."
    )


def _seed_findings(by_seed: pd.DataFrame) -> dict[str, str]:
    """Question 4 of chapter 7: the seeds, the spread of each loss's median PSNR-Y over them and the
    range of the paired PECL - MSE difference."""
    seeds = ", ".join(str(seed) for seed in by_seed.index)
    if len(by_seed) < 2:
        spread = "is measured at a single seed, so its spread over seeds is not measured"
    else:
        spread = (
            f"varies with a standard deviation of {number(by_seed['MSE PSNR-Y'].std(), unit=' dB')} (MSE) and "
            f"{number(by_seed['PECL PSNR-Y'].std(), unit=' dB')} (PECL)"
        )
    diffs = by_seed["diff"].dropna()
    low, high = number(diffs.min() if len(diffs) else None, "+.2f"), number(diffs.max() if len(diffs) else None, "+.2f")
    if diffs.empty:
        diff = "is not measured"
    elif low == high == "+0.00":
        diff = "is nil at every seed (below 0.01 dB)"
    elif low == high:
        diff = f"is {low} dB at every seed"
    else:
        diff = f"ranges from {low} to {high} dB"
    return {"seeds": seeds or "none", "seed_spread": spread, "seed_diffs": diff}


def _real_findings(real: pd.DataFrame | None) -> str:
    """Question 5 of chapter 7: the share of real crops read exactly as they are and after each model."""
    if real is None:
        return "**5.** Skipped: no folder of real small plates was given."
    if real.empty:
        return "**5.** No real crop could be read from the folder given."
    shares = real.groupby("method", sort=False)["exact"].mean()
    reads = ", ".join(
        f"{number(share, '.1%')} exactly {method if method == 'as is' else 'after ' + method}"
        for method, share in shares.items()
    )
    return (
        f"**5.** On {real['file'].nunique():,} real 94×24 crops PaddleOCR reads {reads}. "
        "The crops are not ×8 downscales, so they lie outside what the models learnt."
    )
