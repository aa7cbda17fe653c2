"""Training throughput on this machine: the project's engine against a plain fp32 eager reference.

    .venv/bin/python bench/train_speed.py [--batch 32] [--steps 8] [--threads N] [--rounds 3] [--two-processes] [--json PATH]
    .venv/bin/python bench/train_speed.py --device cuda --batch 128 --profile paper [--cudnn-benchmark]

Prints, for MSE and for PECL (x8, 8x8 -> 64x64 patches, batch 32): samples/s of a plain
fp32 eager reference (the paper's model typed out below, independently of lpsr.models), of
the engine's settings (fp32, channels_last, bf16 autocast, channels_last + bf16, and
channels_last at the engine's precision under torch.compile), the share of a step spent
waiting for data, the model's FLOPs per sample (torch.utils.flop_counter) and the fraction of
this machine's measured fp32 / bf16 matmul peak each setting reaches; then the engine's default
(what `--profile` resolves to on `--device`, lpsr.precision) against the reference. On a CPU,
`--ops` adds where the default's step spends its time per op against fp32 (bench/op_profile.py);
it is added by itself where a native-bf16 default falls short of 2x the reference.

On a GPU (`--device cuda`) every setting runs as the engine trains there, on cuDNN's
deterministic kernels without autotuning (lpsr.seeding.deterministic_cuda); `--cudnn-benchmark`
lets cuDNN autotune instead, which measures what determinism costs.

A compile row is measured twice, each time with Inductor's caches emptied: into a fresh cache
folder ("cold", what the first run on a machine pays) and again from that folder ("warm", what
later runs with the same model and batch shape pay). `compile s` is the first step's time less a
steady step; `payback it` is the iterations after which the compiled setting has caught up with
the same setting eager, compile time included (cold / warm). bf16 rows run only where the CPU
computes bf16 natively. On a shared machine give `--rounds 3`: the settings are measured in turn,
three times, and each keeps its fastest round (and the peaks theirs). `--json PATH` also writes
every row, the peaks and the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from op_profile import LOSSES, TARGET, next_batch, print_ops, profile_ops, train_step  # bench/, beside this script
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lpsr.data.patches import PlatePatches
from lpsr.data.plates import PlateProtocol, data_root, load_plates
from lpsr.models import build_model
from lpsr.precision import BF16_CPU_FLAGS, CompiledOrEager, cpu_flags, native_bf16
from lpsr.seeding import deterministic_cuda
from lpsr.training.sharing import usable_cores

LOSS_ROWS = {name.upper(): make for name, make in LOSSES.items()}  # MSE, PECL


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


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a GPU runs asynchronously: a clock read waits for it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, repeats: int = 5) -> float:
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        t = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def training_flops(model: nn.Module, loss_fn, batch) -> float:
    lr, hr = batch
    with FlopCounterMode(display=False) as counter:
        loss, _ = loss_fn(model(lr), hr)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / lr.shape[0]


def measure(model, loss_fn, patches, batch_size, steps, channels_last, bf16, device, compile_=False) -> dict:
    """Median samples/s over `steps` timed steps (after 2 warm-up steps), the data share (the
    batch made and copied to `device`), and the first step's time beyond a steady one (for a
    compiled model: the compile time)."""
    model, loss_fn = model.to(device), loss_fn.to(device)
    if channels_last:  # as the engine: the loss's encoder too
        model, loss_fn = model.to(memory_format=torch.channels_last), loss_fn.to(memory_format=torch.channels_last)
    forward = CompiledOrEager(model) if compile_ else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    times, shares = [], []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        lr, hr = next_batch(patches, batch_size, generator, channels_last, device)
        synchronize(device)
        t1 = time.perf_counter()
        train_step(forward, loss_fn, optimizer, lr, hr, bf16, device)
        synchronize(device)
        t2 = time.perf_counter()
        times.append(t2 - t0)
        if step >= 2:
            shares.append((t1 - t0) / (t2 - t0))
    step_s = float(np.median(times[2:]))
    failure = forward.failure if compile_ else None
    return {
        "samples_per_s": batch_size / step_s,
        "step_s": step_s,
        "data_share": float(np.mean(shares)),
        "first_step_extra_s": times[0] - step_s,
        "compile_failed": failure,
    }


def measure_compiled(
    make_model, make_loss, patches, batch_size, steps, channels_last, bf16, device, folder: str, kinds=("cold", "warm")
) -> dict:
    """A compiled setting measured with Inductor's cache in `folder`, each time in a fresh compile
    state: "cold" (`folder` empty) and "warm" (the cache a cold run filled); the steady rate is
    the last run's."""
    from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

    runs = {}
    for kind in kinds:
        torch._dynamo.reset()
        with temporary_cache_dir(folder):
            torch.manual_seed(0)
            runs[kind] = measure(
                make_model(), make_loss(), patches, batch_size, steps, channels_last, bf16, device, compile_=True
            )
    torch._dynamo.reset()
    return runs[kinds[-1]] | {
        "compile_s": {kind: run["first_step_extra_s"] for kind, run in runs.items()},
        "compile_failed": runs[kinds[0]]["compile_failed"],
    }


