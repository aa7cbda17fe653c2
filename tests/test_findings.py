"""The chapters' conclusions, decided by the study layer's `*_findings` functions and glued into
their prose: a win, a loss and a tie or missing value each read as the sentence the page shows."""

import re

import numpy as np
import pandas as pd
import pytest

from lpsr.study.ablation import (
    LEARNABLE_VARIANTS,
    READING_VARIANTS,
    ablation_findings,
    beyond_findings,
    readings_findings,
    variant_configs,
    worked_step_findings,
)
from lpsr.study.compare import Scored, comparison_findings, performance_findings
from lpsr.study.figures import degradation_findings, dynamics_findings, pipeline_findings
from lpsr.study.prose import difference, leaders, names, number

POSITIVE, PAPER = LEARNABLE_VARIANTS


def test_numbers_say_missing_zero_and_ties_in_words():
    assert number(float("nan")) == "not measured" and number(None, absent="–") == "–"
    assert number(-0.001, "+.2f") == "+0.00" and number(-0.0004, ".3f") == "0.000" and number(-0.25, "+.2f") == "-0.25"
    assert number(-0.0001, ".1%") == "0.0%" and number(12345.6, ",.0f") == "12,346"
    assert difference(-0.001, -0.004, -0.0001) == "nil (below 0.01 dB, interval included)"
    assert difference(-0.5, -0.8, -0.2) == "-0.50 dB [-0.80, -0.20]"
    assert difference(0.5, np.nan, 0.7) == "not measured"
    assert leaders({"a": 20.001, "b": 20.004, "c": 19.0}) == ["a", "b"]  # tied at two decimals
    assert leaders({"a": np.nan}) == [] and leaders({"a": 1.0, "b": 2.0}, highest=False) == ["a"]
    assert names(["a"]) == "*a*" and names(["a", "b", "c"], "**") == "**a**, **b** and **c**"


def test_the_readings_are_named_once_and_the_chapters_share_their_runs():
    assert list(READING_VARIANTS)[:3] == ["MSE", POSITIVE, PAPER]
    configs = variant_configs("smoke", None, READING_VARIANTS)
    learnable = variant_configs("smoke", None, LEARNABLE_VARIANTS)
    assert configs[POSITIVE].run_id() == learnable[POSITIVE].run_id()
    assert {c.loss.weighting for name, c in learnable.items()} == {"paper"}
    assert configs[PAPER].loss.reading == "paper" and configs["MSE"].loss.name == "mse"


# chapter 1


def _summary(psnr_y, psnr, exact, conf, n=40):
    return {"n": n, "psnr_y_median": psnr_y, "psnr_median": psnr, "ocr_exact": exact, "ocr_conf_median": conf}


def test_pipeline_findings_give_the_gain_over_bicubic_or_say_there_is_none():
    bicubic, hr = _summary(19.0, 18.5, 0.1, 0.7), _summary(np.inf, np.inf, 0.9, 0.95)
    found = pipeline_findings(bicubic, _summary(20.25, 19.75, 0.125, 0.812), hr)
    assert found["plates"] == "40"
    assert found["psnr_y"] == "20.25 dB against 19.00 dB for bicubic interpolation, a difference of +1.25 dB"
    assert found["psnr"] == "19.75 vs 18.50 dB"
    assert found["ocr"] == (
        "PaddleOCR (PP-OCRv4) reads 12.5% of the SR plates exactly (median confidence, the paper's OCRρ, 0.812) "
        "against 10.0% (0.700) for bicubic and 90.0% (0.950) for the HR plates"
    )
    worse = pipeline_findings(bicubic, _summary(18.5, 18.0, 0.0, 0.5), hr)["psnr_y"]
    assert worse.endswith("a difference of -0.50 dB")
    tied = pipeline_findings(bicubic, _summary(18.998, 18.5, 0.1, 0.7), hr)["psnr_y"]
    assert tied.endswith("a difference below 0.01 dB")
    unread = pipeline_findings({"n": 0}, {"n": 0}, {"n": 0})
    assert (
        unread["psnr_y"] == "not measured (no test plate was scored)"
        and unread["ocr"] == "PaddleOCR did not read these plates"
    )


