"""Chapter 3, the paper's Table 1 reproduced: every method trained and judged under one protocol.

`compare(methods, profile, ...)` trains each method (or finds its finished run), evaluates its
validation-selected checkpoint once on the test split's whole plates with the same metrics (PSNR,
PSNR-Y, SSIM, PaddleOCR confidence, exact match, character accuracy), and writes `table1.csv` and
`table1.md` into `out`, with `out/<method>/per_plate.csv` and `summary.json` beside them. Rows give
median (± std) as the paper does, the paired median difference in PSNR-Y against bicubic on the
same plates with its 95% bootstrap interval, the parameter count, the training budget and speed,
and the paper's own numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpsr.evaluation.evaluate import load_model
from lpsr.metrics import paired_difference
from lpsr.models import count_parameters
from lpsr.study.experiments import METHODS, PAPER_TABLE1, TABLE1, Scored, read_per_plate, score_methods
from lpsr.study.findings import NOT_TESTABLE, claim, interval_verdict
from lpsr.study.text import index_in_corner, interval, leaders, missing, names, number, stated
from lpsr.training.runs import run_summary


def compare(
    methods: list[str] | tuple[str, ...] = TABLE1,
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "table1",
    overrides: list[str] = (),
    ocr: bool = True,
    progress: bool = True,
) -> pd.DataFrame:
    """Train (or reuse) and evaluate `methods`; return Table 1 and write it into `out`."""
    out = Path(out)
    if "bicubic" not in methods:
        methods = ["bicubic", *methods]  # the reference of the paired intervals
    scored = score_methods(methods, profile, data, runs_dir, out, overrides, ocr, progress)
    rows = [
        _row(name, s) if s.summary else {"method": name, "SR method": _label(name), "note": s.error}
        for name, s in scored.items()
    ]
    table = pd.DataFrame(rows).set_index("method").fillna("–")
    per_plate = read_per_plate(out, [name for name, s in scored.items() if s.summary])
    reference = per_plate["bicubic"]["psnr_y"].to_numpy()
    for name in per_plate:
        if name == "bicubic":  # the reference: no difference to itself
            table.loc[name, "ΔPSNR-Y vs bicubic [95% CI]"] = table.loc[name, "plates better than bicubic"] = "–"
            continue
        diff = paired_difference(per_plate[name]["psnr_y"].to_numpy(), reference)
        table.loc[name, "ΔPSNR-Y vs bicubic [95% CI]"] = interval(
            diff["median_diff"], diff["ci_low"], diff["ci_high"], "+"
        )
        table.loc[name, "plates better than bicubic"] = f"{diff['wins']:.0%}"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table1.csv")
    (out / "table1.md").write_text(table.to_markdown() + "\n", encoding="utf-8")
    return table


def _label(name: str) -> str:
    return METHODS[name].label if name in METHODS else name


def _pm(summary: dict, key: str, digits: int = 2) -> str:
    if f"{key}_median" not in summary:
        return "–"
    return f"{summary[f'{key}_median']:.{digits}f} (± {summary[f'{key}_std']:.{digits}f})"


def _row(name: str, scored: Scored) -> dict:
    config, summary, model, run = scored.config, scored.summary, scored.model, scored.run
    done = run_summary(run) if run else {}
    paper = PAPER_TABLE1.get(name)
    n = count_parameters(model)
    row = {
        "method": name,
        "SR method": _label(name),
        "#p": f"{n / 1e6:.2f}M" if n >= 1e6 else (f"{n / 1e3:.0f}K" if n else "–"),
        "loss": config.loss.name if run else "–",
        "iterations × batch": (
            f"{done['iterations']:,} × {config.train.batch_size}" + (" (diverged)" if done.get("diverged") else "")
        )
        if run
        else "–",
        "lr": f"{config.train.lr:g}" if run else "–",
        "PSNR [dB]": _pm(summary, "psnr"),
        "PSNR-Y [dB]": _pm(summary, "psnr_y"),
        "SSIM": _pm(summary, "ssim", 3),
        "OCRρ": _pm(summary, "ocr_conf", 3),
        "OCR exact": f"{summary['ocr_exact']:.3f}" if "ocr_exact" in summary else "–",
        "OCR char acc": f"{summary['ocr_char_acc']:.3f}" if "ocr_char_acc" in summary else "–",
        "train samples/s": f"{done['samples_per_s']:.1f}" if done.get("samples_per_s") else "–",
        "infer plates/s": f"{summary['plates_per_s']:.1f}",
        "paper #p": paper.params if paper else "–",
        "paper PSNR": f"{paper.psnr[0]:.2f} (± {paper.psnr[1]:.2f})" if paper else "–",
        "paper PSNR-Y": f"{paper.psnr_y[0]:.2f} (± {paper.psnr_y[1]:.2f})" if paper else "–",
        "paper OCRρ": f"{paper.ocr[0]:.3f} (± {paper.ocr[1]:.2f})" if paper else "–",
        "run": Path(run).name if run else "–",
    }
    return row


# Table 1's measures as the paper prints them: (column, summary key, PaperRow field, digits)
PAPER_MEASURES = (
    ("PSNR (dB)", "psnr", "psnr", 2),
    ("PSNR-Y (dB)", "psnr_y", "psnr_y", 2),
    ("OCRρ", "ocr_conf", "ocr", 3),
)


def table1_layout(table: pd.DataFrame, summaries: dict[str, dict]):
    """Table 1 in the paper's layout: method, #p, then PSNR, PSNR-Y and OCRρ, each as the median
    (± std) measured here beside the paper's; of the values measured here the best is bold and the
    second underlined. A pandas Styler (the book renders it as HTML)."""
    columns = pd.MultiIndex.from_tuples(
        [("SR method", ""), ("#p", "")] + [(label, side) for label, *_ in PAPER_MEASURES for side in ("here", "paper")]
    )
    rows, values = [], {}
    for name in table.index:
        summary, paper = summaries.get(name, {}), PAPER_TABLE1.get(name)
        row = [table.loc[name, "SR method"], table.loc[name, "#p"]]
        for label, key, field, digits in PAPER_MEASURES:
            printed = getattr(paper, field) if paper else None
            row += [_pm(summary, key, digits), f"{printed[0]:.{digits}f} (± {printed[1]:.2f})" if printed else "–"]
            values.setdefault(label, {})[name] = summary.get(f"{key}_median")
        rows.append(row)
    frame = pd.DataFrame(rows, index=table.index, columns=columns)

    def marks(_):
        css = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for label, by_name in values.items():
            measured = sorted((v for v in by_name.values() if v is not None), reverse=True)
            for name, value in by_name.items():
                if value is not None and value == measured[0]:
                    css.loc[name, (label, "here")] = "font-weight: bold"
                elif value is not None and len(measured) > 1 and value == measured[1]:
                    css.loc[name, (label, "here")] = "text-decoration: underline"
        return css

    return frame.style.apply(marks, axis=None).hide(axis="index")


def training_table(table: pd.DataFrame):
    """Table 1's second half: each row's loss, budget, learning rate, speed and its paired
    difference against bicubic on the same test plates. A pandas Styler, the method a column."""
    columns = {
        "SR method": "SR method",
        "loss": "loss",
        "iterations × batch": "iterations × batch",
        "lr": "lr",
        "train samples/s": "training (patches/s)",
        "infer plates/s": "inference (plates/s)",
        "ΔPSNR-Y vs bicubic [95% CI]": "ΔPSNR-Y vs bicubic (dB) [95% CI]",
        "plates better than bicubic": "plates better than bicubic",
    }
    kept = [c for c in columns if c in table]
    return table[kept].rename(columns=columns).style.hide(axis="index")


def method_runs(table: pd.DataFrame, runs_dir: str | Path, labelled: bool = False) -> dict[str, Path]:
    """The run folder of each trained row of a Table 1 (as `compare` returns it), keyed by method
    name or (`labelled`) by the row's display name."""
    return {
        table.loc[name, "SR method"] if labelled else name: Path(runs_dir) / run
        for name, run in table["run"].items()
        if run != "–"
    }


