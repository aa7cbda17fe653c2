"""What chapters 7 to 9 (beyond the paper, performance, budget) decide from their numbers and glue into their pages:
a win, a loss and a tie or missing value each read as the page says it."""

from pathlib import Path

import pandas as pd

from lpsr.study.chapters.beyond import beyond_numbers
from lpsr.study.chapters.performance import performance_numbers
from lpsr.study.experiments import LEARNABLE_VARIANTS, Scored

POSITIVE, PAPER = LEARNABLE_VARIANTS


def _per_plate(conf, exact):
    return pd.DataFrame({"ocr_conf": conf, "exact": exact})


def _seeds(mse, pecl):
    frame = pd.DataFrame({"MSE PSNR-Y": mse, "PECL PSNR-Y": pecl}, index=range(len(mse)))
    frame["diff"] = frame["PECL PSNR-Y"] - frame["MSE PSNR-Y"]
    return frame


def test_beyond_numbers_answer_each_question_and_name_ties():
    readings = {
        "MSE": {"psnr_y_median": 20.0, "ocr_exact": 0.25},
        "PECL a": {"psnr_y_median": 20.5, "ocr_exact": 0.25},
        "PECL b": {"psnr_y_median": 19.0, "ocr_exact": 0.125},
    }
    per_plate = {"MSE": _per_plate([0.99, 0.95, 0.6, 0.4], [1, 0, 1, 0]), "PECL a": _per_plate([0.9, 0.5], [1, 0])}
    encoders = {
        "PECL, random encoder": Scored(None, summary={"psnr_y_median": 19.25}),
        "PECL, ImageNet encoder": Scored(None, error="no ImageNet weights at /x"),
        "PECL, plates encoder": Scored(None, error="diverged at iteration 3"),
    }
    real = pd.DataFrame(
        {"file": ["a", "b", "a", "b"], "method": ["as is", "as is", "MSE", "MSE"], "exact": [0, 0, 1, 0]}
    )
    kernels = {"seed": 0, "avx2 PSNR-Y": 19.94, "native PSNR-Y": 19.79, "avx2 val PSNR-Y": 19.73}
    kernels |= {"native val PSNR-Y": 19.64, "diff": 0.14, "diff_ci_low": -0.01, "diff_ci_high": 0.2}
    by_seed = _seeds([20.0, 20.2, 20.4], [20.1, 20.1, 20.6])
    found = beyond_numbers(readings, per_plate, encoders, by_seed, real, kernels=kernels)
    assert found["best_psnr"] == "20.50 dB" and found["best_psnr_by"] == "*PECL a*"  # a win
    assert found["best_exact"] == "25.0%" and found["best_exact_by"] == "*MSE* and *PECL a*"  # a tie of two
    assert found["auroc"] == "0.88" and found["confident"] == "0.9"
    assert found["sure_wrong"] == "1" and found["reads"] == "6"
    assert found["encoders"] == (
        "PECL, random encoder: 19.25 dB; PECL, ImageNet encoder: not trained (its weights file is missing);"
        " PECL, plates encoder: diverged (not scored)"
    )
    assert found["seeds"] == "0, 1, 2"
    assert found["seed_sd_mse"] == "0.20 dB" and found["seed_sd_pecl"] == "0.29 dB"
    assert found["seed_diffs"] == "between -0.10 and +0.20 dB"
    assert [found[k] for k in ("avx2_psnr", "native_psnr", "avx2_val", "native_val")] == [
        "19.94 dB",
        "19.79 dB",
        "19.73",
        "19.64 dB",
    ]
    assert found["kernel_diff"] == "+0.14 dB [-0.01, +0.20]"
    assert found["avx2_run"] == "was trained and scored in this build"
    assert found["real_crops"] == "2 of them" and found["real_reads"] == "0.0% as is and 50.0% after MSE"