# chapter 2


def test_worked_step_says_when_the_papers_term_moves_sr_away_from_hr():
    worked = pd.DataFrame(
        {"D": [0.5, 0.5], "dterm/dD": [1.0, -3.0], "D after one step": [0.4, 0.6]}, index=["positive", "paper"]
    )
    found = worked_step_findings(worked)
    assert found == {
        "d": "0.500",
        "positive_step": "moves it to 0.400",
        "paper_slope": "-3.00",
        "paper_step": "moves it to 0.600 (**away** from HR)",
    }
    worked.loc["paper", ["dterm/dD", "D after one step"]] = [-0.0001, 0.50004]  # D > m: the term is flat
    assert worked_step_findings(worked)["paper_step"] == "leaves it at 0.500 (a change below 0.001)"
    assert worked_step_findings(worked)["paper_slope"] == "+0.00"


def _readings(val):
    configs = variant_configs("smoke", None, READING_VARIANTS)
    tests = {"bicubic": _summary(18.0, 17.5, 0.0, 0.5)} | {
        n: _summary(20.0 + i, 19.0, 0.0, 0.5) for i, n in enumerate(configs)
    }
    dynamics = {POSITIVE: {"distance": 0.0123, "w_pixel": 0.0}, PAPER: {"distance": 1.9, "w_pixel": 1.0}}
    return tests, dynamics, val, configs


def test_readings_findings_pick_the_pecl_variant_on_validation_and_check_the_headline():
    names_ = list(READING_VARIANTS)
    val = dict(zip(names_, [21.0, 19.0, 18.0, 20.5, 21.5]))  # the fixed-weight (headline) variant is best
    found = readings_findings(*_readings(val), diverged={})
    assert found["best_pecl"] == "*PECL positive (D², fixed w_pixel 0.99)* (21.50 dB; MSE alone: 21.00 dB)"
    assert found["headline_match"] == "the setting of that variant"
    assert found["headline"] == "name = pecl, reading = positive, weighting = fixed, w_pixel = 0.99"
    assert (found["d_positive"], found["d_paper"], found["w_positive"], found["w_paper"]) == (
        "0.012",
        "1.900",
        "0.000",
        "1.000",
    )
    assert (found["psnr_mse"], found["psnr_positive"], found["psnr_bicubic"]) == ("20.00 dB", "21.00 dB", "18.00 dB")
    assert found["diverged"] == "No run diverged." and found["plates"] == "40"
    val[names_[3]] = 22.0  # uncertainty weighting wins: the headline is not that variant
    found = readings_findings(*_readings(val), diverged={PAPER: 120})
    assert found["best_pecl"].startswith("*PECL positive (D², uncertainty w)* (22.00 dB")
    assert found["headline_match"].startswith("which is not that variant on this run")
    assert found["diverged"].startswith("*PECL paper (max(m−D,0)², learnable w)* diverged at iteration 120 (")
    val[names_[4]] = 22.001  # a tie at two decimals names both, and the headline is one of them
    found = readings_findings(*_readings(val), diverged={})
    assert found["best_pecl"] == (
        "*PECL positive (D², uncertainty w)* and *PECL positive (D², fixed w_pixel 0.99)*, tied (22.00 dB; MSE alone: 21.00 dB)"
    )
    assert found["headline_match"] == "the setting of that variant"


def test_readings_findings_say_what_was_not_trained():
    tests, _, _, configs = _readings({})
    only_mse = {"MSE": configs["MSE"]}
    found = readings_findings({"MSE": tests["MSE"]}, {}, {"MSE": 20.0}, only_mse, {})
    assert found["best_pecl"] == "no variant: none finished"
    assert found["d_positive"] == found["psnr_paper"] == "not measured (not trained)"


# chapter 3


def _table1(rows):
    """Table 1 rows as `compare` formats them: label, budget, run, #p."""
    frame = pd.DataFrame(rows, columns=["method", "SR method", "iterations × batch", "run", "#p"]).set_index("method")
    return frame


