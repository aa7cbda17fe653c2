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


def scores_against_bicubic(bicubic: dict, sr: dict, hr: dict) -> dict[str, str]:
    """The numbers chapter 1 glues into its closing paragraph, keyed for myst-nb's glue, from the
    test summaries of bicubic, the model trained with MSE and the HR plates: the plates scored, the
    median PSNR-Y of the model and of bicubic and the difference between them ("less than 0.01 dB"
    when it rounds to zero), the median PSNR on RGB of both, and of each of the three the share
    PaddleOCR reads exactly and its median confidence; "not measured" where a score is missing."""
    ours, base = sr.get("psnr_y_median"), bicubic.get("psnr_y_median")
    gain = np.nan if missing(ours) or missing(base) else ours - base
    step = number(gain, "+.2f", " dB")
    scored = {"sr": sr, "bicubic": bicubic, "hr": hr}
    return {
        "plates": f"{sr.get('n', 0):,}",
        "psnr_y_sr": number(ours, unit=" dB"),
        "psnr_y_bicubic": number(base, unit=" dB"),
        "psnr_y_gain": "less than 0.01 dB" if step == "+0.00 dB" else step,
        "psnr_sr": number(sr.get("psnr_median"), unit=" dB"),
        "psnr_bicubic": number(bicubic.get("psnr_median"), unit=" dB"),
    } | {
        f"{measure}_{name}": number(s.get(key), spec)
        for name, s in scored.items()
        for measure, key, spec in (("exact", "ocr_exact", ".1%"), ("conf", "ocr_conf_median", ".3f"))
    }
