"""Whole-plate inference and OCR throughput on this machine.

    .venv/bin/python bench/infer_speed.py --data ../shared/data/ccpd-mini [--threads 2] [--repeats 3]

On the test split's plates (whole plates, x8): plates/s of the LPSR model (untrained weights:
speed does not depend on them) in fp32 eager and with each engine setting (channels_last,
bf16 autocast, both), of bicubic, and of PaddleOCR reading the HR plates (PP-OCRv4, onnxruntime,
batch 1 and 8); and the wall time of a full test-split evaluation with OCR of bicubic.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from lpsr.data import PlateProtocol, data_root, load_plates
from lpsr.evaluate import evaluate
from lpsr.inference import super_resolve
from lpsr.models import build_model
from lpsr.ocr import PlateReader

sys.path.insert(0, str(Path(__file__).parent))
from train_speed import native_bf16  # noqa: E402


def best_rate(function, n: int, repeats: int) -> float:
    function()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CCPD root (default: synthetic)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plates = load_plates(data_root(args.data), "test", PlateProtocol(), progress=False)
    n = len(plates)
    sizes = sorted(h.shape[1] * h.shape[0] for h in plates.hr)
    print(f"{n} test plates, median HR area {sizes[n // 2]} px; threads {args.threads}")
    lpsr = build_model("lpsr", 8).eval()
    lpsr_cl = build_model("lpsr", 8).eval().to(memory_format=torch.channels_last)
    rows = [
        ("LPSR fp32 eager", lambda: super_resolve(lpsr, plates.lr)),
        ("LPSR channels_last", lambda: super_resolve(lpsr_cl, plates.lr, channels_last=True)),
        ("LPSR bf16", lambda: super_resolve(lpsr, plates.lr, bf16=True)),
        ("LPSR channels_last + bf16", lambda: super_resolve(lpsr_cl, plates.lr, bf16=True, channels_last=True)),
        ("bicubic", lambda: super_resolve(build_model("bicubic", 8), plates.lr)),
    ]
    for name, function in rows:
        if "bf16" in name and not native_bf16():
            print(f"{name:<28} {'skipped':>8}  (CPU capability {torch.backends.cpu.get_cpu_capability()}: no native bf16, about 20x slower)")
            continue
        print(f"{name:<28} {best_rate(function, n, args.repeats):>8.1f} plates/s")
    for batch in (1, 8):
        reader = PlateReader(batch_size=batch, threads=args.threads)
        print(f"{f'OCR (batch {batch})':<28} {best_rate(lambda: reader.read(plates.hr), n, args.repeats):>8.1f} plates/s")
    started = time.perf_counter()
    evaluate(build_model("bicubic", 8), plates, reader=PlateReader(batch_size=8, threads=args.threads))
    print(f"{'test-split eval with OCR':<28} {time.perf_counter() - started:>8.1f} s (bicubic, {n} plates)")


if __name__ == "__main__":
    main()
