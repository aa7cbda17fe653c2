"""Numbers as the book writes them, in its sentences and its tables. A value that is missing, a
difference that rounds to zero and a tie are said in words: no "nan", no "-0.00", no zero-width
interval, no winner picked among equals. `results_table` and `index_in_corner` lay out the tables
several chapters share.
"""

from __future__ import annotations

import math

import pandas as pd


def stated(diff: dict | None, what: str, unit: str = " dB") -> str:
    if diff is None:
        return f"{what}: not measured"
    return f"{what} {supported(*diff_ends(diff), unit)}"


def diff_ends(diff: dict) -> tuple[float, float, float]:
    return diff["median_diff"], diff["ci_low"], diff["ci_high"]


def results_table(summaries: list[dict]) -> pd.DataFrame:
    """One row per method: the median ± std over the plates (as the paper's Table 1), then the 95%
    interval of the median, and the OCR scores."""
    rows = []
    for s in summaries:
        row = {"method": s["method"], "plates": s["n"]}
        for key, label in (("psnr", "PSNR (dB)"), ("psnr_y", "PSNR-Y (dB)"), ("ssim", "SSIM (Y)")):
            if f"{key}_median" not in s:  # the HR reference row has no image scores
                row[label] = "–"
                continue
            median, std, low, high = (s[f"{key}_{end}"] for end in ("median", "std", "ci_low", "ci_high"))
            spec = f".{interval_decimals(low, high)}f"  # what the interval supports
            row[label] = f"{number(median, spec)} ± {number(std, spec)} [{number(low, spec)}, {number(high, spec)}]"
        for key, label in (("ocr_conf_median", "OCRρ"), ("ocr_exact", "OCR exact"), ("ocr_char_acc", "OCR char acc")):
            if key in s:
                row[label] = f"{s[key]:.3f}"
        rows.append(row)
    return index_in_corner(pd.DataFrame(rows).set_index("method"))


def missing(value) -> bool:
    """None or NaN (a score that was not measured)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value, spec: str = ".2f", unit: str = "", absent: str = "not measured") -> str:
    """`value` formatted with `spec` (and `unit`), or `absent`; a value that rounds to zero is
    written without a sign of its own ("0.00", "+0.00"), never "-0.00"."""
    if missing(value):
        return absent
    text = format(float(value), spec)
    if not text.lstrip("+-").replace("0", "").replace(".", "").replace("%", "").replace(",", ""):
        text = format(0.0, spec)
    return text + unit


def difference(median, low, high, unit: str = " dB", spec: str = "+.2f") -> str:
    """A paired difference with its 95% interval, "+0.12 dB [+0.01, +0.20]"; "nil (below 0.01 dB,
    interval included)" when the median and both ends round to zero; "not measured" without one."""
    if any(missing(v) for v in (median, low, high)):
        return "not measured"
    parts = [number(v, spec) for v in (median, low, high)]
    if all(p.lstrip("+-") == number(0.0, spec).lstrip("+-") for p in parts):
        return f"nil (below {10 ** -_decimals(spec):g}{unit}, interval included)"
    return f"{parts[0]}{unit} [{parts[1]}, {parts[2]}]"


def supported(median, low, high, unit: str = " dB") -> str:
    """`difference` rounded to what its interval supports (`interval_decimals`)."""
    if any(missing(v) for v in (median, low, high)):
        return "not measured"
    return difference(median, low, high, unit, f"+.{interval_decimals(low, high)}f")


def interval_decimals(low, high) -> int:
    """The decimals that keep one significant digit of an interval's width (0.37 wide: one; 0.04:
    two; 3 wide: none; at most three), and more where an end that is not zero would round to zero:
    which side of zero each end lies on is what a paired interval says, so rounding keeps it."""
    width = abs(float(high) - float(low))
    decimals = 3 if width <= 0 else min(3, max(0, -math.floor(math.log10(width))))
    while decimals < 3 and any(v != 0 and round(float(v), decimals) == 0 for v in (low, high)):
        decimals += 1
    return decimals


def interval(median, low, high, sign: str = "", absent: str = "–") -> str:
    """A median and its 95% interval for a table, rounded to what the interval supports:
    "21.5 [21.3, 21.9]"; `sign="+"` signs them (differences); `absent` when not measured."""
    if any(missing(v) for v in (median, low, high)):
        return absent
    spec = f"{sign}.{interval_decimals(low, high)}f"
    return f"{number(median, spec)} [{number(low, spec)}, {number(high, spec)}]"


def _decimals(spec: str) -> int:
    return int(spec.rstrip("f%").rsplit(".", 1)[1]) if "." in spec else 0


def names(items, style: str = "*") -> str:
    """'*a*', '*a* and *b*', '*a*, *b* and *c*' (style: the Markdown emphasis around each); "none" for no item."""
    marked = [f"{style}{item}{style}" for item in items]
    if not marked:
        return "none"
    return marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " and " + marked[-1]


def leaders(values: dict, spec: str = ".2f", highest: bool = True) -> list:
    """The names whose value is the highest (or lowest) as written with `spec`: more than one when
    they tie at that precision; none when no value was measured."""
    measured = {name: value for name, value in values.items() if not missing(value)}
    if not measured:
        return []
    top = (max if highest else min)(measured.values())
    return [name for name, value in measured.items() if number(value, spec) == number(top, spec)]


def index_in_corner(frame):
    """`frame` (a pandas DataFrame) with its index's name moved into the header's corner cell, so a
    page shows one header row, not a second row holding only that name."""
    out = frame.rename_axis(index=None)
    out.columns = out.columns.set_names([None] * (out.columns.nlevels - 1) + [frame.index.name])
    return out


def fit_phrases(fit: dict, loss: str, units: str, one: str) -> dict[str, str]:
    """What a page says of `loss`'s line in a fit (lpsr.study.extrapolation.log_linear_fit): its
    slope per tenfold (`slope`, "+0.22 dB"), the gap to MSE it implies at the fit's target with its
    95% interval, rounded as the interval supports (`gap`), and where it meets MSE's line (`cross`:
    "at about 420 train plates" in `units`, "nowhere above one plate" with `one`); "not measured"
    for what the fit lacks."""
    gap = fit["gaps"].get(loss)
    if gap is None:
        cross = "not measured"
    elif gap["crosses_at"] is None:
        cross = f"nowhere above one {one}"
    else:
        cross = f"at about {number(gap['crosses_at'], ',.0f')} {units}"
    return {
        "slope": number(fit["fits"].get(loss, {}).get("slope"), "+.2f", " dB"),
        "gap": supported(gap["gap"], gap["ci_low"], gap["ci_high"]) if gap else "not measured",
        "cross": cross,
    }
