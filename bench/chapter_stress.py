"""Execute one chapter headless many times in a row and print its slowest cell each time.

    .venv/bin/python bench/chapter_stress.py notebooks/06_qualitative --times 30 [--profile smoke]

A stall in headless execution (a cell whose reply the client never sees) shows as a cell that
runs for exactly the cell timeout; the limit here (`--cell-timeout`, 120 s) bounds such a run.
The first execution trains the chapter's runs into `--runs` (a temporary folder by default); the
slowest-cell figures of the later ones are execution alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path

import papermill

PROJECT = Path(__file__).resolve().parents[1]


def slowest_cell(notebook: Path) -> tuple[float, int]:
    """(seconds, cell index) of the slowest cell papermill recorded in an executed notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    durations = [(c["metadata"].get("papermill", {}).get("duration") or 0.0, i) for i, c in enumerate(cells)]
    return max(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", help="a chapter without suffix, e.g. notebooks/06_qualitative")
    parser.add_argument("--times", type=int, default=30)
    parser.add_argument("--profile", default="smoke", choices=("smoke", "cpu"))
    parser.add_argument("--runs", help="run folder shared by the executions (default: a temporary one)")
    parser.add_argument("--cell-timeout", type=int, default=120)
    args = parser.parse_args()
    runs = Path(args.runs or tempfile.mkdtemp(prefix="stress-runs-"))
    source = PROJECT / f"{args.chapter}.ipynb"
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "out.ipynb"
        for i in range(1, args.times + 1):
            started = time.perf_counter()
            papermill.execute_notebook(
                source,
                target,
                parameters={"profile": args.profile, "runs_dir": str(runs)},
                cwd=str(source.parent),
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=args.cell_timeout,
            )
            seconds, cell = slowest_cell(target)
            total = time.perf_counter() - started
            print(
                f"{datetime.now():%H:%M:%S} run {i:2d}: {total:6.1f} s in all, slowest cell {cell} {seconds:6.2f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
