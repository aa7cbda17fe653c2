"""Training throughput on this machine: the project's engine against a plain fp32 eager reference.

    .venv/bin/python bench/train_speed.py [--batch 32] [--steps 8] [--threads 2]

Prints, for MSE and for PECL (x8, 8x8 -> 64x64 patches, batch 32): samples/s of a plain
fp32 eager reference (the paper's model typed out below, independently of lpsr.models), of
the engine's settings (fp32, channels_last, bf16 autocast, channels_last + bf16), the share of
a step spent waiting for data, the model's FLOPs per sample (torch.utils.flop_counter) and the
fraction of this machine's measured fp32 / bf16 matmul peak each setting reaches.
"""
from __future__ import annotations

import argparse
import math
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lpsr.data import PlateProtocol, data_root, load_plates
from lpsr.encoder import build_encoder
from lpsr.losses import PECLLoss
from lpsr.models import build_model
from lpsr.patches import PlatePatches


class ReferenceRDB(nn.Module):
    def __init__(self, c=64, g=32):
        super().__init__()
        self.c = nn.ModuleList(nn.Conv2d(c + i * g, g, 3, padding=1) for i in range(4))
        self.last = nn.Conv2d(c + 4 * g, c, 3, padding=1)
        self.alpha = nn.Parameter(torch.tensor(0.2))

    def forward(self, x):
        feats = [x]
        for conv in self.c:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + self.alpha * self.last(torch.cat(feats, 1))


class ReferenceLPSR(nn.Module):
    """The paper's network written plainly, as a fp32 eager baseline."""

    def __init__(self, c=64):
        super().__init__()
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*[ReferenceRDB(c) for _ in range(8)])
        self.fc1, self.fc2 = nn.Linear(c, c // 16), nn.Linear(c // 16, c)
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c, 4, 2, 1) for _ in range(3))
        self.tail = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x):
        f = self.body(self.head(x))
        z = torch.sigmoid(self.fc2(torch.relu(self.fc1(f.mean((2, 3))))))
        f = f * z[:, :, None, None]
        for up in self.up:
            f = torch.relu(up(f))
        return self.tail(f)


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 and up); on AVX2, bf16 autocast is emulated."""
    return torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX", "AVX2")


def matmul_peak(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def training_flops(model: nn.Module, loss_fn, batch) -> float:
    lr, hr = batch
    with FlopCounterMode(display=False) as counter:
        loss, _ = loss_fn(model(lr), hr)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / lr.shape[0]


def measure(model, loss_fn, patches, batch_size, steps, channels_last, bf16) -> tuple[float, float]:
    """Median samples/s over `steps` timed steps (after 2 warm-up steps), and the data share."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    rates, shares = [], []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        lr, hr = patches.batch(batch_size, generator)
        if channels_last:
            lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            loss, _ = loss_fn(model(lr).float(), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        t2 = time.perf_counter()
        if step >= 2:
            rates.append(batch_size / (t2 - t0))
            shares.append((t1 - t0) / (t2 - t0))
    return float(np.median(rates)), float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", help="CCPD root for the patches (default: synthetic)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    plates = load_plates(data_root(args.data, 200), "train", PlateProtocol(), progress=False)
    patches = PlatePatches(plates, 64)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"threads {args.threads}, batch {args.batch}; matmul peak fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.1f} GFLOP/s")
    losses = {"MSE": lambda: PECLLoss(None), "PECL": lambda: PECLLoss(build_encoder(128, "random"), "l1", "positive")}
    settings = [
        ("reference fp32 eager", ReferenceLPSR, False, False),
        ("engine fp32", None, False, False),
        ("engine channels_last", None, True, False),
        ("engine bf16", None, False, True),
        ("engine channels_last + bf16", None, True, True),
    ]
    print(f"{'loss':<5} {'setting':<30} {'samples/s':>10} {'x ref':>6} {'data wait':>10} {'GFLOP/sample':>13} {'% of peak':>10}")
    for loss_name, make_loss in losses.items():
        flops = training_flops(build_model("lpsr", 8), make_loss(), patches.batch(4, torch.Generator().manual_seed(0)))
        reference = None
        for name, factory, channels_last, bf16 in settings:
            if bf16 and not native_bf16():
                print(f"{loss_name:<5} {name:<30} {'skipped':>10}  (CPU capability {torch.backends.cpu.get_cpu_capability()}: no native bf16)")
                continue
            model = factory() if factory else build_model("lpsr", 8)
            rate, share = measure(model, make_loss(), patches, args.batch, args.steps, channels_last, bf16)
            reference = reference or rate
            peak = peaks["bf16" if bf16 else "fp32"]
            print(f"{loss_name:<5} {name:<30} {rate:>10.1f} {rate / reference:>6.2f} {share:>9.1%} {flops / 1e9:>13.2f} {rate * flops / peak:>9.1%}")


if __name__ == "__main__":
    main()
