"""What chapters 7 to 9 (beyond the paper, performance, budget) decide from their numbers and glue into their pages:
a win, a loss and a tie or missing value each read as the page says it."""

from pathlib import Path

import pandas as pd

from lpsr.study.chapters.beyond import beyond_findings
from lpsr.study.chapters.performance import performance_findings
from lpsr.study.experiments import LEARNABLE_VARIANTS, Scored

POSITIVE, PAPER = LEARNABLE_VARIANTS


def _per_plate(conf, exact):
    return pd.DataFrame({"ocr_conf": conf, "exact": exact})


def _seeds(mse, pecl):
    frame = pd.DataFrame({"MSE PSNR-Y": mse, "PECL PSNR-Y": pecl}, index=range(len(mse)))
    frame["diff"] = frame["PECL PSNR-Y"] - frame["MSE PSNR-Y"]
    return frame


def test_beyond_findings_answer_each_question_and_say_ties_and_skips(monkeypatch):
    readings = {
        "MSE": {"psnr_y_median": 20.0, "ocr_exact": 0.25},
        "PECL a": {"psnr_y_median": 20.5, "ocr_exact": 0.25},
        "PECL b": {"psnr_y_median": 19.0, "ocr_exact": 0.125},
    }
    per_plate = {"MSE": _per_plate([0.99, 0.95, 0.6, 0.4], [1, 0, 1, 0]), "PECL a": _per_plate([0.9, 0.5], [1, 0])}
    encoders = {
        "PECL, random encoder": Scored(None, summary={"psnr_y_median": 19.25}),
        "PECL, ImageNet encoder": Scored(None, error="no ImageNet weights at /x"),
    }
    real = pd.DataFrame(
        {"file": ["a", "b", "a", "b"], "method": ["as is", "as is", "MSE", "MSE"], "exact": [0, 0, 1, 0]}
    )
    found = beyond_findings(readings, per_plate, encoders, _seeds([20.0, 20.2, 20.4], [20.1, 20.1, 20.6]), real)
    assert found["best_psnr"] == "*PECL a* has the highest median test PSNR-Y (20.50 dB)"
    assert found["best_exact"] == "*MSE* and *PECL a* share the most exact reads (25.0%)"
    assert found["auroc"] == (
        "PaddleOCR's confidence separates exact reads from wrong ones with a mean AUROC of 0.88 over those variants (0.5: chance)"
    )
    assert (
        found["sure_wrong"]
        == "1 of 6 reads were wrong with a confidence of 0.9 or more, so a high OCRρ does not by itself mean a plate was read"
    )
    assert (
        found["encoders"]
        == "PECL, random encoder: 19.25 dB; PECL, ImageNet encoder: not trained (its weights file is missing)"
    )
    assert found["seeds"] == "0, 1, 2"
    assert found["seed_spread"] == "varies with a standard deviation of 0.20 dB (MSE) and 0.29 dB (PECL)"
    assert found["seed_diffs"] == "ranges from -0.10 to +0.20 dB"
    assert found["real"] == (
        "**5.** On 2 real 94×24 crops PaddleOCR reads 0.0% exactly as is, 50.0% exactly after MSE. "
        "The crops are not ×8 downscales, so they lie outside what the models learnt."
    )
    readings["PECL b"]["ocr_exact"] = 0.25
    per_plate = {"MSE": _per_plate([0.5, 0.6], [1, 1])}  # no wrong read: AUROC undefined
    found = beyond_findings(readings, per_plate, {}, _seeds([20.0], [20.004]), None)
    assert found["best_exact"] == "all read the same share exactly (25.0%)"
    assert found["auroc"].startswith(
        "Whether PaddleOCR's confidence separates exact reads from wrong ones is not measured"
    )
    assert found["sure_wrong"] == "0 of 2 reads were wrong with a confidence of 0.9 or more"
    assert found["encoders"] == "no encoder was trained"
    assert found["seed_spread"] == "is measured at a single seed, so its spread over seeds is not measured"
    assert found["seed_diffs"] == "is nil at every seed (below 0.01 dB)"
    assert found["real"] == "**5.** Skipped: no folder of real small plates was given."
    monkeypatch.setattr("lpsr.study.chapters.beyond.has_avx512_kernels", lambda: False)
    found = beyond_findings(readings, per_plate, {}, _seeds([20.0], [20.004]), None)
    assert found["kernels"].startswith("The spread across machines is not measured in this build: torch runs ")
    monkeypatch.setattr("lpsr.study.chapters.beyond.has_avx512_kernels", lambda: True)  # the AVX2 run failed
    assert beyond_findings(readings, per_plate, {}, _seeds([20.0], [20.004]), None)["kernels"] == (
        "The spread across machines is not measured in this build: the PECL run with AVX2 kernels has no test score."
    )
    kernels = {"seed": 0, "avx2 PSNR-Y": 19.94, "native PSNR-Y": 19.79, "avx2 val PSNR-Y": 19.73}
    kernels |= {"native val PSNR-Y": 19.64, "diff": 0.14, "diff_ci_low": -0.01, "diff_ci_high": 0.2}
    assert beyond_findings(readings, per_plate, {}, _seeds([20.0], [20.004]), None, kernels=kernels)["kernels"] == (
        "Trained with AVX2 kernels, as an AVX2-only CPU trains it (in fp32, with a plates encoder pretrained "
        "with the same kernels), PECL seed 0 reaches a median test PSNR-Y of 19.94 dB against this machine's "
        "19.79 dB, a paired difference of +0.14 dB [-0.01, +0.20] (best validation PSNR-Y 19.73 against "
        "19.64 dB): the spread across machines, to read beside the spread over seeds."
    )


