"""The book's figures: each function takes numbers, plates or run folders and returns a matplotlib
figure `PAGE_WIDTH` wide, drawn at the size it reads on the page. The block diagrams of the network
(the paper's Fig. 2) and of the Siamese loss (Fig. 3) are drawn from the modules themselves: each
box names a module's class and settings, the equation its line of `__init__` cites, its parameters
and the shape it outputs on a forward pass, so the figure cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch
from torch import nn

from lpsr.data.ccpd import parse_ccpd_name
from lpsr.data.fonts import use_cjk_font
from lpsr.data.plates import read_rgb
from lpsr.inference import super_resolve
from lpsr.metrics import psnr_rgb, psnr_y
from lpsr.models import count_parameters
from lpsr.training.runs import read_log

BOX = {"boxstyle": "round,pad=0.02,rounding_size=0.08", "lw": 1.0}


FILL = {"data": "#eef2f7", "module": "#fdf1dc", "loss": "#e3f1e3"}


def describe(module: nn.Module) -> str:
    """A module as the diagram names it: a convolution with its channels, kernel and stride, a
    repeated stack as "n × (its unit)", anything else by its class and docstring's first clause."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        stride = f", stride {module.stride[0]}" if module.stride[0] != 1 else ""
        k = module.kernel_size[0]
        kind = "ConvTranspose2d" if isinstance(module, nn.ConvTranspose2d) else "Conv2d"  # lpsr's Upsample2x is one
        return f"{kind} {module.in_channels}→{module.out_channels}, {k}×{k}{stride}"
    if isinstance(module, (nn.Sequential, nn.ModuleList)) and len(module):
        units = [type(m).__name__ for m in module]
        period = next(
            p for p in range(1, len(units) + 1) if len(units) % p == 0 and units == units[:p] * (len(units) // p)
        )
        unit = describe(module[0]) if period == 1 else "(" + ", ".join(describe(m) for m in list(module)[:period]) + ")"
        return f"{len(units) // period} × {unit}"
    doc = (inspect.getdoc(type(module)) or "").split(":")[0].split(".")[0].split(" (eq")[0]
    return type(module).__name__ + (
        f": {doc[0].lower()}{doc[1:]}" if doc and type(module).__module__.startswith("lpsr") else ""
    )


def cited_equations(owner: nn.Module) -> dict[str, str]:
    """The equation each attribute's line of `type(owner).__init__` cites in its comment
    (`self.head = ...  # eq. 5` → {"head": "eq. 5"})."""
    source = inspect.getsource(type(owner).__init__)
    return {m[1]: m[2].rstrip(":") for m in re.finditer(r"self\.(\w+) = [^\n]*# (eq\. [\d\-–]+:?)", source)}


def _output_shapes(model: nn.Module, size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
    shapes, hooks = {}, []
    for name, child in model.named_children():
        hooks.append(child.register_forward_hook(lambda m, i, o, n=name: shapes.__setitem__(n, tuple(o.shape[1:]))))
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *size))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return shapes