def test_comparison_findings_name_the_winner_the_rival_and_the_short_budgets():
    table = _table1(
        [
            ("bicubic", "Bicubic", "–", "–", "–"),
            ("espcn", "ESPCN", "20 × 4", "espcn-1", "0.80M"),
            ("tbsrn", "TBSRN", "10 × 4", "tbsrn-1", "3.10M"),
            ("ours-mse", "Ours (MSE)", "20 × 4", "lpsr-1", "2.00M"),
            ("ours-pecl", "Ours (PECL)", "20 × 4", "lpsr-2", "2.00M"),
        ]
    )
    summaries = {
        "bicubic": {"n": 24, "psnr_y_median": 18.0, "ocr_exact": 0.0},
        "espcn": {"psnr_y_median": 19.5, "ocr_exact": 0.125},
        "tbsrn": {"psnr_y_median": 19.0},
        "ours-mse": {"psnr_y_median": 20.0, "ocr_exact": 0.25},
        "ours-pecl": {"psnr_y_median": 19.75, "ocr_exact": 0.25},
    }
    found = comparison_findings(table, summaries)
    assert found["plates"] == "24"
    assert found["best"] == "**Ours (MSE)** (20.00 dB; bicubic 18.00 dB)"
    assert found["rival"] == "The strongest competitor is ESPCN (19.50 dB)."
    assert found["ours"] == "Ours (MSE) reaches 20.00 dB. Ours (PECL) reaches 19.75 dB."
    assert found["lines"].splitlines()[2] == "- TBSRN: 19.00 dB PSNR-Y, OCR exact not measured"
    assert found["budget"].startswith(
        "(10 × 4, 20 × 4 iterations × batch; the paper trains for 1,000k iterations at batch 128) — TBSRN train for fewer"
    )
    assert "costs" not in found["budget"]  # no speeds in the table: no cost said
    assert found["esrgan_selection"].startswith("among the GAN phase's validations")
    assert found["tbsrn"].startswith("TBSRN's SR network has 3.10M parameters")
    table["train samples/s"] = ["–", "400.0", "20.0", "100.0", "50.0"]
    assert (
        "(10 × 4): each of their iterations costs 5× one of ours (MSE) on this machine,"
        in comparison_findings(table, summaries)["budget"]
    )
    table = table.drop(columns="train samples/s")
    summaries["espcn"]["psnr_y_median"] = 20.001  # a competitor ties with ours: both named, no rival sentence
    found = comparison_findings(table, summaries, gan_select="psnr")
    assert found["best"] == "**ESPCN** and **Ours (MSE)**, tied (20.00 dB; bicubic 18.00 dB)"
    assert found["rival"] == "" and found["esrgan_selection"] == "over the whole run"
    found = comparison_findings(table.loc[["bicubic"]], {"bicubic": summaries["bicubic"]})
    assert found["best"] == "no method: none was trained and scored (bicubic 18.00 dB)"
    assert found["ours"] == "Neither of the paper's models (MSE, PECL) was scored." and found["tbsrn"] == ""


# chapter 4


def _ablation(mse_ci=(19.8, 20.2), pecl=((20.5, 20.3, 20.7), (20.1, 19.9, 20.3))):
    rows = [
        {
            "name": "ours-mse",
            "loss": "mse",
            "distance": None,
            "d": None,
            "val_psnr_y": 20.0,
            "psnr_y_median": 20.0,
            "psnr_y_ci_low": mse_ci[0],
            "psnr_y_ci_high": mse_ci[1],
            "ocr_exact": 0.25,
        }
    ]
    for (median, low, high), (distance, d, val, exact) in zip(pecl, (("l1", 128, 21.0, 0.5), ("l2", 64, 20.0, 0.125))):
        rows.append(
            {
                "name": f"pecl-{distance}-d{d}",
                "loss": "pecl",
                "distance": distance,
                "d": d,
                "val_psnr_y": val,
                "psnr_y_median": median,
                "psnr_y_ci_low": low,
                "psnr_y_ci_high": high,
                "ocr_exact": exact,
            }
        )
    return pd.DataFrame(rows).set_index("name")


