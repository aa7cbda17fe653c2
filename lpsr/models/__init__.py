"""Super-resolution networks: each method is one module, registered here in one line."""
from __future__ import annotations

from torch import nn

from lpsr.models.bicubic import Bicubic
from lpsr.models.esrgan import RRDBNet
from lpsr.models.espcn import ESPCN
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
    """A model by its registered name; `options` are its constructor's keyword arguments."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    return MODELS[name](scale=scale, **options)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