def _box(ax, x: float, y: float, w: float, h: float, lines: list[str], kind: str, fontsize: float = 9.0) -> None:
    """A rounded box with its lower-left corner at (x, y) inches; the first of several lines bold."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, facecolor=FILL[kind], edgecolor="#555555", **BOX))
    step = h / (len(lines) + 1)
    for i, text in enumerate(lines):
        weight = "bold" if i == 0 and len(lines) > 1 else "normal"
        ax.text(x + w / 2, y + h - step * (i + 1), text, ha="center", va="center", fontsize=fontsize, weight=weight)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "-|>", "color": "#333333", "lw": 1.0})
    if text:
        middle = ((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2)
        ax.text(*middle, text, ha="left", va="center", fontsize=8, color="#333333")


def _canvas(height: float):
    fig = plt.figure(figsize=(PAGE_WIDTH, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, PAGE_WIDTH)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def network_diagram(model: nn.Module, lr_size: tuple[int, int] = (8, 8)):
    """The paper's Fig. 2 from `model`: its top-level modules in forward order (as
    `named_children` lists them), top to bottom from the LR patch to the SR patch, each box with
    the module's name and equation, what it is, its parameters, and under it the shape
    (channels × height × width) it passes on for an LR patch of `lr_size`."""
    stages = list(model.named_children())
    shapes, equations = _output_shapes(model, lr_size), cited_equations(model)
    row, box_h, w = 0.86, 0.64, PAGE_WIDTH - 0.8
    height = row * (len(stages) + 2) + 0.1
    fig, ax = _canvas(height)
    x = (PAGE_WIDTH - w) / 2
    y = height - row
    _box(ax, x, y, w, box_h, ["LR patch", f"3 × {lr_size[0]} × {lr_size[1]}"], "data")
    for name, module in stages:
        shape = " × ".join(str(v) for v in shapes[name])
        _arrow(ax, (PAGE_WIDTH / 2, y), (PAGE_WIDTH / 2, y - (row - box_h)))
        y -= row
        title = f"{name}" + (f"  ({equations[name]})" if name in equations else "")
        _box(
            ax,
            x,
            y,
            w,
            box_h,
            [title, describe(module), f"{count_parameters(module):,} parameters · out {shape}"],
            "module",
            8.5,
        )
    _arrow(ax, (PAGE_WIDTH / 2, y), (PAGE_WIDTH / 2, y - (row - box_h)))
    y -= row
    out = shapes[stages[-1][0]]
    _box(
        ax,
        x,
        y,
        w,
        box_h,
        ["SR patch", f"{' × '.join(str(v) for v in out)} ({count_parameters(model):,} parameters in all)"],
        "data",
    )
    return fig


def _pecl_text(loss: nn.Module, patch: int) -> dict[str, str]:
    """The lines of Fig. 3's boxes that describe `loss`: its encoder, embedding, distance, reading and weighting."""
    encoder = loss.encoder
    if encoder is None:
        raise ValueError("pecl_diagram needs a PECL loss with its encoder (this one is MSE alone)")
    trained = any(p.requires_grad for p in encoder.parameters())
    training = encoder.training
    with torch.no_grad():
        d_shape = tuple(encoder.eval()(torch.zeros(1, 3, patch, patch)).shape[1:])
    encoder.train(training)  # as it was: drawing the loss changes nothing in it
    term = {"positive": "D² (pulls SR towards HR)", "paper": f"max(m − D, 0)², m = {loss.margin:g} (eq. 17)"}
    w_pixel, w_contrastive = loss.weights.effective()
    weighting = {
        "fixed": "fixed",
        "paper": "learnable, w_pixel + w_contrastive = 1",
        "uncertainty": "learnable (uncertainty)",
    }
    norm = {"l1": "‖Ṽ_SR − Ṽ_HR‖₁, Manhattan (eq. 18)", "l2": "‖Ṽ_SR − Ṽ_HR‖₂, Euclidean"}[loss.distance]
    state = "trained with the network" if trained else "frozen"
    return {
        "encoder": f"{type(encoder).__name__}, shared weights (eq. 15)",
        "trunk": f"ResNet-18 trunk + linear head to d = {getattr(encoder, 'dim', None)} · {count_parameters(encoder):,} parameters · {state}",
        "embedding": f"{d_shape[0]}-d, unit length (eq. 16)",
        "distance": f"D = {norm}",
        "contrastive": f"L_contrastive = {term[loss.reading]}",
        "weights": f"weights {weighting[loss.weights.weighting]}; w_pixel / w_contrastive {w_pixel:.2f} / {w_contrastive:.2f} at the start",
    }