def _performance(speeds, ours=True):
    rows = [
        {
            "method": name,
            "train samples/s (this machine)": speed,
            "infer plates/s (this machine)": 12.34,
            "GFLOP per 8×8→64×64 forward": 1.5,
            "paper budget, PFLOP (model only)": 576.0,
        }
        for name, speed in speeds.items()
    ]
    frame = pd.DataFrame(rows).set_index("method")
    return frame if ours else frame.drop(index="Ours (MSE)", errors="ignore")


def test_performance_findings_range_training_speed_and_price_the_papers_budget():
    found = performance_findings(_performance({"Bicubic": None, "SRCNN": 400.0, "Ours (MSE)": 25.6}), 1_000_000, 128)
    assert found["training"] == "runs from 25.6 samples/s (Ours (MSE)) to 400.0 samples/s (SRCNN)"
    assert found["paper_model"] == (
        "The paper's model costs 1.50 GFLOP per patch and scores 12.3 whole plates/s; the paper's budget is 576 PFLOP "
        "of training arithmetic for it alone, which at this machine's 26 samples/s would take 58 days."
    )
    same = performance_findings(_performance({"SRCNN": 25.61, "Ours (MSE)": 25.6}), 1_000_000, 128)
    assert same["training"] == "runs at 25.6 samples/s for every method trained (SRCNN, Ours (MSE))"
    none = performance_findings(_performance({"Bicubic": None, "Ours (MSE)": None}), 1_000_000, 128)
    assert none["training"] == "was not measured: no method here was trained"
    assert none["paper_model"].endswith("(its training throughput was not measured here, so no duration is given).")
    gone = performance_findings(_performance({"SRCNN": 10.0}, ours=False), 1_000_000, 128)
    assert gone["paper_model"] == "The paper's model is not among the methods measured here."


def test_the_performance_table_has_separators_and_no_nan():
    from lpsr.study.chapters.performance import performance_table

    frame = _performance({"Bicubic": None, "Ours (MSE)": 1234.56}).assign(
        parameters=[0, 2_119_375], **{"test PSNR-Y (dB)": [18.98, 21.491]}
    )
    table = performance_table(frame)
    assert table.loc["Bicubic", "train samples/s (this machine)"] == "–"
    assert table.loc["Ours (MSE)", "train samples/s (this machine)"] == "1,234.6"
    assert (
        table.loc["Ours (MSE)", "parameters"] == "2,119,375" and table.loc["Ours (MSE)", "test PSNR-Y (dB)"] == "21.49"
    )
    assert "nan" not in table.to_string().lower()


def test_the_performance_rows_come_from_the_scored_runs(monkeypatch):
    from lpsr.evaluation.evaluate import load_model
    from lpsr.models import build_model, count_flops
    from lpsr.study.chapters.performance import performance
    from lpsr.study.plotting import quality_speed_figure, speed_figure

    monkeypatch.setattr("lpsr.study.chapters.performance.run_summary", lambda run: {"samples_per_s": 99.7})
    model = build_model("lpsr", 8)
    scored = {
        "bicubic": Scored(None, load_model("bicubic")[0], None, {"plates_per_s": 500.0, "psnr_y_median": 19.0}),
        "ours-mse": Scored(None, model, Path("run"), {"plates_per_s": 45.0, "psnr_y_median": 21.5}),
        "ours-pecl": Scored(None, error="diverged at iteration 3"),  # nothing to time: no row
    }
    found = performance(scored, 10, 2)
    assert list(found.index) == ["Bicubic", "Ours (MSE)"] and pd.isna(
        found.loc["Bicubic", "train samples/s (this machine)"]
    )
    assert found.loc["Ours (MSE)", "train samples/s (this machine)"] == 99.7
    assert found.loc["Ours (MSE)", "paper budget, PFLOP (model only)"] == count_flops(model, backward=True) * 20 / 1e15
    assert len(quality_speed_figure(found).axes[0].collections) == 2
    assert len(speed_figure(found).axes[0].patches) == 2  # a training bar each (bicubic's empty)
