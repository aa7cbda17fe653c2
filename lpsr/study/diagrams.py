"""Block diagrams of the network (the paper's Fig. 2) and of the Siamese loss (Fig. 3), drawn from
the modules themselves: each box names a module's class and settings, the equation its line of
`__init__` cites, its parameters and the shape it outputs on a forward pass, so the figure cannot
drift from the code."""

from __future__ import annotations

import inspect
import re

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyBboxPatch
from torch import nn

from lpsr.models import count_parameters
from lpsr.study.figures import PAGE_WIDTH

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