def pecl_diagram(loss: nn.Module, patch: int = 64):
    """The paper's Fig. 3 from a PECL loss (`lpsr.losses.pecl.PECLLoss` with its encoder): SR and HR
    through one encoder with shared weights (its class, embedding size d, parameters, frozen or
    trained), the distance D between the unit-length embeddings, the contrastive term the loss's
    reading makes of D, the pixel loss, and the weighting of eq. 19 that sums them."""
    text = _pecl_text(loss, patch)
    height, h = 5.1, 0.5
    fig, ax = _canvas(height)
    left, right, full = 0.4, PAGE_WIDTH / 2 + 0.2, PAGE_WIDTH - 0.8
    half = PAGE_WIDTH / 2 - 0.6
    _box(ax, left, 4.35, half, h, ["SR patch", f"3 × {patch} × {patch}, the network's output"], "data")
    _box(ax, right, 4.35, half, h, ["HR patch", f"3 × {patch} × {patch}, the target"], "data")
    _box(ax, left, 3.3, full, 0.6, [text["encoder"], text["trunk"]], "module")
    _box(ax, left, 2.3, half, h, ["Ṽ_SR", text["embedding"]], "data")
    _box(ax, right, 2.3, half, h, ["Ṽ_HR", text["embedding"]], "data")
    _box(ax, left, 1.3, half, h, [text["distance"]], "loss")
    _box(ax, right, 1.3, half, h, ["L_pixel = MSE(SR, HR) (eq. 14)"], "loss")
    _box(ax, left, 0.72, half, 0.36, [text["contrastive"]], "loss", 8.5)
    _box(
        ax,
        left,
        0.04,
        full,
        0.5,
        ["L_PECL = w_pixel · L_pixel + w_contrastive · L_contrastive (eq. 19)", text["weights"]],
        "loss",
        8.5,
    )
    centre_l, centre_r = left + half / 2, right + half / 2
    for x in (centre_l, centre_r):
        _arrow(ax, (x, 4.35), (x, 3.9))
        _arrow(ax, (x, 3.3), (x, 2.8))
    _arrow(ax, (centre_l, 2.3), (centre_l + 0.4, 1.8))
    _arrow(ax, (centre_r, 2.3), (centre_l + 0.9, 1.8))
    _arrow(ax, (centre_l, 1.3), (centre_l, 1.08))
    _arrow(ax, (centre_l, 0.72), (centre_l, 0.54))
    _arrow(ax, (centre_r, 1.3), (centre_r, 0.54))
    edge = PAGE_WIDTH - 0.15  # SR and HR reach the pixel loss directly, round the encoder's side
    ax.plot([right + half, edge, edge], [4.6, 4.6, 1.55], color="#333333", lw=1.0)
    _arrow(ax, (edge, 1.55), (right + half, 1.55))
    ax.text(edge - 0.05, 2.9, "SR, HR", rotation=90, ha="right", va="center", fontsize=8, color="#333333")
    return fig


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
    row per method under its display name (`labels`, else its key),
    one column per plate under its text, each SR plate's PSNR / PSNR-Y against HR under it and the
    pixel size under LR and HR. `width`: inches per plate column (default: the page's width)."""
    shown = {name: (labels or {}).get(name, name) for name in models}
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


def degradation_figure(images: dict[str, np.ndarray], maps: dict[str, dict[str, np.ndarray]]):
    """Paper Fig. 13: each named plate (HR, SR of each model) with its noise, blur and compression
    `maps` (lpsr.study.degradation_maps, by the same names); each map column shares one colour scale."""
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


def ablation_figure(frame: pd.DataFrame, keys=("psnr", "psnr_y"), names: dict | None = None):
    """Paper Fig. 8/9: a score against the embedding size d for each distance (median with its
    95% interval as a band where the score has one, as an error bar where the distance is trained
    at one d), MSE as a horizontal line with its band.
    `frame` is `lpsr.study.chapters.ablation.embedding_sweep`'s table."""
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


def contrast_curves(contrasts: dict[str, tuple[list[int], list[float]]], key: str = "val_psnr", title: str = ""):
    """Paper Fig. 10/11: the contrast of eq. 20 against iterations (log axis), one line per run:
    `contrasts` maps a line's name to its (iterations, contrasts) of validation `key`."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for name, (iterations, contrast) in contrasts.items():
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


LOSS_COLOURS = ("tab:blue", "tab:orange", "tab:green")  # each sweep's losses in its rows' order, MSE first


def _paired_errorbar(ax, x: str, rows: pd.DataFrame, colour, label: str | None = None) -> None:
    """The paired difference to MSE of `rows` (`diff_psnr_y`) against column `x`, with its 95%
    interval (`diff_ci_low`, `diff_ci_high`) as error bars; the rows without one are left out."""
    rows = rows.dropna(subset=["diff_psnr_y"]).sort_values(x) if "diff_psnr_y" in rows else rows.iloc[:0]
    if rows.empty:
        return
    ax.errorbar(
        rows[x],
        rows["diff_psnr_y"],
        yerr=[rows["diff_psnr_y"] - rows["diff_ci_low"], rows["diff_ci_high"] - rows["diff_psnr_y"]],
        marker="o",
        color=colour,
        capsize=4,
        label=label,
    )


def budget_figure(frame: pd.DataFrame):
    """Test PSNR-Y and OCR exact against patches seen (log axis) for each loss, with the 95%
    interval of the PSNR-Y median as a band, and each PECL loss's paired difference to MSE with
    its interval."""
    fig, mosaic = plt.subplot_mosaic("AB;CC", figsize=(PAGE_WIDTH, 6.2))
    axes = [mosaic[k] for k in "ABC"]
    scored = frame.dropna(subset=["psnr_y_median"])
    for (loss, group), colour in zip(scored.groupby("loss", sort=False), LOSS_COLOURS):
        group = group.sort_values("patches")
        axes[0].plot(group["patches"], group["psnr_y_median"], marker="o", color=colour, label=loss)
        axes[0].fill_between(group["patches"], group["psnr_y_ci_low"], group["psnr_y_ci_high"], color=colour, alpha=0.2)
        if "ocr_exact" in group:
            axes[1].plot(group["patches"], group["ocr_exact"], marker="o", color=colour, label=loss)
        if loss != "MSE":
            _paired_errorbar(axes[2], "patches", group, colour, f"{loss} − MSE")
    axes[2].axhline(0, color="black", lw=0.8)
    _mark_diverged(axes, frame)
    titles = (
        "test PSNR-Y (dB), median [95% CI]",
        "test OCR exact (share of plates)",
        "paired difference to MSE, test PSNR-Y (dB)",
    )
    budgets = sorted(frame["patches"].unique())
    for ax, title in zip(axes, titles):
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{p / 1000:,.0f}k" if p >= 1000 else f"{p:,}" for p in budgets])
        ax.minorticks_off()
        ax.set_xlabel("training patches seen")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _mark_diverged(axes, frame: pd.DataFrame) -> None:
    """Hollow markers over the points of runs that diverged before their budget (each holds the
    checkpoint selected before the divergence, not a run of its budget), named in the legend."""
    diverged = frame[frame["diverged"].notna()] if "diverged" in frame else frame.iloc[:0]
    columns = ("psnr_y_median", "ocr_exact", "diff_psnr_y")
    for ax, column in zip(axes, columns):
        if column not in diverged:
            continue
        points = diverged.dropna(subset=[column])
        ax.plot(
            points["patches"],
            points[column],
            "o",
            mfc="white",
            mec="black",
            ms=7,
            zorder=3,
            label="diverged: its checkpoint from before the divergence",
        )


def budget_curves(frame: pd.DataFrame, runs_dir: str | Path):
    """Validation PSNR-Y over training for every finished run of `budget_sweep`, MSE in blues, the
    headline PECL in oranges and the Euclidean variant in greens, darker for longer budgets."""
    runs, colours = {}, {}
    losses = frame["loss"].unique()
    for loss, cmap in zip(losses, (plt.cm.Blues, plt.cm.Oranges, plt.cm.Greens)):
        group = frame[(frame["loss"] == loss) & frame["run"].notna()].sort_values("iterations")
        for shade, row in zip(np.linspace(0.45, 0.95, max(1, len(group))), group.itertuples()):
            name = f"{loss}, {row.iterations:,} it"
            runs[name], colours[name] = Path(runs_dir) / row.run, cmap(shade)
    return training_curves(runs, colours=colours)


def weight_figure(frame: pd.DataFrame):
    """PECL − MSE against the contrastive weight (log axis), one line per distance: the difference
    in best validation PSNR-Y (left) and the paired test difference with its 95% interval (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH, 3.2), sharey=True)
    pecl = frame[frame["loss"] == "PECL"].sort_values("w_contrastive")
    for (distance, group), colour in zip(pecl.groupby("distance"), ("tab:orange", "tab:green")):
        axes[0].plot(group["w_contrastive"], group["val_diff"], marker="o", color=colour, label=distance.upper())
        _paired_errorbar(axes[1], "w_contrastive", group, colour, distance.upper())
    weights = sorted(pecl["w_contrastive"].unique())
    for ax, title in zip(axes, ("best validation PSNR-Y, PECL − MSE (dB)", "paired test PSNR-Y, PECL − MSE (dB)")):
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(weights, [f"{w:g}" for w in weights])
        ax.minorticks_off()
        ax.set_xlabel("contrastive weight w_contrastive")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(title="distance")
    fig.tight_layout()
    return fig