def test_ablation_findings_set_the_validation_pick_against_mse():
    frame = _ablation()
    per_plate = {"ours-mse": np.full(20, 20.0), "pecl-l1-d128": np.full(20, 20.5), "pecl-l2-d64": np.full(20, 20.0)}
    found = ablation_findings(frame, per_plate)
    assert found["mse"] == "20.00 dB [19.80, 20.20]"
    assert found["best"] == (
        "The PECL variant with the best validation PSNR-Y (21.00 dB) is d = 128 with Manhattan (L1) distance; on test "
        "it reaches 20.50 dB, and paired over the same plates it differs from MSE by +0.50 dB [+0.50, +0.50], better on 100% of them."
    )
    assert found["by_distance"] == "The two distances are not both measured at any d, so they are not compared."
    assert found["beats"] == "Variants whose interval lies wholly above MSE's: pecl-l1-d128."
    assert found["ocr"] == "OCR reads 25.0% of MSE's plates exactly and between 12.5% and 50.0% of the PECL variants'."
    assert found["headline"] == "reading = positive, weighting = fixed, w_pixel = 0.99"


def test_ablation_findings_compare_the_distances_only_at_the_d_both_are_trained_at():
    frame = _ablation(pecl=((20.5, 20.3, 20.7), (20.1, 19.9, 20.3)))
    extra = frame.loc["pecl-l1-d128"].copy()
    extra[["d", "psnr_y_median"]] = [64, 30.0]  # an L1 arm with no L2 beside it: left out of the comparison
    frame.loc["pecl-l1-d64"] = extra
    frame.loc["pecl-l2-d64", "d"] = 128
    found = ablation_findings(frame, {})
    assert found["by_distance"] == (
        "At d = 128, the one size both are trained at, PSNR-Y is 20.50 dB for Manhattan (L1), 20.10 dB for Euclidean (L2)."
    )
    frame.loc["pecl-l2-d64", "d"] = 64
    frame.loc["pecl-l2-d128"] = frame.loc["pecl-l2-d64"]
    frame.loc["pecl-l2-d128", "d"] = 128
    assert ablation_findings(frame, {})["by_distance"].startswith(
        "Averaged over d = 64, 128, PSNR-Y is 25.25 dB for Manhattan"
    )


def test_ablation_findings_say_a_nil_difference_and_no_variant_above_mse():
    frame = _ablation(mse_ci=(19.0, 21.0))
    frame["ocr_exact"] = 0.0
    per_plate = {"ours-mse": np.full(20, 20.0), "pecl-l1-d128": np.full(20, 20.0), "pecl-l2-d64": np.full(20, 20.0)}
    found = ablation_findings(frame, per_plate)
    assert found["best"].endswith("its difference from MSE is nil (below 0.01 dB, interval included).")
    assert found["beats"].startswith("No PECL variant's interval lies wholly above MSE's: at this budget")
    assert found["ocr"] == "OCR reads 0.0% of MSE's plates exactly and 0.0% of every PECL variant's."
    frame.loc["pecl-l2-d64", "val_psnr_y"] = 21.004  # validation's pick, and the variant level with it, are said
    tied = ablation_findings(frame, per_plate)["best"]
    assert tied.startswith(
        "The PECL variant with the best validation PSNR-Y (21.00 dB; 1 other is level with it to 0.01 dB) is d = 64 with Euclidean (L2)"
    )
    frame["val_psnr_y"] = np.nan
    assert (
        ablation_findings(frame.loc[["ours-mse"]], per_plate)["best"]
        == "No PECL variant finished, so none is set against MSE."
    )


# chapter 5


