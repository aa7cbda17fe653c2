"""Super-resolution networks: each method is one module, registered here in one line."""

from __future__ import annotations

import inspect

from torch import nn

from lpsr.models.bicubic import Bicubic
from lpsr.models.espcn import ESPCN
from lpsr.models.esrgan import RRDBNet
from lpsr.models.lpsr import LPSR
from lpsr.models.msrn import MSRN
from lpsr.models.srcnn import SRCNN
from lpsr.models.swinir import SwinIR
from lpsr.models.tbsrn import TBSRN

MODELS: dict[str, type[nn.Module]] = {
    "bicubic": Bicubic,
    "lpsr": LPSR,
    "srcnn": SRCNN,
    "espcn": ESPCN,
    "msrn": MSRN,
    "rrdbnet": RRDBNet,
    "tbsrn": TBSRN,
    "swinir": SwinIR,
}


def build_model(name: str, scale: int = 8, **options) -> nn.Module:
    """A model by its registered name; `options` are its constructor's keyword arguments (a
    ValueError names those it does not take)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    check_options(name, options)
    return MODELS[name](scale=scale, **options)


def check_options(name: str, options: dict) -> None:
    """A ValueError unless `options` are keyword arguments of the registered model `name`'s
    constructor (the `model.options` setting)."""
    accepted = [p for p in inspect.signature(MODELS[name]).parameters if p != "scale"]
    if not set(options) <= set(accepted):
        raise ValueError(
            f"model.options must be keyword arguments of {name} ({', '.join(accepted) or 'none'}), got {options!r}"
        )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameters_by_block(model: nn.Module) -> dict[str, int]:
    """Parameters of each top-level part of `model`, a repeated stack (nn.Sequential or
    nn.ModuleList) listed block by block as `name.i`; the values sum to count_parameters."""
    counts = {}
    for name, child in model.named_children():
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and any(count_parameters(c) for c in child):
            counts |= {f"{name}.{i}": count_parameters(c) for i, c in enumerate(child) if count_parameters(c)}
        else:
            counts[name] = count_parameters(child)
    counts |= {name: p.numel() for name, p in model.named_parameters(recurse=False)}
    return counts


def count_flops(model: nn.Module, lr_size: tuple[int, int] = (8, 8), backward: bool = False) -> float:
    """FLOPs (multiply-adds count 2) of one forward pass on one 3-channel LR input of `lr_size`, or
    of a forward and backward pass (a training step on an MSE-like loss), by torch's flop counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 3, *lr_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.set_grad_enabled(backward):
        out = model(x)
        if backward and out.requires_grad:
            out.square().mean().backward()
    return float(counter.get_total_flops())