def data_scale_figure(frame: pd.DataFrame):
    """Chapter 10 in the style of chapter 9's budget figure: test PSNR-Y against the train plates
    (log axis) for each loss, the 95% interval of the median as a band (top), and each PECL loss's
    paired difference to MSE at every size with its interval (bottom)."""
    fig, axes = plt.subplots(2, 1, figsize=(PAGE_WIDTH, 6.0), sharex=True)
    scored = frame.dropna(subset=["psnr_y_median", "plates"])
    for (loss, group), colour in zip(scored.groupby("loss", sort=False), LOSS_COLOURS):
        group = group.sort_values("plates")
        axes[0].plot(group["plates"], group["psnr_y_median"], marker="o", color=colour, label=loss)
        axes[0].fill_between(group["plates"], group["psnr_y_ci_low"], group["psnr_y_ci_high"], color=colour, alpha=0.2)
        if loss != "MSE":
            _paired_errorbar(axes[1], "plates", group, colour, f"{loss} − MSE")
    axes[1].axhline(0, color="black", lw=0.8)
    sizes = sorted(scored["plates"].unique())
    for ax, title in zip(axes, ("test PSNR-Y (dB), median [95% CI]", "paired difference to MSE, test PSNR-Y (dB)")):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{int(p):,}" for p in sizes])
        ax.minorticks_off()
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_xlabel("train plates")
    fig.tight_layout()
    return fig