def test_dynamics_findings_range_the_contrast_and_count_runs_above_mse():
    contrasts = {
        "pecl-l1-d64": ([10, 20], [-0.02, 0.03]),
        "pecl-l1-d128": ([10, 20], [0.01, -0.01]),
        "pecl-l2-d64": ([10, 20], [0.0, 0.0]),
    }
    found = dynamics_findings(contrasts, {POSITIVE: 0.0, PAPER: None})
    assert found["first"] == "(iteration 10) the contrast ranges from -0.020 to +0.010"
    assert found["last"] == "(iteration 20) from -0.010 (pecl-l1-d128) to +0.030 (pecl-l1-d64)"
    assert found["above"] == "1 of 3 PECL runs end above MSE on validation PSNR (1 level with it)"
    assert found["validations"] == "10, 20"
    assert found["weights"] == f"0.000 ({POSITIVE}), not logged ({PAPER})"
    ended = dynamics_findings(contrasts, {POSITIVE: 0.8, PAPER: 0.3}, {POSITIVE: None, PAPER: 230})["weights"]
    assert ended == f"0.800 ({POSITIVE}), 0.300 ({PAPER}; its loss diverged at iteration 230, where the run ended)"
    level = dynamics_findings({"a": ([10, 1000], [0.0001, -0.0002]), "b": ([10, 1000], [0.0, 0.0])}, {})
    assert level["first"] == "(iteration 10) the contrast is +0.000 for every run"
    assert level["last"] == "(iteration 1,000) it is +0.000 for every run"
    assert level["above"] == "0 of 2 PECL runs end above MSE on validation PSNR (1 level with it)"
    none = dynamics_findings({"a": ([], [])}, {})
    assert none["first"] == "no PECL run shares a validation with MSE" and none["weights"] == "not measured"


# chapter 6


def _degradation(pecl_blur, models_blur=0.5):
    rows = {
        "HR": (3.0, 0.3, 1.0),
        "bicubic": (1.0, 0.6, 1.2),
        "MSE": (1.5, models_blur, 1.1),
        "PECL (Man)": (1.6, pecl_blur, 1.05),
        "PECL (Euc)": (1.7, models_blur, 1.05),
    }
    return pd.DataFrame(rows, index=["noise", "blur", "compression"]).T


def test_degradation_findings_compare_pecl_blur_with_mse_and_hr():
    found = degradation_findings(_degradation(0.45))
    assert found["blur"] == "0.300 for HR, 0.600 for bicubic, 0.500 for MSE and 0.450 for PECL (Man)"
    assert found["sharper"] == "less blurred than MSE's by this measure (the paper: PECL restores sharper edges)"
    assert found["noise"] == "3.00 grey levels for HR against 1.50 (MSE) and 1.60 (PECL (Man))"
    assert found["compression"] == "1.200 for bicubic, 1.100 for MSE and 1.050 for PECL (Man)"
    assert found["smoother"] == "Every SR output is smoother than HR, whatever the loss, as the paper also notes."
    assert (
        degradation_findings(_degradation(0.55))["sharper"]
        == "more blurred than MSE's by this measure, the opposite of the paper"
    )
    assert degradation_findings(_degradation(0.5001))["sharper"].startswith("as blurred as MSE's by this measure")
    sharp = degradation_findings(_degradation(0.2))
    assert sharp["smoother"].startswith("Not every SR output is smoother than HR by this measure: *PECL (Man)* is not")
    unmeasured = degradation_findings(_degradation(np.nan, models_blur=np.nan))
    assert unmeasured["sharper"].startswith("not compared with MSE's")
    assert unmeasured["smoother"] == "Whether the SR outputs are smoother than HR is not measured here."
    released = degradation_findings(_degradation(0.45).drop(["PECL (Man)", "PECL (Euc)"]), "MSE", None)
    assert released["blur"] == "0.300 for HR, 0.600 for bicubic, 0.500 for MSE"
    assert released["sharper"].startswith("not compared with MSE's: this page shows no PECL model")
    assert released["noise"] == "3.00 grey levels for HR against 1.50 (MSE)"


# chapter 7


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
    monkeypatch.setattr("lpsr.study.ablation.has_avx512_kernels", lambda: False)
    found = beyond_findings(readings, per_plate, {}, _seeds([20.0], [20.004]), None)
    assert found["kernels"].startswith("The spread across machines is not measured in this build: torch runs ")
    monkeypatch.setattr("lpsr.study.ablation.has_avx512_kernels", lambda: True)  # the AVX2 run failed
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


# chapter 8


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
    from lpsr.study.compare import performance_table

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


@pytest.mark.parametrize("value", [float("nan"), None])
def test_missing_values_never_print_as_nan(value):
    found = pipeline_findings(_summary(value, value, value, value), _summary(value, value, value, value), {"n": 1})
    assert "nan" not in " ".join(found.values()).lower()