def method_models(table: pd.DataFrame, runs_dir: str | Path, scale: int = 8) -> dict:
    """Each row's model: bicubic, and the validation-selected checkpoint of every trained row."""
    models = {"bicubic": load_model("bicubic", scale)[0]} if "bicubic" in table.index else {}
    return models | {name: load_model(run, scale)[0] for name, run in method_runs(table, runs_dir).items()}


def comparison_results(table: pd.DataFrame, summaries: dict[str, dict], gan_select: str = "gan") -> dict[str, str]:
    """The numbers and names chapter 3 glues into its closing paragraphs, keyed for myst-nb's glue,
    from Table 1 (`compare`) and each row's summary (`read_summaries`): the test plates, the method
    with the highest median test PSNR-Y (ties named together) and its PSNR-Y, bicubic's, the
    strongest competitor (the highest of the methods that are not the paper's), the PSNR-Y of the
    paper's models, the budgets and the rows trained for fewer iterations (`_budgets`), which
    validations ESRGAN's checkpoint is selected among (`gan_select`) and TBSRN's parameter count;
    "not measured" or "none" where there is none."""
    label = {name: _row_label(table, name) for name in summaries}
    scored = {name: s.get("psnr_y_median") for name, s in summaries.items() if name != "bicubic"}
    top = leaders(scored)
    rivals = leaders({name: v for name, v in scored.items() if not name.startswith("ours")})
    return {
        "plates": f"{summaries.get('bicubic', {}).get('n', 0):,}",
        "best": _tied([label[n] for n in top], "**") or "no method",
        "best_psnr": number(scored[top[0]] if top else None, unit=" dB"),
        "bicubic_psnr": number(summaries.get("bicubic", {}).get("psnr_y_median"), unit=" dB"),
        "rival": _tied([label[n] for n in rivals], "") or "none (no competitor was scored)",
        "psnr_ours_mse": number(summaries.get("ours-mse", {}).get("psnr_y_median"), unit=" dB"),
        "psnr_ours_pecl": number(summaries.get("ours-pecl", {}).get("psnr_y_median"), unit=" dB"),
        **_budgets(table),
        "esrgan_selection": "among the GAN phase's validations" if gan_select == "gan" else "over the whole run",
        "tbsrn_parameters": table.loc["tbsrn", "#p"] if "tbsrn" in table.index else "not counted (not in this table)",
    }


