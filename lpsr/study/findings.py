"""The book's findings table: each claim of the paper, what this build measured, and whether it is
reproduced, one row per claim, written by the chapter that measures it and shown first in the intro.

A chapter decides its claims from its own numbers (`comparison_claims`, `ablation_claims`,
`dynamics_claims`, `budget_claims`, `weight_claims`) and records them with `record_claims` in
`results_dir/findings/<chapter>.json`; `findings_section` gathers the chapters of a build into the
Markdown table the intro opens with. A paired difference decides a claim by its 95% interval:
wholly on the claimed side, "reproduced"; wholly on the other, "not reproduced"; across zero,
"inconclusive". A claim this build has no measurement for says "not testable here".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lpsr.files import write_atomic
from lpsr.metrics import paired_difference
from lpsr.study.ablation import dims_of_both_distances
from lpsr.study.budget import gap_trend, weight_choice
from lpsr.study.prose import missing, number, supported

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = (
    "reproduced",
    "not reproduced",
    "inconclusive",
    "not testable here",
)


def claim(text: str, measured: str, verdict: str, chapter: str) -> dict:
    """One row of the findings table; `chapter` is the notebook's path without suffix."""
    return {"claim": text, "measured": measured, "verdict": verdict, "chapter": chapter}


def interval_verdict(diffs: list[dict]) -> str:
    """The verdict of paired differences (`paired_difference`) that the claim says are all above
    zero: every interval above zero, reproduced; any wholly below, not reproduced; else inconclusive."""
    if not diffs:
        return NOT_TESTABLE
    if all(d["ci_low"] > 0 for d in diffs):
        return REPRODUCED
    if any(d["ci_high"] < 0 for d in diffs):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def _paired(per_plate: dict[str, pd.DataFrame], a: str, b: str, key: str = "psnr_y") -> dict | None:
    if a not in per_plate or b not in per_plate or key not in per_plate[a] or key not in per_plate[b]:
        return None
    return paired_difference(per_plate[a][key].to_numpy(), per_plate[b][key].to_numpy())


def _said(diff: dict | None, what: str, unit: str = " dB") -> str:
    if diff is None:
        return f"{what}: not measured"
    return f"{what} {supported(*_ends(diff), unit)}"


def comparison_claims(
    summaries: dict[str, dict], per_plate: dict[str, pd.DataFrame], labels: dict[str, str], chapter: str
) -> list[dict]:
    """Table 1's claims (chapter 3): PECL above MSE in PSNR, PSNR-Y and OCRρ, and above the strongest
    competitor (highest median test PSNR-Y of the methods that are not the paper's) in PSNR-Y; each
    a paired difference over the same test plates (`per_plate`: each method's per-plate CSV)."""
    rows = []
    diffs = {key: _paired(per_plate, "ours-pecl", "ours-mse", key) for key in ("psnr", "psnr_y")}
    measured = "; ".join(_said(d, f"PECL − MSE, {name}") for name, d in zip(("PSNR", "PSNR-Y"), diffs.values()))
    verdict = interval_verdict([d for d in diffs.values() if d is not None])
    rows.append(
        claim(
            "PECL scores higher PSNR and PSNR-Y than the same network on MSE alone (Table 1)",
            measured,
            verdict,
            chapter,
        )
    )
    ocr = _paired(per_plate, "ours-pecl", "ours-mse", "ocr_conf")
    rows.append(
        claim(
            "PECL raises the OCR confidence OCRρ over MSE (Table 1)",
            _said(ocr, "PECL − MSE, PaddleOCR confidence", unit=""),
            interval_verdict([ocr] if ocr else []),
            chapter,
        )
    )
    rivals = {n: s.get("psnr_y_median") for n, s in summaries.items() if not n.startswith("ours") and n != "bicubic"}
    rivals = {n: v for n, v in rivals.items() if not missing(v) and n in per_plate}
    if rivals:
        rival = max(rivals, key=rivals.get)
        diff = _paired(per_plate, "ours-pecl", rival)
        measured, verdict = (
            _said(diff, f"PECL − {labels.get(rival, rival)} (the strongest competitor), PSNR-Y"),
            interval_verdict([diff] if diff else []),
        )
    else:
        measured, verdict = "no competitor was scored", NOT_TESTABLE
    rows.append(claim("PECL scores higher PSNR-Y than every competing method (Table 1)", measured, verdict, chapter))
    return rows


