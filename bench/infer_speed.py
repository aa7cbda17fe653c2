"""Whole-plate inference and OCR throughput on this machine.

    .venv/bin/python bench/infer_speed.py --data ../shared/data/ccpd-mini [--threads N] [--repeats 3] [--json PATH]

On the test split's plates (whole plates, x8): plates/s of the LPSR model (untrained weights:
speed does not depend on them) in fp32 eager and with each engine setting (channels_last,
bf16 autocast, both, and channels_last with and without bf16 under torch.compile, whose compile
time, the first pass over the plates less a steady one, is given apart), of the same weights
exported to ONNX and run on onnxruntime (as `lpsr upscale --model x.onnx`), of bicubic, and of
PaddleOCR reading the HR plates (PP-OCRv4, onnxruntime, batch 1 and 8); and the wall time of a
full test-split evaluation with OCR of bicubic. `*` marks what `lpsr eval` does here (channels_last,
bf16 where the CPU computes it natively, eager). `--json PATH` also writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from lpsr.data.plates import PlateProtocol, data_root, load_plates
from lpsr.evaluation.evaluate import evaluate
from lpsr.evaluation.ocr import PlateReader
from lpsr.evaluation.onnx_model import export_onnx, onnx_super_resolve
from lpsr.inference import super_resolve
from lpsr.models import build_model

sys.path.insert(0, str(Path(__file__).parent))
from train_speed import cpu_name  # noqa: E402

from lpsr.precision import native_bf16  # noqa: E402
from lpsr.training.sharing import usable_cores


def best_rate(function, n: int, repeats: int, first: dict | None = None) -> float:
    """n / the best of `repeats` timed calls after a warm-up call (whose seconds go into `first`)."""
    started = time.perf_counter()
    function()  # warm-up (a compiled model compiles here)
    warm_up = time.perf_counter() - started
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    if first is not None:
        first["compile_s"] = warm_up - best
    return n / best


def settings(plates, threads: int, native: bool, compile_: bool) -> list[tuple]:
    """(name, function, bf16, what `lpsr eval` runs here) of every setting timed on `plates`."""
    lpsr = build_model("lpsr", 8).eval()
    lpsr_cl = build_model("lpsr", 8).eval().to(memory_format=torch.channels_last)
    rows = [
        ("LPSR fp32 eager", lambda: super_resolve(lpsr, plates.lr), False, False),
        ("LPSR channels_last", lambda: super_resolve(lpsr_cl, plates.lr, channels_last=True), False, not native),
        ("LPSR bf16", lambda: super_resolve(lpsr, plates.lr, bf16=True), True, False),
        (
            "LPSR channels_last + bf16",
            lambda: super_resolve(lpsr_cl, plates.lr, bf16=True, channels_last=True),
            True,
            native,
        ),
    ]
    if compile_:  # each row compiles its own model (a fresh Inductor state)
        for bf16 in (False, True):
            compiled = torch.compile(build_model("lpsr", 8).eval().to(memory_format=torch.channels_last))
            rows.append(
                (
                    f"LPSR channels_last{' + bf16' if bf16 else ''} + compile",
                    lambda m=compiled, b=bf16: super_resolve(m, plates.lr, bf16=b, channels_last=True),
                    bf16,
                    False,
                )
            )
    onnx_file = Path(tempfile.mkdtemp(prefix="lpsr-bench-onnx-")) / "lpsr.onnx"
    onnx_run = onnx_super_resolve(export_onnx(lpsr, onnx_file, scale=8), threads=threads)
    rows.append(("LPSR ONNX (onnxruntime, fp32)", lambda: onnx_run(plates.lr), False, False))
    rows.append(("bicubic", lambda: super_resolve(build_model("bicubic", 8), plates.lr), False, False))
    return rows


def time_settings(rows: list[tuple], n: int, repeats: int, native: bool, why: str) -> list[dict]:
    """Each setting's best plates/s over `repeats` (a compile row from an empty Inductor cache), printed."""
    results = []
    for name, function, bf16, default in rows:
        if bf16 and not native:
            print(f"{name:<36} {'skipped':>8}  ({why})")
            results.append({"setting": name, "skipped": why})
            continue
        first = {}
        if "compile" in name:  # compiled from an empty Inductor cache: what a first run pays
            from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

            torch._dynamo.reset()
            with tempfile.TemporaryDirectory(prefix="lpsr-bench-inductor-") as folder, temporary_cache_dir(folder):
                rate = best_rate(function, n, repeats, first)
        else:
            rate = best_rate(function, n, repeats, first)
        compiled = f"  (compile {first['compile_s']:.1f} s, cold)" if "compile" in name else ""
        print(f"{name + (' *' if default else ''):<36} {rate:>8.1f} plates/s{compiled}")
        results.append(
            {"setting": name, "plates_per_s": rate, "eval_default": default} | (first if "compile" in name else {})
        )
    return results


def ocr_rows(plates, threads: int, repeats: int) -> tuple[list[dict], float]:
    """PaddleOCR's plates/s at batch 1 and 8, and the seconds of a test-split evaluation with OCR, printed."""
    n, results = len(plates), []
    for batch in (1, 8):
        reader = PlateReader(batch_size=batch, threads=threads)
        rate = best_rate(lambda: reader.read(plates.hr), n, repeats)
        print(f"{f'OCR (batch {batch})':<36} {rate:>8.1f} plates/s")
        results.append({"setting": f"OCR (batch {batch})", "plates_per_s": rate})
    started = time.perf_counter()
    evaluate(build_model("bicubic", 8), plates, reader=PlateReader(batch_size=8, threads=threads))
    seconds = time.perf_counter() - started
    print(f"{'test-split eval with OCR':<36} {seconds:>8.1f} s (bicubic, {n} plates)")
    return results, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CCPD root (default: synthetic)")
    parser.add_argument("--threads", type=int, default=usable_cores(), help="default: the cores this process may use")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="leave out the compile rows")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    plates = load_plates(data_root(args.data), "test", PlateProtocol(), progress=False)
    n = len(plates)
    sizes = sorted(h.shape[1] * h.shape[0] for h in plates.hr)
    print(f"{n} test plates, median HR area {sizes[n // 2]} px; threads {args.threads}; {cpu_name()}")
    native, why = native_bf16("cpu")
    rows = settings(plates, args.threads, native, not args.no_compile)
    results = time_settings(rows, n, args.repeats, native, why)
    ocr, seconds = ocr_rows(plates, args.threads, args.repeats)
    if args.json:
        machine = {
            "cpu": cpu_name(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native,
            "torch": torch.__version__,
            "threads": args.threads,
        }
        report = {
            "machine": machine,
            "plates": n,
            "median_hr_area": sizes[n // 2],
            "rows": results + ocr,
            "eval_with_ocr_s": seconds,
        }
        Path(args.json).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