def test_the_performance_rows_come_from_the_table_the_summaries_and_the_models():
    from lpsr.evaluation.evaluate import load_model
    from lpsr.models import build_model, count_flops
    from lpsr.study.compare import performance
    from lpsr.study.figures import quality_speed_figure, speed_figure

    table = pd.DataFrame(
        {"SR method": ["Bicubic", "Ours (MSE)"], "train samples/s": ["–", "99.7"]}, index=["bicubic", "ours-mse"]
    )
    summaries = {
        "bicubic": {"plates_per_s": 500.0, "psnr_y_median": 19.0},
        "ours-mse": {"plates_per_s": 45.0, "psnr_y_median": 21.5},
    }
    model = build_model("lpsr", 8)
    found = performance(table, summaries, {"bicubic": load_model("bicubic")[0], "ours-mse": model}, 10, 2)
    assert list(found.index) == ["Bicubic", "Ours (MSE)"] and pd.isna(
        found.loc["Bicubic", "train samples/s (this machine)"]
    )
    assert found.loc["Ours (MSE)", "train samples/s (this machine)"] == 99.7
    assert found.loc["Ours (MSE)", "paper budget, PFLOP (model only)"] == count_flops(model, backward=True) * 20 / 1e15
    assert len(quality_speed_figure(found).axes[0].collections) == 2
    assert len(speed_figure(found).axes[0].patches) == 2  # a training bar each (bicubic's empty)


def test_table1_in_the_papers_layout_marks_the_best_and_the_second():
    from lpsr.study.compare import table1_layout, training_table

    table = pd.DataFrame(
        {
            "SR method": ["Bicubic", "SRCNN", "Ours (PECL)"],
            "#p": ["–", "69K", "2.12M"],
            "loss": ["–", "mse", "pecl"],
            "iterations × batch": ["–", "20 × 8", "20 × 8"],
            "lr": ["–", "0.002", "0.002"],
            "train samples/s": ["–", "60.0", "30.0"],
            "infer plates/s": ["170.0", "80.0", "40.0"],
            "ΔPSNR-Y vs bicubic [95% CI]": ["–", "+1.0 [+0.5, +1.5]", "+2.0 [+1.5, +2.5]"],
            "plates better than bicubic": ["–", "80%", "90%"],
        },
        index=["bicubic", "srcnn", "ours-pecl"],
    )
    summaries = {
        name: {f"{k}_median": v + i for k, v in (("psnr", 17.0), ("psnr_y", 18.0), ("ocr_conf", 0.5))}
        | {f"{k}_std": 1.0 for k in ("psnr", "psnr_y", "ocr_conf")}
        for i, name in enumerate(table.index)
    }
    html = table1_layout(table, summaries).to_html()
    rules = dict(
        (css.strip(), set(re.findall(r"row(\d)_col(\d)", cells)))
        for cells, css in re.findall(r"([^{}]+)\{([^}]*)\}", html)
    )
    # the highest here is the PECL row (2), the second SRCNN (1), in PSNR, PSNR-Y and OCRρ (columns 2, 4, 6)
    assert rules["font-weight: bold;"] == {("2", "2"), ("2", "4"), ("2", "6")}
    assert rules["text-decoration: underline;"] == {("1", "2"), ("1", "4"), ("1", "6")}
    assert "19.00 (± 1.00)" in html and "25.13 (± 2.46)" in html  # ours beside the paper's row
    second = training_table(table)
    assert list(second.data.columns)[-2:] == ["ΔPSNR-Y vs bicubic (dB) [95% CI]", "plates better than bicubic"]
    assert second.data.set_index("SR method").loc["SRCNN", "training (patches/s)"] == "60.0"
    assert "SR method" in second.to_html() and ">0<" not in second.to_html()  # the method a column, no index


def _paired_frames(a, b, key="psnr_y"):
    return pd.DataFrame({key: a}), pd.DataFrame({key: b})


