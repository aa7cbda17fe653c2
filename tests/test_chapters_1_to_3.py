"""What chapters 1 to 3 (pipeline, PECL readings, Table 1) decide from their numbers and glue into their pages:
a win, a loss and a tie or missing value each read as the page says it."""

import re

import numpy as np
import pandas as pd
import pytest

from lpsr.study.chapters.comparison import comparison_findings
from lpsr.study.chapters.pecl_readings import readings_findings, worked_step_findings
from lpsr.study.chapters.pipeline import pipeline_findings
from lpsr.study.experiments import LEARNABLE_VARIANTS, READING_VARIANTS, variant_configs

POSITIVE, PAPER = LEARNABLE_VARIANTS


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


@pytest.mark.parametrize("value", [float("nan"), None])
def test_missing_values_never_print_as_nan(value):
    found = pipeline_findings(_summary(value, value, value, value), _summary(value, value, value, value), {"n": 1})
    assert "nan" not in " ".join(found.values()).lower()


def test_table1_in_the_papers_layout_marks_the_best_and_the_second():
    from lpsr.study.chapters.comparison import table1_layout, training_table

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


def test_the_comparison_claims_pair_pecl_with_mse_and_the_strongest_rival():
    from lpsr.study.chapters.comparison import comparison_claims

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
