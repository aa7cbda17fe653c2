"""Whole-plate super-resolution: a model applied to LR plates of any size.

The models are fully convolutional, so a plate goes through whole (no patch aggregation).
Plates of equal LR size are batched together; outputs are clamped to [0, 1] and rounded
to uint8.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from lpsr.precision import resolve_bf16


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def inference_bf16(bf16: bool | str, device: str | torch.device) -> bool:
    """bf16 autocast on or off for a setting (true, false or "auto": where `device` computes bf16 natively)."""
    return resolve_bf16(bf16, device)[0]


@torch.no_grad()
def super_resolve(
    model: nn.Module,
    lr_images: list[np.ndarray],
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    bf16: bool | str = False,
    channels_last: bool = False,
) -> list[np.ndarray]:
    """SR images (HxWx3 uint8) for LR images (hxwx3 uint8); `bf16` true, false or "auto"."""
    device = torch.device(device)
    bf16 = inference_bf16(bf16, device)
    was_training = model.training
    model.eval()
    groups = defaultdict(list)
    for index, image in enumerate(lr_images):
        groups[image.shape].append(index)
    outputs: list[np.ndarray | None] = [None] * len(lr_images)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            x = torch.from_numpy(np.stack([lr_images[i] for i in chunk])).permute(0, 3, 1, 2)
            x = x.to(device).float().div_(255).contiguous(memory_format=memory_format)
            with autocast(device, bf16):
                y = model(x)
            y = y.float().clamp_(0, 1).mul_(255).round_().byte().permute(0, 2, 3, 1).cpu().numpy()
            for i, image in zip(chunk, y):
                outputs[i] = image
    model.train(was_training)
    return outputs