def log_fit_figure(frame: pd.DataFrame, fit: dict, xlabel: str):
    """Each loss's test PSNR-Y medians against the scale the fit was drawn on (`fit["x"]`, log
    axis, labelled `xlabel`) with its fitted line a + b log10(x) carried to `fit["target"]`, the
    95% band of the bootstrap refits around it (lpsr.study.extrapolation.log_linear_fit), and the
    extrapolated range shaded apart from the measured one."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 3.8))
    x = fit["x"]
    scored = frame.dropna(subset=["psnr_y_median", x])
    grid = np.logspace(np.log10(max(1.0, scored[x].min())), np.log10(fit["target"]), 60)
    for (loss, group), colour in zip(scored.groupby("loss", sort=False), LOSS_COLOURS):
        ax.plot(group[x], group["psnr_y_median"], "o", color=colour, label=loss)
        line = fit["fits"].get(loss)
        if line is None:
            continue
        ax.plot(grid, line["intercept"] + line["slope"] * np.log10(grid), color=colour, lw=1.2)
        band = line["boot"][:, 1:2] + line["boot"][:, 0:1] * np.log10(grid)[None, :]
        ax.fill_between(grid, *np.percentile(band, [2.5, 97.5], axis=0), color=colour, alpha=0.15)
    ax.axvspan(scored[x].max(), fit["target"], color="grey", alpha=0.08, label="extrapolated")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test PSNR-Y (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