def test_beyond_numbers_say_what_was_not_measured(monkeypatch):
    readings = {"MSE": {"psnr_y_median": 20.0, "ocr_exact": 0.25}, "PECL": {"psnr_y_median": 19.0, "ocr_exact": 0.25}}
    per_plate = {"MSE": _per_plate([0.5, 0.6], [1, 1])}  # no wrong read: AUROC undefined
    found = beyond_numbers(readings, per_plate, {}, _seeds([20.0], [20.004]), None)
    assert found["best_exact"] == "25.0%" and found["best_exact_by"] == "every variant alike"
    assert found["auroc"] == "not measured" and found["sure_wrong"] == "0" and found["reads"] == "2"
    assert found["encoders"] == "none trained"
    assert found["seed_sd_mse"] == found["seed_sd_pecl"] == "not measured"  # a single seed has no spread
    assert found["seed_diffs"] == "nil (below 0.01 dB)"
    assert found["real_crops"] == "skipped: no folder of them was given" and found["real_reads"] == "not measured"
    assert found["kernel_diff"] == found["avx2_psnr"] == found["native_val"] == "not measured"
    nothing = beyond_numbers({"MSE": {}}, {}, {}, _seeds([], []), pd.DataFrame(columns=["file", "method", "exact"]))
    assert (nothing["best_psnr"], nothing["best_psnr_by"]) == ("not measured", "no variant scored")
    assert (nothing["best_exact"], nothing["best_exact_by"]) == ("not measured", "no variant read by OCR")
    assert nothing["auroc"] == "not measured" and nothing["reads"] == "0"
    assert nothing["seeds"] == "none" and nothing["seed_diffs"] == "not measured"
    assert nothing["real_crops"] == "none could be read from the folder given"
    assert beyond_numbers({}, {}, {}, _seeds([20.0, 20.1], [20.1, 20.2]))["seed_diffs"] == "+0.10 dB"  # every seed
    monkeypatch.setattr("lpsr.study.chapters.beyond.has_avx512_kernels", lambda: False)
    assert beyond_numbers({}, {}, {}, _seeds([], []))["avx2_run"].startswith(
        "is not trained in this build: torch runs "
    )
    monkeypatch.setattr("lpsr.study.chapters.beyond.has_avx512_kernels", lambda: True)  # the AVX2 run failed
    assert beyond_numbers({}, {}, {}, _seeds([], []))["avx2_run"] == "has no test score in this build"


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


def test_performance_numbers_range_training_speed_and_price_the_papers_budget():
    found = performance_numbers(_performance({"Bicubic": None, "SRCNN": 400.0, "Ours (MSE)": 25.6}), 1_000_000, 128)
    assert (found["slowest_speed"], found["slowest"]) == ("25.6 samples/s", "Ours (MSE)")
    assert (found["fastest_speed"], found["fastest"]) == ("400.0 samples/s", "SRCNN")
    assert [found[k] for k in ("model_gflop", "model_plates", "model_pflop", "model_speed", "model_days")] == [
        "1.50 GFLOP",
        "12.3 whole plates/s",
        "576 PFLOP",
        "26 samples/s",
        "58 days",
    ]
    same = performance_numbers(_performance({"SRCNN": 25.61, "Ours (MSE)": 25.6}), 1_000_000, 128)
    assert same["slowest"] == same["fastest"] == "SRCNN and Ours (MSE)"  # tied at one decimal
    assert same["slowest_speed"] == same["fastest_speed"] == "25.6 samples/s"
    none = performance_numbers(_performance({"Bicubic": None, "Ours (MSE)": None}), 1_000_000, 128)
    assert (none["slowest_speed"], none["fastest"]) == ("not measured", "no method trained")
    assert none["model_gflop"] == "1.50 GFLOP" and none["model_speed"] == none["model_days"] == "not measured"
    gone = performance_numbers(_performance({"SRCNN": 10.0}, ours=False), 1_000_000, 128)
    assert {gone[k] for k in ("model_gflop", "model_plates", "model_pflop", "model_days")} == {"not measured"}


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