def test_a_page_table_has_one_header_row_with_the_index_name_in_its_corner():
    from lpsr.study.prose import index_in_corner

    frame = pd.DataFrame({"method": ["bicubic", "MSE"], "plates": [94, 94]}).set_index("method")
    html = index_in_corner(frame).to_html()
    assert html.count("<tr") == 3 and "<th>method</th>" in html  # one header row and two rows
    assert index_in_corner(frame).loc["MSE", "plates"] == 94 and frame.index.name == "method"
    wide = pd.DataFrame({("MSE", "PSNR-Y"): [1.0]}, index=pd.Index(["皖A1"], name="plate"))
    assert index_in_corner(wide).to_html().count("<tr") == 3  # two header rows (model, score), one row


def test_supported_rounds_to_the_interval_width():
    from lpsr.study.prose import supported

    assert supported(-1.6049, -1.79, -1.43) == "-1.6 dB [-1.8, -1.4]"  # 0.36 wide: one decimal
    assert supported(0.0123, 0.004, 0.031, "") == "+0.01 [+0.00, +0.03]"  # 0.027 wide: two
    assert supported(-3.2, -6.0, -1.0) == "-3 dB [-6, -1]"
    assert supported(np.nan, 0, 1) == "not measured"


def test_a_claim_is_decided_by_its_paired_interval():
    from lpsr.study.findings import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, interval_verdict

    assert interval_verdict([{"ci_low": 0.1, "ci_high": 0.3}, {"ci_low": 0.01, "ci_high": 0.2}]) == REPRODUCED
    assert interval_verdict([{"ci_low": 0.1, "ci_high": 0.3}, {"ci_low": -0.4, "ci_high": -0.1}]) == NOT_REPRODUCED
    assert interval_verdict([{"ci_low": -0.1, "ci_high": 0.3}]) == INCONCLUSIVE
    assert interval_verdict([]) == NOT_TESTABLE


def test_the_comparison_claims_pair_pecl_with_mse_and_the_strongest_rival():
    from lpsr.study.findings import comparison_claims

    rng = np.random.default_rng(0)
    base = rng.normal(21, 1, 60)
    per_plate = {
        "ours-mse": pd.DataFrame({"psnr": base, "psnr_y": base + 1, "ocr_conf": np.full(60, 0.9)}),
        "ours-pecl": pd.DataFrame({"psnr": base - 1, "psnr_y": base, "ocr_conf": np.full(60, 0.9)}),
        "msrn": pd.DataFrame({"psnr_y": base + 2}),
        "srcnn": pd.DataFrame({"psnr_y": base - 5}),
    }
    summaries = {"bicubic": {"psnr_y_median": 18.0}, "msrn": {"psnr_y_median": 23.0}, "srcnn": {"psnr_y_median": 16.0}}
    rows = comparison_claims(summaries, per_plate, {"msrn": "MSRN"}, "notebooks/03_comparison")
    assert [r["verdict"] for r in rows] == ["not reproduced", "inconclusive", "not reproduced"]
    assert "PSNR-Y -1 dB" in rows[0]["measured"] or "PSNR-Y -1.0" in rows[0]["measured"]
    assert "MSRN (the strongest competitor)" in rows[2]["measured"]  # not SRCNN: the highest median
    assert all(r["chapter"] == "notebooks/03_comparison" for r in rows)
    none = comparison_claims({}, {}, {}, "c")
    assert [r["verdict"] for r in none] == ["not testable here"] * 3 and "not measured" in none[0]["measured"]


def test_the_ablation_claims_read_every_variant_the_ends_of_d_and_both_distances():
    from lpsr.study.findings import ablation_claims

    base = np.linspace(20, 22, 50)
    frame = pd.DataFrame(
        {
            "loss": ["mse", "pecl", "pecl", "pecl", "pecl"],
            "distance": [None, "l1", "l1", "l2", "l2"],
            "d": [None, 64, 512, 64, 512],
        },
        index=["ours-mse", "pecl-l1-d64", "pecl-l1-d512", "pecl-l2-d64", "pecl-l2-d512"],
    )
    shift = {"ours-mse": 0.0, "pecl-l1-d64": 0.5, "pecl-l1-d512": 0.9, "pecl-l2-d64": 0.2, "pecl-l2-d512": 0.4}
    per_plate = {name: base + s + np.sin(np.arange(50)) * 0.01 for name, s in shift.items()}
    every, rises, l1 = ablation_claims(frame, per_plate, "notebooks/04_ablation")
    assert every["verdict"] == "reproduced" and every["measured"].startswith("4 of 4 variants above MSE and 0 below")
    assert rises["verdict"] == "reproduced" and "L1, d = 512 − d = 64" in rises["measured"]
    assert l1["verdict"] == "reproduced" and "L1 − L2" in l1["measured"]
    only_l1 = ablation_claims(frame.iloc[:3], per_plate, "c")
    assert only_l1[2]["verdict"] == "not testable here"
    # L2 at d = 64 only: L1 is set against it at d = 64, its d = 512 arm left out (it would win)
    one_l2 = frame.drop(index="pecl-l2-d512")
    per_plate["pecl-l1-d64"] = base + 0.1
    _, _, at_64 = ablation_claims(one_l2, per_plate, "c")
    assert at_64["verdict"] == "not reproduced" and "L1 − L2, test PSNR-Y at d = 64" in at_64["measured"]