def ablation_claims(frame: pd.DataFrame, per_plate: dict[str, np.ndarray], chapter: str) -> list[dict]:
    """The ablation's claims (chapter 4) from `embedding_sweep`'s rows and each run's per-plate test
    PSNR-Y: PECL above MSE at every d and distance, PSNR-Y rising from the smallest d to the
    largest (each distance), and the Manhattan distance above the Euclidean (per plate, averaged over
    the d both distances are trained at)."""
    pecl = frame[frame["loss"] == "pecl"]
    names = [n for n in pecl.index if n in per_plate and "ours-mse" in per_plate]
    diffs = [paired_difference(per_plate[n], per_plate["ours-mse"]) for n in names]
    if diffs:
        above = sum(d["ci_low"] > 0 for d in diffs)
        below = sum(d["ci_high"] < 0 for d in diffs)
        measured = f"{above} of {len(diffs)} variants above MSE and {below} below it (paired test PSNR-Y, 95% CI)"
    else:
        measured = "not measured"
    rows = [
        claim(
            "PECL beats MSE at every embedding size d and distance (Fig. 8)", measured, interval_verdict(diffs), chapter
        )
    ]
    rising, texts = [], []
    for distance, group in pecl.dropna(subset=["d"]).groupby("distance"):
        ends = group.sort_values("d")
        small, large = ends.index[0], ends.index[-1]
        if small != large and small in per_plate and large in per_plate:
            diff = paired_difference(per_plate[large], per_plate[small])
            rising.append(diff)
            texts.append(
                _said(diff, f"{distance.upper()}, d = {int(ends['d'].iloc[-1])} − d = {int(ends['d'].iloc[0])}")
            )
    rows.append(
        claim(
            "PSNR rises with the embedding size d (Fig. 8)",
            "; ".join(texts) or "not measured",
            interval_verdict(rising),
            chapter,
        )
    )
    scored = pecl[pecl.index.isin(list(per_plate))].dropna(subset=["d"])
    shared = dims_of_both_distances(scored)
    by = {dist: [per_plate[n] for n in g.index if g.loc[n, "d"] in shared] for dist, g in scored.groupby("distance")}
    if shared:
        diff = paired_difference(np.mean(by["l1"], axis=0), np.mean(by["l2"], axis=0))
        at = f"d = {', '.join(str(int(d)) for d in shared)}"
        measured, verdict = (
            _said(diff, f"L1 − L2, test PSNR-Y {'averaged over' if len(shared) > 1 else 'at'} {at}"),
            interval_verdict([diff]),
        )
    else:
        measured, verdict = "not measured (both distances are needed)", NOT_TESTABLE
    rows.append(claim("The Manhattan (L1) distance beats the Euclidean (L2) (Fig. 8)", measured, verdict, chapter))
    return rows


def dynamics_claims(contrasts: dict[str, tuple[list[int], list[float]]], chapter: str) -> list[dict]:
    """Chapter 5's claim that PECL converges faster than MSE: the contrast of eq. 20 on validation
    PSNR at the first validation, one run per variant (no interval): above zero for every run,
    reproduced; for none, not reproduced; for some, inconclusive."""
    first = {name: values[0] for name, (_, values) in contrasts.items() if len(values)}
    if not first:
        return [claim("PECL converges faster than MSE (Figs. 10–11)", "not measured", NOT_TESTABLE, chapter)]
    iteration = next(iter(contrasts.values()))[0][0]
    ahead = sum(v > 0 for v in first.values())
    measured = (
        f"{ahead} of {len(first)} PECL runs ahead of MSE at the first validation (iteration {iteration:,}; "
        f"contrast of eq. 20 from {number(min(first.values()), '+.3f')} to {number(max(first.values()), '+.3f')}; one run each, no interval)"
    )
    verdict = REPRODUCED if ahead == len(first) else NOT_REPRODUCED if ahead == 0 else INCONCLUSIVE
    return [claim("PECL converges faster than MSE (Figs. 10–11)", measured, verdict, chapter)]


def qualitative_claims(
    per_plate: dict[str, pd.DataFrame], chapter: str, mse: str = "MSE", pecl: str | None = "PECL (Man)"
) -> list[dict]:
    """Chapter 6's two claims, which the paper makes by eye: PECL's plates sharper, and less noisy,
    than MSE's, here each paired over the test plates on the blur and the noise estimator of
    `lpsr.study.degradation_maps` (`per_plate`: `plate_degradations`); MSE − PECL above zero is
    PECL ahead."""
    measures = {
        "blur": (
            "PECL's plates are sharper than MSE's (Fig. 12, judged by eye in the paper)",
            "blur (0 sharp, 1 blurred)",
            "",
        ),
        "noise": (
            "PECL's plates are less noisy than MSE's (Figs. 12–13, judged by eye in the paper)",
            "noise σ",
            " grey levels",
        ),
    }
    rows = []
    for key, (text, what, unit) in measures.items():
        if mse not in per_plate or pecl not in per_plate:
            rows.append(claim(text, "not measured", NOT_TESTABLE, chapter))
            continue
        diff = paired_difference(per_plate[mse][key].to_numpy(), per_plate[pecl][key].to_numpy())
        rows.append(
            claim(text, f"MSE − PECL, {what} {supported(*_ends(diff), unit)}", interval_verdict([diff]), chapter)
        )
    return rows


