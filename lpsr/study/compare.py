"""Table 1 of the paper, reproduced: every method trained and judged under one protocol.

`compare(methods, profile, ...)` trains each method (or finds its finished run), evaluates
its validation-selected checkpoint once on the test split's whole plates with the same
metrics (PSNR, PSNR-Y, SSIM, PaddleOCR confidence, exact match, character accuracy), and
writes `table1.csv` and `table1.md` into `out`, with `out/<method>/per_plate.csv` and
`summary.json` beside them. Rows give median (± std) as the paper does, the paired median
difference in PSNR-Y against bicubic on the same plates with its 95% bootstrap interval,
the parameter count, the training budget and speed, and the paper's own numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from torch import nn

from lpsr.config import RunConfig
from lpsr.data.plates import split_plates
from lpsr.evaluation.evaluate import RELEASED_WEIGHTS, evaluate, load_model
from lpsr.files import CheckpointError
from lpsr.inference import inference_bf16
from lpsr.metrics import paired_difference
from lpsr.models import count_flops, count_parameters
from lpsr.study.methods import METHODS, PAPER_TABLE1, TABLE1, method_config
from lpsr.study.prose import index_in_corner, interval, leaders, missing, names, number
from lpsr.training.runs import run_config, run_summary
from lpsr.training.train import TrainingError, train


@dataclass
class Scored:
    """One row's model judged on the test plates, or why it could not be (a diverged run)."""

    config: RunConfig
    model: nn.Module | None = None
    run: Path | None = None
    summary: dict | None = None
    error: str | None = None


def test_plates(config: RunConfig, progress: bool = True):
    """The whole test plates of a configuration's data (its protocol, scale and root)."""
    return split_plates(config, "test", progress)


def train_and_score(
    configs: dict[str, RunConfig],
    runs_dir: str | Path,
    out: str | Path,
    ocr: bool = True,
    progress: bool = True,
    released: dict[str, Path] | None = None,
) -> dict[str, Scored]:
    """Train each named configuration (or find its finished run), then score its validation-selected
    checkpoint once on the test plates into `out/<name>/`. A parameterless model (bicubic) is
    scored as it is; a run that diverges, or needs a file that is not there (ImageNet weights),
    is reported, not raised. A wsd run starts from the stable phase of a shorter one trained
    before it here (`lpsr.training.train`). `released`: named released model folders
    (`lpsr release`), scored on the same test plates after the configurations, untrained."""
    test = test_plates(next(iter(configs.values())), progress)
    reader = None
    if ocr:
        from lpsr.evaluation.ocr import PlateReader

        reader = PlateReader()
    scored, trained = {}, []
    for name, config in configs.items():
        run = None
        if config.model.name == "bicubic":
            model = load_model("bicubic", config.model.scale)[0]
        else:
            try:
                run = train(config, runs_dir, progress=progress, branch_from=trained)  # wsd runs branch
            except (
                TrainingError,
                CheckpointError,
                FileNotFoundError,
            ) as error:  # diverged, or a weights file to put in place
                if progress:  # at the command line; a chapter (progress off) says it in its prose instead
                    print(f"{name}: {error}")
                scored[name] = Scored(config, error=str(error).split(";")[0])
                continue
            trained.append(run)
            model = load_model(run, config.model.scale)[0]
        key = run.name if run else config.model.name
        summary = evaluate_once(model, test, Path(out) / name, name, key, reader)
        scored[name] = Scored(config, model, run, summary)
    for name, folder in (released or {}).items():
        model = load_model(folder, test.protocol.scale)[0]
        weights = hashlib.sha256((Path(folder) / RELEASED_WEIGHTS).read_bytes()).hexdigest()[:12]
        summary = evaluate_once(model, test, Path(out) / name, name, f"{Path(folder).name}@{weights}", reader)
        scored[name] = Scored(run_config(folder), model, None, summary)
    return scored


def evaluate_once(model: nn.Module | None, plates, out_dir: Path, method: str, run: str, reader=None) -> dict:
    """`evaluate` into `out_dir` (model None: the HR plates themselves), or the summary `out_dir`
    already holds from scoring the same `run` on the same plates at the same inference precision,
    read by OCR when a reader is given: an unchanged book re-evaluates nothing."""
    precision = "bf16" if model is not None and inference_bf16("auto", "cpu") else "fp32"
    summary = _cached_summary(Path(out_dir), run, plates, reader is not None, precision)
    if summary is None:
        summary = evaluate(model, plates, out_dir, method=method, reader=reader, run=run)
    return summary