def payback_iterations(compiled: dict, eager: dict) -> dict:
    """Iterations after which compiling has repaid its compile time (None: the compiled steps are not faster)."""
    saved = eager["step_s"] - compiled["step_s"]
    return {
        kind: (math.ceil(seconds / saved) if saved > 0 else None) for kind, seconds in compiled["compile_s"].items()
    }


def engine_default(profile: str, device: torch.device) -> dict:
    """The engine's settings under `profile` as `device` resolves them."""
    from lpsr.config import load_config

    config = load_config(profile)
    return config.resolved_precision(device) | {"channels_last": config.train.channels_last, "profile": profile}


def setting_name(channels_last: bool, bf16: bool, compile_: bool) -> str:
    parts = [p for p, on in (("channels_last", channels_last), ("bf16", bf16), ("compile", compile_)) if on]
    return "engine " + (" + ".join(parts) if parts else "fp32")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=usable_cores(), help="default: the cores this process may use")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="on a GPU, let cuDNN autotune (not deterministic) instead of the engine's deterministic kernels",
    )
    parser.add_argument("--data", help="CCPD root for the patches (default: synthetic)")
    parser.add_argument(
        "--profile", default="cpu", help="the profile whose resolved settings are the engine's default (default: cpu)"
    )
    parser.add_argument(
        "--no-compile", action="store_true", help="leave out the compile rows (each compiles the model twice)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every setting this many times, interleaved, and keep the fastest"
    )
    parser.add_argument(
        "--two-processes",
        action="store_true",
        help="also time two trainings at once against one alone (bench/share_speed.py), about 2.5 min",
    )
    parser.add_argument(
        "--ops",
        action="store_true",
        help="also profile the default per op against fp32 (bench/op_profile.py); on by itself on a CPU "
        "with native bf16 where the default falls short of 2x the fp32 reference",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    return parser.parse_args()


def machine_record(args, device: torch.device, native: bool, why: str) -> dict:
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cudnn_benchmark": bool(device.type == "cuda" and torch.backends.cudnn.benchmark),
        "cpu": cpu_name(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_bf16_flags": sorted(set(BF16_CPU_FLAGS) & cpu_flags()),
        "native_bf16": native,
        "why": why,
        "torch": torch.__version__,
        "threads": args.threads,
        "batch": args.batch,
        "steps": args.steps,
        "rounds": args.rounds,
    }


def bench_settings(default: dict, compile_: bool) -> list[tuple]:
    """(name, model factory or None for lpsr, channels_last, bf16, compile) of every row: the fp32
    reference, the engine's four eager settings and, with `compile_`, one compiled at the engine's precision."""
    settings = [
        ("reference fp32 eager", ReferenceLPSR, False, False, False)
    ]  # (name, model, channels_last, bf16, compile)
    settings += [
        (setting_name(cl, bf16, False), None, cl, bf16, False) for bf16 in (False, True) for cl in (False, True)
    ]
    if compile_:  # at the engine's precision: each compile row compiles twice
        settings.append((setting_name(True, default["bf16"], True), None, True, default["bf16"], True))
    return settings


def measure_rounds(settings, patches, args, device, native: bool, peaks: dict, dtypes: dict) -> tuple[dict, dict]:
    """The fastest of `args.rounds` interleaved rounds of each (loss, setting), and the peaks' best."""
    best: dict[tuple[str, str], dict] = {}  # the fastest round of each (loss, setting): load only ever slows a step
    folders: dict[tuple[str, str], str] = {}
    for round_ in range(args.rounds):  # rounds interleave the settings, so a burst of load hits one round of each
        if round_:
            peaks = {k: max(peaks[k], matmul_peak(dtype, device)) for k, dtype in dtypes.items()}
        for loss_name, make_loss in LOSS_ROWS.items():
            for name, factory, channels_last, bf16, compile_ in settings:
                if bf16 and not native:
                    continue
                make_model = factory or (lambda: build_model("lpsr", 8))
                if compile_:
                    folder = folders.setdefault((loss_name, name), tempfile.mkdtemp(prefix="lpsr-bench-inductor-"))
                    result = measure_compiled(
                        make_model,
                        make_loss,
                        patches,
                        args.batch,
                        args.steps,
                        channels_last,
                        bf16,
                        device,
                        folder,
                        ("cold", "warm") if round_ == 0 else ("warm",),
                    )
                else:
                    result = measure(
                        make_model(), make_loss(), patches, args.batch, args.steps, channels_last, bf16, device
                    )
                key = (loss_name, name)
                if key in best:
                    result["compile_s"] = best[key].get("compile_s")  # the first round's cold and warm compiles
                    result["compile_failed"] = best[key].get("compile_failed")
                if key not in best or result["samples_per_s"] > best[key]["samples_per_s"]:
                    best[key] = result
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    return best, peaks


def result_rows(settings, patches, best: dict, peaks: dict, native: bool, why: str, default_name: str) -> list[dict]:
    """Each row's figures against the reference (speed-up, data wait, FLOPs, share of peak), printed."""
    rows = []
    print(
        f"{'loss':<5} {'setting':<38} {'samples/s':>10} {'x ref':>6} {'data wait':>10} {'GFLOP/sample':>13} {'% of peak':>10} {'compile s':>12} {'payback it':>12}"
    )
    for loss_name, make_loss in LOSS_ROWS.items():
        flops = training_flops(build_model("lpsr", 8), make_loss(), patches.batch(4, torch.Generator().manual_seed(0)))
        reference = best[(loss_name, settings[0][0])]["samples_per_s"]
        for name, factory, channels_last, bf16, compile_ in settings:
            row = {
                "loss": loss_name,
                "setting": name,
                "channels_last": channels_last,
                "bf16": bf16,
                "compile": compile_,
                "engine_default": name == default_name,
            }
            if bf16 and not native:
                print(f"{loss_name:<5} {name:<38} {'skipped':>10}  ({why})")
                rows.append(row | {"skipped": why})
                continue
            result = dict(best[(loss_name, name)])
            if compile_:
                result["payback_iterations"] = payback_iterations(
                    result, best[(loss_name, setting_name(channels_last, bf16, False))]
                )
            rate = result["samples_per_s"]
            peak = peaks["bf16" if bf16 else "fp32"]
            row |= result | {
                "x_reference": rate / reference,
                "gflop_per_sample": flops / 1e9,
                "share_of_peak": rate * flops / peak,
            }
            rows.append(row)
            compiled = ""
            if compile_:
                c, p = result["compile_s"], result["payback_iterations"]
                compiled = f"{c['cold']:>5.1f} / {c['warm']:<4.1f} {p['cold'] or 'never':>5} / {p['warm'] or 'never'}"
                if result["compile_failed"]:
                    compiled += f"  (compile failed, eager: {result['compile_failed']})"
            mark = " *" if row["engine_default"] else ""
            print(
                f"{loss_name:<5} {name + mark:<38} {rate:>10.1f} {rate / reference:>6.2f} {row['data_share']:>9.1%} {flops / 1e9:>13.2f} {row['share_of_peak']:>9.1%} {compiled}"
            )
    print(f"* the engine's default here ({default_name})")
    return rows


def ops_reports(rows: list[dict], default: dict, args, device: torch.device) -> list[dict] | None:
    """On a CPU, the per-op profile of each loss (bench/op_profile.py), printed: with `--ops`, or
    where the default's bf16 falls short of `TARGET` x the reference; else None."""
    short = [
        r["loss"]
        for r in rows
        if r["engine_default"] and "x_reference" in r and r["bf16"] and r["x_reference"] < TARGET
    ]
    if device.type != "cpu" or not (args.ops or short):
        return None
    if short:
        print(f"the default is under {TARGET:g}x the fp32 reference for {', '.join(short)}: where its time goes")
    reports = [profile_ops(loss.lower(), default["bf16"], args.batch, 5, args.data) for loss in LOSS_ROWS]
    for report in reports:
        print_ops(report)
    return reports


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda":
        deterministic_cuda()  # as the engine trains there
        if args.cudnn_benchmark:
            torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    plates = load_plates(data_root(args.data, 200), "train", PlateProtocol(), progress=False)
    patches = PlatePatches(plates, 64)
    default = engine_default(args.profile, device)
    native, why = native_bf16(device)
    # the bf16 peak only where bf16 is native: emulated, one 2048² product takes minutes (and no bf16 row runs)
    dtypes = {"fp32": torch.float32} | ({"bf16": torch.bfloat16} if native else {})
    peaks = {k: matmul_peak(dtype, device) for k, dtype in dtypes.items()}
    machine = machine_record(args, device, native, why)
    print(f"{machine['gpu'] or machine['cpu']}; {why}")
    print(
        f"{device}, threads {args.threads}, batch {args.batch}; matmul peak fp32 {peaks['fp32'] / 1e9:.1f} GFLOP/s, bf16 "
        + (f"{peaks['bf16'] / 1e9:.1f} GFLOP/s" if native else "not measured (emulated)")
    )
    print(
        f"engine default ({args.profile} profile here): channels_last {default['channels_last']}, bf16 {default['bf16']} ({default['bf16_reason']}), compile {default['compile']} ({default['compile_reason']})"
    )
    settings = bench_settings(default, not args.no_compile)
    default_name = setting_name(default["channels_last"], default["bf16"], default["compile"])
    best, peaks = measure_rounds(settings, patches, args, device, native, peaks, dtypes)
    rows = result_rows(settings, patches, best, peaks, native, why, default_name)
    ops = ops_reports(rows, default, args, device)
    shared = None
    if args.two_processes:
        from share_speed import print_rows, two_process_rows  # bench/, beside this script

        shared = two_process_rows(batch=args.batch)
        print_rows(shared)
    if args.json:
        report = {
            "machine": machine,
            "peaks_flop_per_s": peaks,
            "engine_default": default | {"setting": default_name},
            "rows": rows,
            "two_processes": shared,
            "ops": ops,
        }
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
