"""Chapter 1, the data and the pipeline: what each split holds after ingestion, and the numbers of
the first model trained end to end against bicubic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lpsr.study.text import missing, number


def data_summary(splits: dict) -> pd.DataFrame:
    """One row per split (name -> PlateSet): frames, plates cut, what ingestion skipped and why, the
    median HR plate size, the share of green (8-character) plates and the commonest provinces."""
    rows = {}
    for name, plates in splits.items():
        summary, sizes = plates.summary, plates.sizes()
        provinces = pd.Series([t[0] for t in plates.texts]).value_counts()
        rows[name] = {
            "frames": summary["frames"],
            "plates": summary["plates"],
            "skipped": _skipped(summary),
            "median HR size (w×h)": f"{int(np.median(sizes[:, 0]))}×{int(np.median(sizes[:, 1]))}"
            if len(sizes)
            else "–",
            "green (8 chars)": f"{np.mean([len(t) == 8 for t in plates.texts]):.1%}" if len(plates) else "–",
            "provinces": len(provinces),
            "commonest": ", ".join(f"{p} {n}" for p, n in provinces.head(3).items()),
        }
    return pd.DataFrame(rows).T


def _skipped(summary: dict) -> str:
    """What ingestion skipped, with why: "0", or "3 (outside the frame 2, too small 1)"."""
    reasons = {
        "missing": "missing",
        "skipped_bad_name": "bad name",
        "skipped_bad_image": "unreadable",
        "skipped_outside": "outside the frame",
        "skipped_too_small": "too small",
    }
    counts = {label: summary.get(key, 0) for key, label in reasons.items() if summary.get(key, 0)}
    total = sum(counts.values())
    return f"{total:,} ({', '.join(f'{label} {n:,}' for label, n in counts.items())})" if total else "0"


def pipeline_findings(bicubic: dict, sr: dict, hr: dict) -> dict[str, str]:
    """Chapter 1's sentences (Markdown), keyed for myst-nb's glue, from the test summaries of bicubic,
    the model trained with MSE and the HR plates: the plates, PSNR-Y of both and the difference
    between them, PSNR on RGB, and what PaddleOCR reads of each."""
    ours, base = (np.nan if missing(s.get("psnr_y_median")) else s["psnr_y_median"] for s in (sr, bicubic))
    gain = ours - base
    if missing(gain):
        psnr_y = "not measured (no test plate was scored)"
    else:
        step = number(gain, "+.2f")
        gap = "a difference below 0.01 dB" if step == "+0.00" else f"a difference of {step} dB"
        psnr_y = f"{number(sr['psnr_y_median'])} dB against {number(bicubic['psnr_y_median'])} dB for bicubic interpolation, {gap}"
    if any("ocr_exact" not in s for s in (sr, bicubic, hr)):
        ocr = "PaddleOCR did not read these plates"
    else:
        exact = [number(s["ocr_exact"], ".1%") for s in (sr, bicubic, hr)]
        conf = [number(s.get("ocr_conf_median"), ".3f") for s in (sr, bicubic, hr)]
        ocr = (
            f"PaddleOCR (PP-OCRv4) reads {exact[0]} of the SR plates exactly (median confidence, the paper's OCRρ, "
            f"{conf[0]}) against {exact[1]} ({conf[1]}) for bicubic and {exact[2]} ({conf[2]}) for the HR plates"
        )
    return {
        "plates": f"{sr.get('n', 0):,}",
        "psnr_y": psnr_y,
        "psnr": f"{number(sr.get('psnr_median'))} vs {number(bicubic.get('psnr_median'))} dB",
        "ocr": ocr,
    }