def _cached_summary(folder: Path, run: str, test, ocr: bool, precision: str) -> dict | None:
    """The summary already in `folder` when it scored the same run on the same test plates at the
    same inference `precision` (with OCR if asked for)."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    same = (
        summary.get("run") == run
        and summary.get("precision") == precision
        and summary.get("n") == len(test)
        and summary.get("data") == {"root": test.summary.get("root"), "split": test.summary.get("split")}
        and summary.get("protocol") == json.loads(json.dumps(asdict(test.protocol)))
    )
    return summary if same and (not ocr or "ocr_exact" in summary) and (folder / "per_plate.csv").is_file() else None


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
    extra = [
        *overrides,
        *([f"data.root={json.dumps(str(data))}"] if data else []),
    ]  # quoted: a folder named 2024 stays a string
    scored = train_and_score(
        {name: method_config(name, profile, overrides=extra) for name in methods}, runs_dir, out, ocr, progress
    )
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


def read_summaries(out: str | Path, table: pd.DataFrame) -> dict[str, dict]:
    """Each evaluated row's summary.json (the numbers behind the formatted table)."""
    files = {name: Path(out) / name / "summary.json" for name in table.index}
    return {name: json.loads(f.read_text(encoding="utf-8")) for name, f in files.items() if f.is_file()}


def read_per_plate(out: str | Path, names) -> dict[str, pd.DataFrame]:
    """Each scored name's per-plate test scores (`out/<name>/per_plate.csv`), for those scored."""
    files = {name: Path(out) / name / "per_plate.csv" for name in names}
    return {name: pd.read_csv(f) for name, f in files.items() if f.is_file()}


def comparison_findings(table: pd.DataFrame, summaries: dict[str, dict], gan_select: str = "gan") -> dict[str, str]:
    """Chapter 3's sentences (Markdown), keyed for myst-nb's glue, from Table 1 (`compare`) and each
    row's summary (`read_summaries`): which method has the highest median test PSNR-Y (ties named
    together), the strongest competitor when it is not that method, the paper's model, one line
    per row, the budgets (and which rows train for fewer iterations), how ESRGAN's checkpoint is
    selected (`gan_select`) and TBSRN's parameter count."""
    label = {name: table.loc[name, "SR method"] if name in table.index else _label(name) for name in summaries}
    bicubic = number(summaries.get("bicubic", {}).get("psnr_y_median"), unit=" dB")
    scored = {name: s.get("psnr_y_median") for name, s in summaries.items() if name != "bicubic"}
    top = leaders(scored)
    if not top:
        best = f"no method: none was trained and scored (bicubic {bicubic})"
    else:
        tied = ", tied" if len(top) > 1 else ""
        best = f"{names([label[n] for n in top], '**')}{tied} ({number(scored[top[0]], unit=' dB')}; bicubic {bicubic})"
    rivals = {name: v for name, v in scored.items() if not name.startswith("ours")}
    rival_top = leaders(rivals)
    rival = ""
    if rival_top and not set(rival_top) & set(top):
        rival = f"The strongest competitor is {names([label[n] for n in rival_top], '')} ({number(rivals[rival_top[0]], unit=' dB')})."
    ours = " ".join(
        f"{label[n]} reaches {number(summaries[n].get('psnr_y_median'), unit=' dB')}."
        for n in ("ours-mse", "ours-pecl")
        if n in summaries
    )
    lines = [
        f"- {label[n]}: {number(s.get('psnr_y_median'), unit=' dB')} PSNR-Y, OCR exact {number(s.get('ocr_exact'), '.3f')}"
        for n, s in summaries.items()
    ]
    trained = table[table["run"] != "–"] if "run" in table else table.iloc[:0]
    budget = trained["iterations × batch"].to_dict()
    reference = budget.get("ours-mse")
    short = [n for n, b in budget.items() if reference and b != reference and "diverged" not in b]
    budget_text = f"({', '.join(sorted(set(budget.values()))) or 'no method was trained'} iterations × batch; the paper trains for 1,000k iterations at batch 128)"
    if short:
        budget_text += (
            f" — {', '.join(table.loc[n, 'SR method'] for n in short)} train for fewer iterations"
            f" ({', '.join(sorted({budget[n] for n in short}))}){_cost(trained, short)},"
            " so their rows are not a like-for-like comparison with the rest"
        )
    selection = "over the whole run"
    if gan_select == "gan":
        selection = "among the GAN phase's validations (the PSNR-first ones score higher, but are not ESRGAN)"
    tbsrn = ""
    if "tbsrn" in table.index:
        tbsrn = f"TBSRN's SR network has {table.loc['tbsrn', '#p']} parameters against the paper's 12M, which probably also counts the frozen recogniser its text loss reads with."
    return {
        "plates": f"{summaries.get('bicubic', {}).get('n', 0):,}",
        "best": best,
        "rival": rival,
        "ours": ours or "Neither of the paper's models (MSE, PECL) was scored.",
        "lines": "\n".join(lines) or "No method was scored.",
        "budget": budget_text,
        "esrgan_selection": selection,
        "tbsrn": tbsrn,
    }


