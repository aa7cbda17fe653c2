"""Where a training step's time goes, per op: the engine's default setting against the same model in fp32 eager.

    .venv/bin/python bench/op_profile.py [--loss mse|pecl] [--batch 32] [--steps 5] [--top 12] [--json PATH]

Profiles (torch.profiler, self CPU time) `--steps` training steps of the LPSR model (x8, 8x8 ->
64x64 patches) at the engine's default setting on this CPU (channels_last at the precision the
cpu profile resolves) and in fp32 eager (the engine fp32 row of `bench/train_speed.py`, the
reference's speed), groups the time by op and input shapes, and
prints the ops that take the most time at the default, each beside its fp32 time and speed-up
(an op only the default runs, such as an autocast cast, has no fp32 time). Last, the op that
holds the default furthest from a 2x speed-up over fp32: the one whose time most exceeds half
its fp32 time. `bench/train_speed.py --ops` adds this table to its report, and does so by itself
where the default falls short of 2x the fp32 eager reference on a CPU with native bf16.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from lpsr.data.patches import PlatePatches
from lpsr.data.plates import PlateProtocol, data_root, load_plates
from lpsr.losses.encoder import build_encoder
from lpsr.losses.pecl import PECLLoss
from lpsr.models import build_model
from lpsr.training.sharing import usable_cores

TARGET = 2.0  # the speed-up over fp32 the engine's bf16 aims at (issue: >= 2x the fp32 reference)
LOSSES = {"mse": lambda: PECLLoss(None), "pecl": lambda: PECLLoss(build_encoder(128, "random"), "l1", "positive")}


def next_batch(patches, batch_size: int, generator, channels_last: bool, device: torch.device):
    """A training batch (LR, HR) on `device`, channels-last when asked."""
    lr, hr = (x.to(device) for x in patches.batch(batch_size, generator))
    if channels_last:
        lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
    return lr, hr


def train_step(forward, loss_fn, optimizer, lr, hr, bf16: bool, device: torch.device) -> None:
    """One step as the engine takes it: the forward under bf16 autocast when asked, the loss in fp32."""
    with torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext():
        loss, _ = loss_fn(forward(lr).float(), hr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def op_times(
    make_loss, patches, batch_size: int, steps: int, channels_last: bool, bf16: bool, device: torch.device
) -> dict:
    """Self CPU seconds per step of each (op, input shapes) over `steps` profiled steps, and the
    median seconds of `steps` steps timed without the profiler (after 2 warm-up steps)."""
    torch.manual_seed(0)
    model, loss_fn = build_model("lpsr", 8).to(device), make_loss().to(device)
    if channels_last:  # as the engine: the loss's encoder too
        model, loss_fn = model.to(memory_format=torch.channels_last), loss_fn.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    timed = []
    for _ in range(2 + steps):
        lr, hr = next_batch(patches, batch_size, generator, channels_last, device)
        start = time.perf_counter()
        train_step(model, loss_fn, optimizer, lr, hr, bf16, device)
        timed.append(time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            lr, hr = next_batch(patches, batch_size, generator, channels_last, device)
            train_step(model, loss_fn, optimizer, lr, hr, bf16, device)
    ops = {
        (e.key, str(e.input_shapes)): e.self_cpu_time_total / 1e6 / steps
        for e in prof.key_averages(group_by_input_shape=True)
        if e.self_cpu_time_total > 0
    }
    return ops, statistics.median(timed[2:])


def op_rows(default: dict, fp32: dict) -> list[dict]:
    """One row per op of the default, most time first: its and fp32's ms per step, the speed-up,
    its share of the default's step, and its time above half its fp32 time (what keeps it from 2x)."""
    total = sum(default.values())
    rows = []
    for (op, shapes), seconds in default.items():
        reference = fp32.get((op, shapes), 0.0)
        rows.append(
            {
                "op": op,
                "shapes": shapes,
                "ms": seconds * 1e3,
                "fp32_ms": reference * 1e3 if reference else None,
                "speedup": reference / seconds if reference else None,
                "share": seconds / total,
                "excess_ms": (seconds - reference / TARGET) * 1e3,
            }
        )
    return sorted(rows, key=lambda row: -row["ms"])


def profile_ops(loss: str, bf16: bool, batch: int = 32, steps: int = 5, data: str | None = None) -> dict:
    """The per-op rows of `loss` at the default (bf16 or not) against fp32, the step totals and
    the op that holds the default back the most."""
    device = torch.device("cpu")
    patches = PlatePatches(load_plates(data_root(data, 200), "train", PlateProtocol(), progress=False), 64)
    default, default_s = op_times(LOSSES[loss], patches, batch, steps, True, bf16, device)
    fp32, fp32_s = op_times(LOSSES[loss], patches, batch, steps, False, False, device)
    rows = op_rows(default, fp32)
    return {
        "loss": loss,
        "bf16": bf16,
        "default_step_ms": default_s * 1e3,  # timed without the profiler
        "fp32_step_ms": fp32_s * 1e3,
        "default_ms": sum(default.values()) * 1e3,  # profiled: the profiler's overhead included
        "fp32_ms": sum(fp32.values()) * 1e3,
        "rows": rows,
        "holds_back": max(rows, key=lambda row: row["excess_ms"]),
    }


def _shapes(shapes: str, width: int = 44) -> str:
    return shapes if len(shapes) <= width else shapes[: width - 1] + "…"


def print_ops(report: dict, top: int = 12) -> None:
    setting = "channels_last + bf16" if report["bf16"] else "channels_last fp32"
    speedup = report["fp32_step_ms"] / report["default_step_ms"]
    print(
        f"{report['loss'].upper()} step, timed: default ({setting}) {report['default_step_ms']:.1f} ms, fp32 eager "
        f"{report['fp32_step_ms']:.1f} ms ({speedup:.2f}x); per op, self CPU time per profiled step "
        f"(the profiler's overhead included: {report['default_ms']:.1f} and {report['fp32_ms']:.1f} ms in all)"
    )
    print(f"  {'op':<30} {'input shapes':<44} {'ms':>7} {'fp32 ms':>8} {'x fp32':>7} {'share':>6}")
    for row in report["rows"][:top]:
        fp32 = f"{row['fp32_ms']:>8.2f} {row['speedup']:>7.2f}" if row["fp32_ms"] else f"{'–':>8} {'–':>7}"
        print(f"  {row['op'][:30]:<30} {_shapes(row['shapes']):<44} {row['ms']:>7.2f} {fp32} {row['share']:>6.1%}")
    held = report["holds_back"]
    print(
        f"  holds it back the most: {held['op']} {_shapes(held['shapes'], 80)}, {held['ms']:.2f} ms per step, "
        f"{held['excess_ms']:.2f} ms above half its fp32 time"
    )


def main() -> None:
    from train_speed import engine_default  # bench/, beside this script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", choices=sorted(LOSSES), default="mse")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--data", help="CCPD root for the patches (default: synthetic)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args()
    torch.set_num_threads(usable_cores())
    report = profile_ops(
        args.loss, engine_default("cpu", torch.device("cpu"))["bf16"], args.batch, args.steps, args.data
    )
    print_ops(report, args.top)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
