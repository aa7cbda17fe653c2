"""Tables and figures for the book's chapters, from evaluation summaries and run logs."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.font_manager import FontProperties

from lpsr.data.ccpd import parse_ccpd_name
from lpsr.data.fonts import use_cjk_font
from lpsr.data.plates import read_rgb
from lpsr.inference import super_resolve
from lpsr.metrics import contrast, psnr_rgb, psnr_y
from lpsr.study.degradation_maps import degradation_maps
from lpsr.study.methods import METHODS
from lpsr.study.prose import index_in_corner, interval_decimals, missing, names, number
from lpsr.training.runs import read_log


def results_table(summaries: list[dict]) -> pd.DataFrame:
    """One row per method: the median ± std over the plates (as the paper's Table 1), then the 95%
    interval of the median, and the OCR scores."""
    rows = []
    for s in summaries:
        row = {"method": s["method"], "plates": s["n"]}
        for key, label in (("psnr", "PSNR (dB)"), ("psnr_y", "PSNR-Y (dB)"), ("ssim", "SSIM (Y)")):
            if f"{key}_median" not in s:  # the HR reference row has no image scores
                row[label] = "–"
                continue
            median, std, low, high = (s[f"{key}_{end}"] for end in ("median", "std", "ci_low", "ci_high"))
            spec = f".{interval_decimals(low, high)}f"  # what the interval supports
            row[label] = f"{number(median, spec)} ± {number(std, spec)} [{number(low, spec)}, {number(high, spec)}]"
        for key, label in (("ocr_conf_median", "OCRρ"), ("ocr_exact", "OCR exact"), ("ocr_char_acc", "OCR char acc")):
            if key in s:
                row[label] = f"{s[key]:.3f}"
        rows.append(row)
    return index_in_corner(pd.DataFrame(rows).set_index("method"))


def parameter_table(parameters: dict[str, int]) -> pd.DataFrame:
    """A model's parameters by block (`lpsr.models.parameters_by_block`): the count, with
    thousands separators, and the share of the whole."""
    counts = pd.Series(parameters, dtype="int64")
    shares = (counts / counts.sum()).map("{:.1%}".format)
    return pd.DataFrame({"parameters": counts.map("{:,}".format), "share": shares})


PAGE_WIDTH = 7.5  # inches: the book's text column (772 px), where a figure's points read at their size


def _plate_bands(n_plates: int, widest: float, gap: float, width: float | None) -> tuple[list[list[int]], float]:
    """The plates of each band of a plate grid and the inches of one plate column: as many plates
    side by side as fit `PAGE_WIDTH` with `widest` inches of text under each, the same number in
    every band (or all of them in one band, `width` inches each, when `width` is given)."""
    if width is None:
        per_band = max(1, min(n_plates, int((PAGE_WIDTH + gap) // (widest + gap))))
        per_band = -(-n_plates // -(-n_plates // per_band))  # ceil(n / bands): bands as even as can be
        width = (PAGE_WIDTH - gap * (per_band - 1)) / per_band
    else:
        per_band = n_plates
    return [list(range(b, min(b + per_band, n_plates))) for b in range(0, n_plates, per_band)], width


def plate_grid(
    images: dict[str, list[np.ndarray]],
    row_titles: list[str] | None = None,
    width: float | None = None,
    captions: dict[str, list[str]] | None = None,
    fontsize: float = 9.0,
):
    """A grid of plates: one row per named image list (e.g. LR, Bicubic, SR, HR) under its name, one
    column per plate under its title (`row_titles[i]`, e.g. the plate's text), and an optional
    caption under each image of a row (`captions[name][i]`).

    The figure is `PAGE_WIDTH` wide, so `fontsize` reads at its size on the page; plates whose
    captions do not fit side by side wrap into further bands of rows. `width` instead sets the
    inches of one plate column (every plate in one band). LR images are shown at the HR size with
    nearest-neighbour pixels, so blocks are visible."""
    use_cjk_font()
    names, captions = list(images), captions or {}
    fig = plt.figure(dpi=max(plt.rcParams["figure.dpi"], 150))
    renderer, font = fig.canvas.get_renderer(), FontProperties(size=fontsize)
    texts = [t for name in captions for t in captions[name]] + list(row_titles or [])
    widest = max([renderer.get_text_width_height_descent(t, font, ismath=False)[0] / fig.dpi for t in texts] + [0.8])
    gap, line = 0.15, 1.5 * fontsize / 72  # inches between plate columns; one line of text
    bands, width = _plate_bands(len(images[names[0]]), widest, gap, width)
    fig_width = len(bands[0]) * width + gap * (len(bands[0]) - 1)

    # lay the bands out from the top, in inches: (what, plates, top of its line or image, image height)
    placed, y = [], 0.0
    for band in bands:
        image_height = width * max(images[n][i].shape[0] / images[n][i].shape[1] for n in names for i in band)
        if row_titles:
            placed.append((None, band, y, 0.0))
            y += line
        for name in names:
            placed.append((name, band, y + line, image_height))
            y += line + image_height + (line if name in captions else 0) + 0.3 * line
        y += 0.5 * line
    height = y - 0.8 * line
    fig.set_size_inches(fig_width, height)

    def text(column: int | None, top: float, words: str) -> None:
        x, ha = (0.0, "left") if column is None else ((column * (width + gap) + width / 2) / fig_width, "center")
        fig.text(x, 1 - (top + line / 2) / height, words, ha=ha, va="center", fontsize=fontsize)

    for name, band, top, image_height in placed:
        if name is None:
            for c, i in enumerate(band):
                text(c, top, row_titles[i])
            continue
        text(None, top - line, name)
        for c, i in enumerate(band):
            box = (c * (width + gap) / fig_width, 1 - (top + image_height) / height, width / fig_width)
            ax = fig.add_axes((*box, image_height / height))
            blocky = images[name][i].shape[1] * 2 <= width * fig.dpi  # shown at twice its pixels or more
            ax.imshow(images[name][i], interpolation="nearest" if blocky else "antialiased")
            ax.set_axis_off()
            if name in captions:
                text(c, top + image_height, captions[name][i])
    return fig


def training_curves(
    run_dirs: dict[str, str | Path],
    baseline: float | None = None,
    log_x: bool = True,
    key: str = "val_psnr_y",
    colours: dict[str, str] | None = None,
):
    """Validation PSNR-Y (or `key="val_psnr"`) against iterations for each named run (paper
    Fig. 6 style); `baseline` is bicubic's median on the same validation plates; `colours` a
    colour per run name (default: matplotlib's cycle)."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 3.6))
    for name, run_dir in run_dirs.items():
        _, vals = read_log(run_dir)
        colour = (colours or {}).get(name)
        ax.plot([v["iteration"] for v in vals], [v[key] for v in vals], marker="o", ms=3, label=name, color=colour)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", label="bicubic (val)")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"median val {'PSNR-Y' if key == 'val_psnr_y' else 'PSNR'} (dB)")
    ax.grid(alpha=0.3)
    if len(ax.get_lines()) > 4:  # many runs: the legend beside the axes, where it hides no curve
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        ax.legend()
    fig.tight_layout()
    return fig


def loss_dynamics(run_dir: str | Path, last: int = 50) -> dict:
    """Mean of each logged loss term over the last `last` iterations of a run."""
    steps, _ = read_log(run_dir)
    tail = steps[-last:]
    keys = [k for k in ("mse", "contrastive", "distance", "w_pixel", "w_contrastive") if k in tail[0]]
    return {k: float(np.mean([s[k] for s in tail])) for k in keys}


def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over `window` values (fewer at the start): one value per input, unscaled
    however short the series."""
    values = np.asarray(values, dtype=float)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(values) + 1) - counts]) / counts


def loss_curves(run_dirs: dict[str, str | Path], keys=("distance", "w_pixel", "mse"), smooth: int = 25):
    """Logged loss terms against iterations (trailing mean over `smooth` iterations), one colour
    per run in every panel and one legend for the figure."""
    fig, axes = plt.subplots(len(keys), 1, figsize=(PAGE_WIDTH, 2.1 * len(keys) + 0.4), squeeze=False, sharex=True)
    colours = dict(zip(run_dirs, plt.rcParams["axes.prop_cycle"].by_key()["color"] * len(run_dirs)))
    for ax, key in zip(axes[:, 0], keys):
        for name, run_dir in run_dirs.items():
            steps, _ = read_log(run_dir)
            if key not in steps[0]:
                continue
            ax.plot(
                [s["iteration"] for s in steps], moving_average([s[key] for s in steps], smooth), color=colours[name]
            )
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if key == "mse":
            ax.set_yscale("log")
    axes[-1, 0].set_xlabel("iteration")
    handles = [plt.Line2D([], [], color=colours[name]) for name in run_dirs]
    rows = (len(run_dirs) + 2) // 3
    fig.legend(handles, list(run_dirs), loc="lower center", ncol=min(len(run_dirs), 3), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.22 * rows / fig.get_figheight(), 1, 1))
    return fig


def method_grid(models: dict, plates, indices: list[int], width: float | None = None, labels: dict | None = None):
    """LR, each named model's SR and HR for the plates at `indices` (paper Fig. 7 and 12 style): one
    row per method under its display name (`labels`, else the method's Table 1 label, else its key),
    one column per plate under its text, each SR plate's PSNR / PSNR-Y against HR under it and the
    pixel size under LR and HR. `width`: inches per plate column (default: the page's width)."""
    shown = {name: (labels or {}).get(name, METHODS[name].label if name in METHODS else name) for name in models}
    lr = [plates.lr[i] for i in indices]
    hr = [plates.hr[i] for i in indices]
    columns, captions = {"LR": lr}, {"LR": [f"{x.shape[1]}×{x.shape[0]} px" for x in lr]}
    for name, model in models.items():
        columns[shown[name]] = super_resolve(model, lr)
        captions[shown[name]] = [
            f"PSNR / PSNR-Y: {psnr_rgb(s, h):.1f} / {psnr_y(s, h):.1f} dB" for s, h in zip(columns[shown[name]], hr)
        ]
    columns["HR"], captions["HR"] = hr, [f"{x.shape[1]}×{x.shape[0]} px" for x in hr]
    return plate_grid(columns, row_titles=[plates.texts[i] for i in indices], width=width, captions=captions)


def degradation_figure(images: dict[str, np.ndarray]):
    """Paper Fig. 13: each named plate (HR, SR of each model) with its noise, blur and compression
    maps (lpsr.study.degradation_maps); each map column shares one colour scale."""
    maps = {name: degradation_maps(image) for name, image in images.items()}
    kinds = ("noise", "blur", "compression")
    limits = {
        k: (np.nanmin([m[k] for m in maps.values()]), np.nanpercentile([m[k] for m in maps.values()], 99))
        for k in kinds
    }
    aspect = max(image.shape[0] / image.shape[1] for image in images.values())
    column = PAGE_WIDTH / 4  # inches: the plate and its three maps side by side across the page
    fig, axes = plt.subplots(
        len(images), 4, figsize=(PAGE_WIDTH, (column * aspect + 0.3) * len(images) + 0.9), squeeze=False
    )
    for r, (name, image) in enumerate(images.items()):
        axes[r, 0].imshow(image)
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c, kind in enumerate(kinds, start=1):
            shown = axes[r, c].imshow(maps[name][kind], cmap="magma", vmin=limits[kind][0], vmax=limits[kind][1])
            if r == 0:
                axes[r, c].set_title(DEGRADATION_LABELS[kind], fontsize=8)
            if r == len(images) - 1:
                fig.colorbar(shown, ax=axes[:, c], orientation="horizontal", fraction=0.05, pad=0.08)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("plate", fontsize=9)
    return fig


DEGRADATION_LABELS = {  # the measures of lpsr.study.degradation_maps, as figures and tables name them
    "noise": "noise σ (Y levels)",
    "blur": "blur (0 sharp, 1 blurred)",
    "compression": "block-edge ratio (1: none)",
}


def plate_degradations(images: dict[str, list[np.ndarray]]) -> dict[str, pd.DataFrame]:
    """Each plate's mean noise, blur and compression (one row per plate, in order), per name."""
    return {
        name: pd.DataFrame([{k: float(np.nanmean(v)) for k, v in degradation_maps(p).items()} for p in plates])
        for name, plates in images.items()
    }


def degradation_table(per_plate: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Median over plates (`plate_degradations`) of each plate's mean noise, blur and compression
    (one row per name)."""
    return pd.DataFrame({name: frame[["noise", "blur", "compression"]].median() for name, frame in per_plate.items()}).T


def ablation_figure(frame: pd.DataFrame, keys=("psnr", "psnr_y"), names: dict | None = None):
    """Paper Fig. 8/9: a score against the embedding size d for each distance (median with its
    95% interval as a band where the score has one, as an error bar where the distance is trained
    at one d), MSE as a horizontal line with its band.
    `frame` is `lpsr.study.ablation.embedding_sweep`'s table."""
    labels = {
        "psnr": "PSNR (dB)",
        "psnr_y": "PSNR-Y (dB)",
        "ocr_conf": "OCRρ (median confidence)",
        "ocr_exact": "OCR exact match",
    }
    fig, axes = plt.subplots(1, len(keys), figsize=(PAGE_WIDTH, 3.2), squeeze=False)
    pecl, mse = frame[frame["loss"] == "pecl"], frame[frame["loss"] == "mse"]
    for ax, key in zip(axes[0], keys):
        column = f"{key}_median" if f"{key}_median" in frame else key
        for distance, group in pecl.groupby("distance"):
            group = group.sort_values("d")
            ax.plot(group["d"], group[column], marker="o", label=f"PECL {(names or {}).get(distance, distance)}")
            if f"{key}_ci_low" in group and len(group) > 1:
                ax.fill_between(group["d"], group[f"{key}_ci_low"], group[f"{key}_ci_high"], alpha=0.2)
            elif f"{key}_ci_low" in group:  # a distance trained at one d: its interval as an error bar
                low, high = group[f"{key}_ci_low"].iloc[0], group[f"{key}_ci_high"].iloc[0]
                centre = group[column].iloc[0]
                ax.errorbar(
                    group["d"],
                    [centre],
                    yerr=[[centre - low], [high - centre]],
                    color=ax.lines[-1].get_color(),
                    capsize=3,
                )
        if len(mse):
            ax.axhline(mse[column].iloc[0], color="black", ls="--", label="MSE")
            if f"{key}_ci_low" in mse:
                ax.axhspan(mse[f"{key}_ci_low"].iloc[0], mse[f"{key}_ci_high"].iloc[0], color="grey", alpha=0.15)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(pecl["d"].unique()), [str(int(d)) for d in sorted(pecl["d"].unique())])
        ax.set_xlabel("embedding size d")
        ax.set_ylabel(labels.get(key, key))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


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


def contrast_curves(runs: dict[str, str | Path], baseline_dir: str | Path, key: str = "val_psnr", title: str = ""):
    """Paper Fig. 10/11: the contrast of eq. 20 against iterations (log axis), one line per run."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for name, run_dir in runs.items():
        iterations, contrast = psnr_contrast(run_dir, baseline_dir, key)
        ax.plot(iterations, contrast, marker="o", ms=3, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"contrast of val {'PSNR-Y' if key == 'val_psnr_y' else 'PSNR'} vs MSE (eq. 20)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def ocr_agreement(per_plate: pd.DataFrame, confident: float = 0.9) -> dict:
    """How far PaddleOCR's confidence tells an exact read from a wrong one, over per-plate rows
    (`ocr_conf`, `exact`): the shares of confident-but-wrong and unsure-but-right reads, and the
    AUROC of the confidence as a predictor of an exact read (0.5: no better than chance)."""
    conf, exact = per_plate["ocr_conf"].to_numpy(float), per_plate["exact"].to_numpy(bool)
    right, wrong = conf[exact], conf[~exact]
    auroc = (
        float(((right[:, None] > wrong[None]) + 0.5 * (right[:, None] == wrong[None])).mean())
        if len(right) and len(wrong)
        else float("nan")
    )
    return {
        "plates": len(conf),
        "exact": float(exact.mean()),
        "mean_conf": float(conf.mean()),
        f"conf>={confident}_but_wrong": float(((conf >= confident) & ~exact).mean()),
        f"conf<{confident}_but_exact": float(((conf < confident) & exact).mean()),
        "auroc": auroc,
    }


def ocr_agreement_table(per_plate: dict[str, pd.DataFrame], confident: float = 0.9) -> pd.DataFrame:
    """`ocr_agreement` of each named per-plate table, for the page: readable headers, the median
    confidence (OCRρ, as Table 1), shares to three decimals."""
    rows = {}
    for name, frame in per_plate.items():
        found = ocr_agreement(frame, confident)
        rows[name] = {
            "plates": f"{found['plates']:,}",
            "read exactly": f"{found['exact']:.3f}",
            "OCRρ (median confidence)": f"{frame['ocr_conf'].median():.3f}",
            f"confidence ≥ {confident} but wrong": f"{found[f'conf>={confident}_but_wrong']:.3f}",
            f"confidence < {confident} but exact": f"{found[f'conf<{confident}_but_exact']:.3f}",
            "AUROC (confidence → exact)": number(found["auroc"], ".3f", absent="– (no wrong or no exact read)"),
        }
    return index_in_corner(pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant"))


def confident_misreads(per_plate: dict[str, pd.DataFrame], confident: float = 0.9, n: int = 8):
    """The `n` most confident misreads among the named per-plate tables (a pandas Styler): the
    variant, the plate's text, what PaddleOCR read, its confidence (at least `confident`), the
    share of characters read right."""
    wrong = [
        frame[(frame["ocr_conf"] >= confident) & (frame["exact"] == 0)].assign(variant=name)
        for name, frame in per_plate.items()
    ]
    rows = pd.concat(wrong) if wrong else pd.DataFrame(columns=["variant", "plate", "ocr_text", "ocr_conf", "char_acc"])
    rows = rows.sort_values("ocr_conf", ascending=False, kind="stable").head(n)
    table = pd.DataFrame(
        {
            "variant": rows["variant"],
            "plate": rows["plate"],
            "read": rows["ocr_text"],
            "confidence": rows["ocr_conf"].map("{:.3f}".format),
            "characters right": rows["char_acc"].map("{:.0%}".format),
        }
    )
    return table.style.hide(axis="index")


def ocr_reliability_figure(per_plate: dict[str, pd.DataFrame], edges=(0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)):
    """The share of exact reads in each band of OCR confidence, one line per named per-plate table;
    a well-calibrated reader would follow the diagonal."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    edges = np.asarray(edges)
    for name, frame in per_plate.items():
        band = np.clip(np.digitize(frame["ocr_conf"], edges[1:-1]), 0, len(edges) - 2)
        centres, shares = [], []
        for b in range(len(edges) - 1):
            chosen = frame["exact"].to_numpy()[band == b]
            if len(chosen):
                centres.append(frame["ocr_conf"].to_numpy()[band == b].mean())
                shares.append(chosen.mean())
        ax.plot(centres, shares, marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", label="calibrated")
    ax.set_xlabel("OCR confidence (mean within its band)")
    ax.set_ylabel("share read exactly")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def seed_figure(seeds: pd.DataFrame, kernels: dict | None = None):
    """`ablation.seed_scores` as points: each loss's median test PSNR-Y at each seed, and the PECL
    run trained with AVX2 kernels (`ablation.kernel_difference`) as a hollow square at its seed."""
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    for loss, marker in (("MSE", "o"), ("PECL", "s")):
        ax.plot(seeds.index, seeds[f"{loss} PSNR-Y"], marker=marker, ls="", ms=7, label=loss)
    if kernels is not None:
        avx2 = dict(marker="s", ls="", ms=9, mfc="none", mew=1.5, color="C1", label="PECL, AVX2 kernels")
        ax.plot([kernels["seed"]], [kernels["avx2 PSNR-Y"]], **avx2)
    ax.set_xticks(seeds.index)
    ax.set_xlabel("seed")
    ax.set_ylabel("median test PSNR-Y (dB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def real_plates_figure(table: pd.DataFrame):
    """`real_plates.real_plate_table` as bars: the share read exactly and of characters read right,
    per method."""
    ax = table[["read exactly", "characters right"]].plot.bar(figsize=(5.6, 3.2), rot=0)
    ax.set_ylabel("share of plates / characters")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)  # below: the bars reach 1
    ax.figure.tight_layout()
    return ax.figure


def quality_speed_figure(performance: pd.DataFrame):
    """Median test PSNR-Y against inference throughput, one labelled point per method
    (`compare.performance`)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for method, row in performance.iterrows():
        speed, psnr = row["infer plates/s (this machine)"], row["test PSNR-Y (dB)"]
        ax.scatter(speed, psnr)
        ax.annotate(method, (speed, psnr), fontsize=8, xytext=(4, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("whole test plates per second (CPU)")
    ax.set_ylabel("median test PSNR-Y (dB)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def speed_figure(performance: pd.DataFrame):
    """Training and inference throughput per method as bars on log axes (`compare.performance`)."""
    speeds = performance[["train samples/s (this machine)", "infer plates/s (this machine)"]].astype(float)
    axes = speeds.dropna(how="all").plot.barh(
        subplots=True, layout=(1, 2), figsize=(10, 3.4), legend=False, logx=True, sharey=True
    )
    for ax, title in zip(axes.ravel(), ("training samples/s (64×64 patches)", "inference whole plates/s")):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    return axes.ravel()[0].figure


def data_summary(splits: dict) -> pd.DataFrame:
    """One row per split (name -> PlateSet): frames, plates cut, what ingestion skipped and why, the
    median HR plate size, the share of green (8-character) plates and the commonest provinces."""
    rows = {}
    for name, plates in splits.items():
        summary, sizes = plates.summary, plates.sizes()
        provinces = pd.Series([t[0] for t in plates.texts]).value_counts()
        rows[name] = {
            "frames": summary["frames"],
            "plates": summary["plates"],
            "skipped": _skipped(summary),
            "median HR size (w×h)": f"{int(np.median(sizes[:, 0]))}×{int(np.median(sizes[:, 1]))}"
            if len(sizes)
            else "–",
            "green (8 chars)": f"{np.mean([len(t) == 8 for t in plates.texts]):.1%}" if len(plates) else "–",
            "provinces": len(provinces),
            "commonest": ", ".join(f"{p} {n}" for p, n in provinces.head(3).items()),
        }
    return pd.DataFrame(rows).T


def _skipped(summary: dict) -> str:
    """What ingestion skipped, with why: "0", or "3 (outside the frame 2, too small 1)"."""
    reasons = {
        "missing": "missing",
        "skipped_bad_name": "bad name",
        "skipped_bad_image": "unreadable",
        "skipped_outside": "outside the frame",
        "skipped_too_small": "too small",
    }
    counts = {label: summary.get(key, 0) for key, label in reasons.items() if summary.get(key, 0)}
    total = sum(counts.values())
    return f"{total:,} ({', '.join(f'{label} {n:,}' for label, n in counts.items())})" if total else "0"


def plate_size_figure(splits: dict):
    """Histograms of HR plate width and height per split, normalised so that splits of different
    sizes compare (the LR plate is 8x smaller)."""
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 2.8))
    sizes = {name: plates.sizes() for name, plates in splits.items()}
    for ax, column, label in zip(axes, (0, 1), ("width", "height")):
        bins = np.histogram_bin_edges(np.concatenate([s[:, column] for s in sizes.values()]), bins=20)
        for name, s in sizes.items():
            ax.hist(s[:, column], bins=bins, density=True, histtype="step", lw=1.5, label=f"{name} ({len(s)})")
        ax.set_xlabel(f"HR plate {label} (px)")
    axes[0].set_ylabel("share of plates (density)")
    axes[0].legend()
    fig.tight_layout()
    return fig


def frame_figure(root: str | Path, plates, indices: list[int]):
    """Paper Fig. 4: CCPD frames with the plate's four annotated vertices, beside the rectified plate."""
    use_cjk_font()
    fig, axes = plt.subplots(
        len(indices), 2, figsize=(PAGE_WIDTH, 2.2 * len(indices)), squeeze=False, gridspec_kw={"width_ratios": [1.4, 1]}
    )
    for row, i in zip(axes, indices):
        frame = read_rgb(Path(root) / plates.files[i])
        vertices = parse_ccpd_name(plates.files[i]).vertices
        corners = np.array(vertices + vertices[:1])  # closed outline
        row[0].imshow(frame)
        row[0].plot(corners[:, 0], corners[:, 1], color="yellow", lw=1.5)
        row[0].set_title(Path(plates.files[i]).name[:48] + "…", fontsize=7)
        row[1].imshow(plates.hr[i])
        row[1].set_title(f"{plates.texts[i]}  ({plates.hr[i].shape[1]}×{plates.hr[i].shape[0]} px)", fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def patch_figure(patches, count: int = 6, seed: int = 0):
    """Paper Fig. 5: random training pairs, the 64x64 HR patch above its 8x8 LR patch."""
    lr, hr = patches.batch(count, torch.Generator().manual_seed(seed))
    side = min(1.6, PAGE_WIDTH / count)  # inches per patch
    fig, axes = plt.subplots(2, count, figsize=(side * count, 2 * side + 0.3), squeeze=False)
    for c in range(count):
        for r, (batch, label) in enumerate(((hr, "HR 64×64"), (lr, "LR 8×8"))):
            axes[r, c].imshow(batch[c].permute(1, 2, 0).numpy(), interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if c == 0:
                axes[r, c].set_ylabel(label, fontsize=9)
    fig.tight_layout()
    return fig


def pipeline_findings(bicubic: dict, sr: dict, hr: dict) -> dict[str, str]:
    """Chapter 1's sentences (Markdown), keyed for myst-nb's glue, from the test summaries of bicubic,
    the model trained with MSE and the HR plates: the plates, PSNR-Y of both and the difference
    between them, PSNR on RGB, and what PaddleOCR reads of each."""
    ours, base = (np.nan if missing(s.get("psnr_y_median")) else s["psnr_y_median"] for s in (sr, bicubic))
    gain = ours - base
    if missing(gain):
        psnr_y = "not measured (no test plate was scored)"
    else:
        step = number(gain, "+.2f")
        gap = "a difference below 0.01 dB" if step == "+0.00" else f"a difference of {step} dB"
        psnr_y = f"{number(sr['psnr_y_median'])} dB against {number(bicubic['psnr_y_median'])} dB for bicubic interpolation, {gap}"
    if any("ocr_exact" not in s for s in (sr, bicubic, hr)):
        ocr = "PaddleOCR did not read these plates"
    else:
        exact = [number(s["ocr_exact"], ".1%") for s in (sr, bicubic, hr)]
        conf = [number(s.get("ocr_conf_median"), ".3f") for s in (sr, bicubic, hr)]
        ocr = (
            f"PaddleOCR (PP-OCRv4) reads {exact[0]} of the SR plates exactly (median confidence, the paper's OCRρ, "
            f"{conf[0]}) against {exact[1]} ({conf[1]}) for bicubic and {exact[2]} ({conf[2]}) for the HR plates"
        )
    return {
        "plates": f"{sr.get('n', 0):,}",
        "psnr_y": psnr_y,
        "psnr": f"{number(sr.get('psnr_median'))} vs {number(bicubic.get('psnr_median'))} dB",
        "ocr": ocr,
    }


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


def degradation_findings(table: pd.DataFrame, mse: str = "MSE", pecl: str | None = "PECL (Man)") -> dict[str, str]:
    """Chapter 6's sentences (Markdown), keyed for myst-nb's glue, from `degradation_table` (rows HR,
    bicubic and the models): the median blur, noise and block-edge ratio of each, whether PECL's
    output is less blurred than MSE's, and whether every model's output is smoother than HR.
    `pecl` None: the page shows no PECL model (chapter 6 on the released model alone)."""

    def value(row: str, key: str, spec: str) -> str:
        return number(table[key].get(row, np.nan), spec)

    shown = [name for name in (mse, pecl) if name is not None]
    blur_mse, blur_pecl = value(mse, "blur", ".3f"), value(pecl, "blur", ".3f") if pecl else ""
    if pecl is None:
        sharper = "not compared with MSE's: this page shows no PECL model (no finished run in its run folder)"
    elif "not measured" in (blur_pecl, blur_mse):
        sharper = "not compared with MSE's: the blur of one of them is not measured"
    elif float(blur_pecl) < float(blur_mse):
        sharper = "less blurred than MSE's by this measure (the paper: PECL restores sharper edges)"
    elif float(blur_pecl) > float(blur_mse):
        sharper = "more blurred than MSE's by this measure, the opposite of the paper"
    else:
        sharper = (
            "as blurred as MSE's by this measure (to three decimals): neither sharper, as the paper finds, nor blurrier"
        )
    models = [row for row in table.index if row not in ("HR", "bicubic") and not missing(table.loc[row, "blur"])]
    sharp = [row for row in models if not table.loc[row, "blur"] > table["blur"].get("HR", np.nan)]
    if missing(table["blur"].get("HR", np.nan)) or not models:
        smoother = "Whether the SR outputs are smoother than HR is not measured here."
    elif not sharp:
        smoother = "Every SR output is smoother than HR, whatever the loss, as the paper also notes."
    else:
        smoother = f"Not every SR output is smoother than HR by this measure: {names(sharp)} {'is' if len(sharp) == 1 else 'are'} not, against the paper's note that they all are."

    def each(key: str, spec: str, form: str) -> str:
        return names([form.format(value=value(name, key, spec), name=name) for name in shown], style="")

    return {
        "blur": f"{value('HR', 'blur', '.3f')} for HR, {value('bicubic', 'blur', '.3f')} for bicubic, "
        + each("blur", ".3f", "{value} for {name}"),
        "sharper": sharper,
        "noise": f"{value('HR', 'noise', '.2f')} grey levels for HR against "
        + each("noise", ".2f", "{value} ({name})"),
        "compression": f"{value('bicubic', 'compression', '.3f')} for bicubic, "
        + each("compression", ".3f", "{value} for {name}"),
        "smoother": smoother,
    }