def _cost(trained: pd.DataFrame, short: list[str]) -> str:
    """How many times an MSE iteration of ours each shorter-trained row's iteration costs in this
    build (its training speed against ours-mse's), as ": each iteration costs 3–5× one of ours"."""
    speed = pd.to_numeric(trained.get("train samples/s", pd.Series(dtype=float)), errors="coerce")
    if "ours-mse" not in speed or missing(speed["ours-mse"]):
        return ""
    ratios = [speed["ours-mse"] / speed[n] for n in short if n in speed and not missing(speed[n]) and speed[n] > 0]
    if not ratios:
        return ""
    low, high = min(ratios), max(ratios)
    spread = f"{low:.0f}×" if f"{low:.0f}" == f"{high:.0f}" else f"{low:.0f}–{high:.0f}×"
    return f": each of their iterations costs {spread} one of ours (MSE) on this machine"


def performance(
    table: pd.DataFrame, summaries: dict[str, dict], models: dict, paper_iterations: int, paper_batch: int
) -> pd.DataFrame:
    """Chapter 8's numbers, one row per method of a Table 1 (`compare`) named by its label: size,
    the arithmetic of one 8×8 → 64×64 pass, the training throughput of its run, the inference
    throughput and median PSNR-Y of its test evaluation (`summaries`), and the paper's budget in
    training arithmetic for the SR network alone (forward and backward FLOPs per patch × iterations
    × batch)."""
    rows = []
    for name, model in models.items():
        speed = table.loc[name, "train samples/s"]
        rows.append(
            {
                "method": table.loc[name, "SR method"],
                "parameters": count_parameters(model),
                "GFLOP per 8×8→64×64 forward": count_flops(model) / 1e9,
                "train samples/s (this machine)": None if speed == "–" else float(speed),
                "infer plates/s (this machine)": summaries[name]["plates_per_s"],
                "test PSNR-Y (dB)": summaries[name]["psnr_y_median"],
                "paper budget, PFLOP (model only)": count_flops(model, backward=True)
                * paper_iterations
                * paper_batch
                / 1e15,
            }
        )
    return pd.DataFrame(rows).set_index("method")


def performance_table(performance: pd.DataFrame) -> pd.DataFrame:
    """Chapter 8's table of cost and speed for the page: counts with thousands separators, speeds
    to one decimal, "–" where a method has no value (bicubic is not trained)."""

    def formatted(spec: str):
        return lambda v: "–" if missing(v) else format(v, spec)

    specs = {
        "parameters": ",.0f",
        "GFLOP per 8×8→64×64 forward": ".2f",
        "train samples/s (this machine)": ",.1f",
        "infer plates/s (this machine)": ",.1f",
        "test PSNR-Y (dB)": ".2f",
        "paper budget, PFLOP (model only)": ",.0f",
    }
    return index_in_corner(
        pd.DataFrame({column: performance[column].map(formatted(spec)) for column, spec in specs.items()})
    )


def performance_findings(performance: pd.DataFrame, paper_iterations: int, paper_batch: int) -> dict[str, str]:
    """Chapter 8's sentences (Markdown), keyed for myst-nb's glue, from its table of cost and speed
    (one row per method, named by its Table 1 label): the slowest and fastest training throughput,
    and what the paper's model costs per patch and would take at the paper's budget on this machine."""
    speed = performance["train samples/s (this machine)"].dropna() if len(performance) else pd.Series(dtype=float)
    if speed.empty:
        training = "was not measured: no method here was trained"
    elif number(speed.min(), ".1f") == number(speed.max(), ".1f"):
        training = f"runs at {number(speed.min(), '.1f')} samples/s for every method trained ({', '.join(speed.index)})"
    else:
        slowest, fastest = speed.idxmin(), speed.idxmax()
        training = f"runs from {number(speed[slowest], '.1f')} samples/s ({slowest}) to {number(speed[fastest], '.1f')} samples/s ({fastest})"
    ours = METHODS["ours-mse"].label
    if ours not in performance.index:
        model = "The paper's model is not among the methods measured here."
    else:
        row = performance.loc[ours]
        model = (
            f"The paper's model costs {number(row['GFLOP per 8×8→64×64 forward'])} GFLOP per patch and scores "
            f"{number(row['infer plates/s (this machine)'], '.1f')} whole plates/s; the paper's budget is "
            f"{number(row['paper budget, PFLOP (model only)'], ',.0f')} PFLOP of training arithmetic for it alone"
        )
        per_s = row["train samples/s (this machine)"]
        if missing(per_s) or not per_s > 0:
            model += " (its training throughput was not measured here, so no duration is given)."
        else:
            days = paper_iterations * paper_batch / per_s / 86400
            model += (
                f", which at this machine's {number(per_s, '.0f')} samples/s would take {number(days, ',.0f')} days."
            )
    return {"training": training, "paper_model": model}