def _row_label(table: pd.DataFrame, name: str) -> str:
    """A method's display name: its Table 1 row's, or the method's own when it has no row."""
    return table.loc[name, "SR method"] if name in table.index else _label(name)


def _tied(labels: list[str], style: str) -> str:
    """`labels` named together ("" when there is none), with ", tied" when there are several."""
    if not labels:
        return ""
    return names(labels, style) + (", tied" if len(labels) > 1 else "")


def method_scores(table: pd.DataFrame, summaries: dict[str, dict]) -> pd.DataFrame:
    """Each scored row's median test PSNR-Y and the share of its test plates PaddleOCR reads exactly
    ("not measured" where a score is missing), the method in the header's corner."""
    rows = [
        {
            "SR method": _row_label(table, name),
            "median PSNR-Y (dB)": number(s.get("psnr_y_median")),
            "OCR exact": number(s.get("ocr_exact"), ".3f"),
        }
        for name, s in summaries.items()
    ]
    return index_in_corner(pd.DataFrame(rows).set_index("SR method"))


def _budgets(table: pd.DataFrame) -> dict[str, str]:
    """The budgets of Table 1's trained rows ("10 × 4, 20 × 4"), the rows trained for fewer
    iterations than ours (MSE) without diverging ("none" when there are none), their budgets, and
    what one of their iterations costs in this build against one of ours (`_cost`)."""
    trained = table[table["run"] != "–"] if "run" in table else table.iloc[:0]
    budget = trained["iterations × batch"].to_dict()
    reference = budget.get("ours-mse")
    short = [n for n, b in budget.items() if reference and b != reference and "diverged" not in b]
    return {
        "budgets": ", ".join(sorted(set(budget.values()))) if budget else "none (no method was trained)",
        "short_rows": names([table.loc[n, "SR method"] for n in short], "") if short else "none",
        "short_budgets": ", ".join(sorted({budget[n] for n in short})) if short else "none",
        "short_cost": _cost(trained, short),
    }


def _cost(trained: pd.DataFrame, short: list[str]) -> str:
    """How many times an MSE iteration of ours each shorter-trained row's iteration costs in this
    build (its training speed against ours-mse's): "3–9×", "5×", or "not measured"."""
    speed = pd.to_numeric(trained.get("train samples/s", pd.Series(dtype=float)), errors="coerce")
    if "ours-mse" not in speed or missing(speed["ours-mse"]):
        return "not measured"
    ratios = [speed["ours-mse"] / speed[n] for n in short if n in speed and not missing(speed[n]) and speed[n] > 0]
    if not ratios:
        return "not measured"
    low, high = min(ratios), max(ratios)
    return f"{low:.0f}×" if f"{low:.0f}" == f"{high:.0f}" else f"{low:.0f}–{high:.0f}×"


def _paired(per_plate: dict[str, pd.DataFrame], a: str, b: str, key: str = "psnr_y") -> dict | None:
    if a not in per_plate or b not in per_plate or key not in per_plate[a] or key not in per_plate[b]:
        return None
    return paired_difference(per_plate[a][key].to_numpy(), per_plate[b][key].to_numpy())


def comparison_claims(
    summaries: dict[str, dict], per_plate: dict[str, pd.DataFrame], labels: dict[str, str], chapter: str
) -> list[dict]:
    """Table 1's claims (chapter 3): PECL above MSE in PSNR, PSNR-Y and OCRρ, and above the strongest
    competitor (highest median test PSNR-Y of the methods that are not the paper's) in PSNR-Y; each
    a paired difference over the same test plates (`per_plate`: each method's per-plate CSV)."""
    rows = []
    diffs = {key: _paired(per_plate, "ours-pecl", "ours-mse", key) for key in ("psnr", "psnr_y")}
    measured = "; ".join(stated(d, f"PECL − MSE, {name}") for name, d in zip(("PSNR", "PSNR-Y"), diffs.values()))
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
            stated(ocr, "PECL − MSE, PaddleOCR confidence", unit=""),
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
            stated(diff, f"PECL − {labels.get(rival, rival)} (the strongest competitor), PSNR-Y"),
            interval_verdict([diff] if diff else []),
        )
    else:
        measured, verdict = "no competitor was scored", NOT_TESTABLE
    rows.append(claim("PECL scores higher PSNR-Y than every competing method (Table 1)", measured, verdict, chapter))
    return rows