def test_the_dynamics_qualitative_and_budget_claims():
    from lpsr.study.findings import budget_claims, dynamics_claims, qualitative_claims

    (ahead,) = dynamics_claims({"a": ([250, 500], [0.01, -0.02]), "b": ([250, 500], [0.02, 0.0])}, "c")
    assert (
        ahead["verdict"] == "reproduced"
        and ahead["measured"].startswith("2 of 2 PECL runs ahead")
        and "iteration 250" in ahead["measured"]
    )
    (mixed,) = dynamics_claims({"a": ([250], [0.01]), "b": ([250], [-0.01])}, "c")
    assert mixed["verdict"] == "inconclusive"
    assert dynamics_claims({}, "c")[0]["verdict"] == "not testable here"
    plates = np.linspace(0.3, 0.5, 40)
    per_plate = {
        "MSE": pd.DataFrame({"blur": plates, "noise": plates * 10}),
        "PECL (Man)": pd.DataFrame({"blur": plates + 0.05, "noise": plates * 10 - 1}),
    }
    sharp, quiet = qualitative_claims(per_plate, "c")
    assert sharp["verdict"] == "not reproduced" and sharp["measured"].startswith("MSE − PECL, blur")  # blurrier
    assert quiet["verdict"] == "reproduced" and "grey levels" in quiet["measured"]  # though less noisy
    assert [r["verdict"] for r in qualitative_claims({}, "c")] == ["not testable here"] * 2
    budget = pd.DataFrame(
        {
            "loss": ["PECL", "PECL", "MSE"],
            "iterations": [1000, 8000, 1000],
            "diff_psnr_y": [-1.6, -2.0, np.nan],
            "diff_ci_low": [-1.79, -2.16, np.nan],
            "diff_ci_high": [-1.43, -1.81, np.nan],
        }
    )
    (gap,) = budget_claims(budget, "c")
    assert (
        gap["verdict"] == "not reproduced"
        and "at 1,000 iterations" in gap["measured"]
        and "at 8,000" in gap["measured"]
    )
    assert budget_claims(budget.iloc[:1], "c")[0]["verdict"] == "not testable here"


def test_the_intro_gathers_the_built_chapters_claims_in_book_order(tmp_path):
    from lpsr.study.findings import claim, findings_section, record_claims

    assert findings_section(tmp_path, ["notebooks/03_comparison"], {}) == ""
    record_claims(tmp_path, "notebooks/09_budget", [claim("late", "m9", "inconclusive", "notebooks/09_budget")])
    record_claims(tmp_path, "notebooks/03_comparison", [claim("early", "m3", "reproduced", "notebooks/03_comparison")])
    record_claims(tmp_path, "notebooks/04_ablation", [claim("not built", "m4", "reproduced", "notebooks/04_ablation")])
    section = findings_section(
        tmp_path, ["notebooks/03_comparison", "notebooks/09_budget"], {"notebooks/03_comparison": "4. Table 1"}
    )
    rows = [line for line in section.splitlines() if line.startswith("| early") or line.startswith("| late")]
    assert rows[0] == "| early | m3 | **reproduced** | {doc}`4. Table 1 <../notebooks/03_comparison>` |"
    assert rows[1].startswith("| late |") and "not built" not in section and section.startswith("## Findings")