def _ends(diff: dict) -> tuple[float, float, float]:
    return diff["median_diff"], diff["ci_low"], diff["ci_high"]


def budget_claims(frame: pd.DataFrame, chapter: str) -> list[dict]:
    """The budget chapter's question, which is this study's and not a claim of the paper: does PECL's
    deficit close with a longer budget? The paired PECL − MSE difference at the smallest and the
    largest budget (`budget_sweep`'s rows), and how it moves between them (`gap_trend`): rising
    with the intervals apart, reproduced (the deficit is a small-budget effect); falling apart, not
    reproduced; not testable where a run diverged; else inconclusive."""
    pecl = frame[frame["loss"] == "PECL"].dropna(subset=["diff_psnr_y"]).sort_values("iterations")
    text = "PECL's deficit to MSE is a small-budget effect that closes with longer training (this study's question, not the paper's)"
    if len(pecl) < 2:
        return [claim(text, "fewer than two budgets measured", NOT_TESTABLE, chapter)]
    first, last = pecl.iloc[0], pecl.iloc[-1]

    def at(row) -> str:
        return f"{supported(row['diff_psnr_y'], row['diff_ci_low'], row['diff_ci_high'], ' dB')} at {int(row['iterations']):,} iterations"

    measured = f"PECL − MSE, test PSNR-Y: {at(first)}, {at(last)}"
    verdict = {"rises": REPRODUCED, "falls": NOT_REPRODUCED, "holds": INCONCLUSIVE, "diverged": NOT_TESTABLE}[
        gap_trend(frame)
    ]
    return [claim(text, measured, verdict, chapter)]


def weight_claims(frame: pd.DataFrame, chapter: str) -> list[dict]:
    """The paper's claim that PECL beats MSE, given its best contrastive weight: the PECL setting
    validation selects in `weight_sweep` (`weight_choice`), decided by its paired test difference
    to MSE (`interval_verdict`)."""
    text = "At its best contrastive weight (chosen on validation), PECL beats MSE on test PSNR-Y"
    chosen = weight_choice(frame)
    if chosen is None or missing(chosen.get("diff_psnr_y")):
        return [claim(text, "no finished PECL and MSE pair in the weight sweep", NOT_TESTABLE, chapter)]
    diff = {"ci_low": chosen["diff_ci_low"], "ci_high": chosen["diff_ci_high"]}
    measured = (
        f"{chosen['distance'].upper()}, w_contrastive = {chosen['w_contrastive']:g}: PECL − MSE "
        f"{supported(chosen['diff_psnr_y'], chosen['diff_ci_low'], chosen['diff_ci_high'], ' dB')}"
    )
    return [claim(text, measured, interval_verdict([diff]), chapter)]


def record_claims(results_dir: str | Path, chapter: str, rows: list[dict]) -> Path:
    """Write a chapter's claims to `results_dir/findings/<chapter name>.json` (atomically)."""
    path = Path(results_dir) / "findings" / f"{Path(chapter).name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic({path: json.dumps(rows, indent=1, ensure_ascii=False).encode("utf-8")})
    return path


def findings_section(
    results_dir: str | Path, chapters: list[str], titles: dict[str, str], link_prefix: str = "../"
) -> str:
    """The intro's findings table (Markdown) from the claims the built `chapters` recorded, in the
    book's order; each row links its chapter (`titles`: chapter → the link's text). Empty without claims."""
    rows = []
    for chapter in chapters:
        path = Path(results_dir) / "findings" / f"{Path(chapter).name}.json"
        if path.is_file():
            rows += json.loads(path.read_text(encoding="utf-8"))
    if not rows:
        return ""
    lines = [
        f"| {r['claim']} | {r['measured']} | **{r['verdict']}** | {{doc}}`{titles.get(r['chapter'], r['chapter'])} <{link_prefix}{r['chapter']}>` |"
        for r in rows
    ]
    return "\n".join(
        [
            "## Findings",
            "",
            "Each claim of the paper, what this build measured (paired differences over the same test plates,",
            "with their 95% bootstrap interval), and the verdict the interval supports: *reproduced* when it lies",
            "wholly on the claimed side of zero, *not reproduced* when it lies wholly on the other, *inconclusive*",
            "when it spans zero. The numbers are this build's, at its profile and on its data (the banner above).",
            "",
            "| claim | measured here | verdict | chapter |",
            "|---|---|---|---|",
            *lines,
            "",
        ]
    )
