"""Two trainings on one machine: each one's throughput beside the other against one alone.

    .venv/bin/python bench/share_speed.py [--seconds 20] [--batch 32] [--json PATH]

Runs the engine's default setting (MSE, x8, channels_last at the precision this CPU resolves,
batch 32) in separate processes that start timing together and count samples/s over the same
window: one process alone, then two at once with train.threads=0 (each takes its share of the
usable cores and follows it, lpsr.training.sharing), then two at once each fixed at every usable
core (what a fixed thread count does). `bench/train_speed.py --two-processes` adds these rows to
its report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKER = """
import sys, time, torch
from lpsr.config import load_config
from lpsr.data.patches import PlatePatches
from lpsr.data.plates import PlateProtocol, data_root, load_plates
from lpsr.inference import autocast
from lpsr.losses.pecl import PECLLoss
from lpsr.models import build_model
from lpsr.training.sharing import MachineShare
threads, start_at, seconds, batch = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
bf16 = load_config("cpu").resolved_precision(torch.device("cpu"))["bf16"]
patches = PlatePatches(load_plates(data_root(None, 200), "train", PlateProtocol(), progress=False), 64)
torch.manual_seed(0)
model = build_model("lpsr", 8).to(memory_format=torch.channels_last)
loss_fn, generator = PECLLoss(None), torch.Generator().manual_seed(0)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
def step():
    lr, hr = patches.batch(batch, generator)
    with autocast(torch.device("cpu"), bf16):
        loss, _ = loss_fn(model(lr.contiguous(memory_format=torch.channels_last)).float(), hr)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
with MachineShare(threads) as share:
    torch.set_num_threads(share.threads())
    step(); step()
    time.sleep(max(0.0, start_at - time.time()))
    started, steps, used = time.perf_counter(), 0, set()
    while time.perf_counter() - started < seconds:
        if steps % 10 == 0:  # as the training loop follows its share
            torch.set_num_threads(share.threads())
        used.add(torch.get_num_threads())
        step()
        steps += 1
    print(batch * steps / (time.perf_counter() - started), sorted(used))
"""


def run_together(processes: int, threads: int, seconds: float, batch: int, registry: Path) -> list[dict]:
    """`processes` workers timed over one window; each one's samples/s and the threads it used."""
    start_at = time.time() + 20  # time to import torch and build the patches, on a loaded machine too
    env = {"LPSR_TRAININGS": str(registry)}
    command = [sys.executable, "-c", WORKER, str(threads), str(start_at), str(seconds), str(batch)]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ | env) for _ in range(processes)
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode:
            raise RuntimeError(f"a bench worker failed (exit {worker.returncode})")
        rate, used = out.strip().split(" ", 1)
        results.append({"samples_per_s": float(rate), "threads_used": json.loads(used)})
    return results


def two_process_rows(seconds: float = 20, batch: int = 32) -> list[dict]:
    """One training alone, two with train.threads=0, two fixed at every usable core: a row each
    (the slower of a pair, and its share of the alone rate)."""
    import tempfile

    from lpsr.training.sharing import usable_cores

    cores = usable_cores()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lpsr-bench-share-") as registry:
        (alone,) = run_together(1, 0, seconds, batch, Path(registry))
        rows.append({"setting": "one training alone", "processes": 1, **alone, "share_of_alone": 1.0})
        for name, threads in (
            ("two trainings, train.threads=0 (share)", 0),
            (f"two trainings, {cores} threads each", cores),
        ):
            pair = run_together(2, threads, seconds, batch, Path(registry))
            slower = min(pair, key=lambda r: r["samples_per_s"])
            rows.append(
                {
                    "setting": name,
                    "processes": 2,
                    **slower,
                    "rates": [r["samples_per_s"] for r in pair],
                    "share_of_alone": slower["samples_per_s"] / alone["samples_per_s"],
                }
            )
    return rows


def print_rows(rows: list[dict]) -> None:
    print(f"{'two processes on one machine':<42} {'samples/s':>10} {'of alone':>9} {'threads':>8}")
    for row in rows:
        print(
            f"{row['setting']:<42} {row['samples_per_s']:>10.1f} {row['share_of_alone']:>8.0%} {','.join(map(str, row['threads_used'])):>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="the timed window of each measurement")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args()
    from lpsr.training.sharing import usable_cores

    print(f"usable cores: {usable_cores()}")
    rows = two_process_rows(args.seconds, args.batch)
    print_rows(rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"usable_cores": usable_cores(), "rows": rows}, indent=2), encoding="utf-8"
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
