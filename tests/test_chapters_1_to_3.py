"""What chapters 1 to 3 (pipeline, PECL readings, Table 1) decide from their numbers and glue into their pages:
a win, a loss and a tie or missing value each read as the page says it."""

import re

import numpy as np
import pandas as pd
import pytest

from lpsr.study.chapters.comparison import comparison_results, method_scores
from lpsr.study.chapters.pecl_readings import one_step_distances, readings_results
from lpsr.study.chapters.pipeline import scores_against_bicubic
from lpsr.study.experiments import LEARNABLE_VARIANTS, READING_VARIANTS, variant_configs

POSITIVE, PAPER = LEARNABLE_VARIANTS


def _summary(psnr_y, psnr, exact, conf, n=40):
    return {"n": n, "psnr_y_median": psnr_y, "psnr_median": psnr, "ocr_exact": exact, "ocr_conf_median": conf}


def test_pipeline_scores_give_the_gain_over_bicubic_and_each_read_share():
    bicubic, hr = _summary(19.0, 18.5, 0.1, 0.7), _summary(np.inf, np.inf, 0.9, 0.95)
    found = scores_against_bicubic(bicubic, _summary(20.25, 19.75, 0.125, 0.812), hr)
    assert found == {
        "plates": "40",
        "psnr_y_sr": "20.25 dB",
        "psnr_y_bicubic": "19.00 dB",
        "psnr_y_gain": "+1.25 dB",
        "psnr_sr": "19.75 dB",
        "psnr_bicubic": "18.50 dB",
        "exact_sr": "12.5%",
        "conf_sr": "0.812",
        "exact_bicubic": "10.0%",
        "conf_bicubic": "0.700",
        "exact_hr": "90.0%",
        "conf_hr": "0.950",
    }
    assert scores_against_bicubic(bicubic, _summary(18.5, 18.0, 0.0, 0.5), hr)["psnr_y_gain"] == "-0.50 dB"
    tied = scores_against_bicubic(bicubic, _summary(18.998, 18.5, 0.1, 0.7), hr)
    assert (tied["psnr_y_sr"], tied["psnr_y_gain"]) == ("19.00 dB", "less than 0.01 dB")
    unread = scores_against_bicubic({"n": 0}, {"n": 0}, {"n": 0})
    assert unread["plates"] == "0"
    assert {v for k, v in unread.items() if k != "plates"} == {"not measured"}


def test_worked_step_says_where_each_term_moves_sr():
    worked = pd.DataFrame(
        {"D": [0.5, 0.5], "dterm/dD": [1.0, -3.0], "D after one step": [0.4, 0.6]}, index=["positive", "paper"]
    )
    assert one_step_distances(worked) == {
        "d": "0.500",
        "paper_slope": "-3.00",
        "positive_after": "0.400",
        "positive_direction": "closer to HR",
        "paper_after": "0.600",
        "paper_direction": "**away** from HR",
    }
    worked.loc["paper", ["dterm/dD", "D after one step"]] = [-0.0001, 0.50004]  # D > m: the term is flat
    flat = one_step_distances(worked)
    assert (flat["paper_slope"], flat["paper_after"], flat["paper_direction"]) == (
        "+0.00",
        "0.500",
        "no change at three decimals",
    )


def _readings(val):
    configs = variant_configs("smoke", None, READING_VARIANTS)
    tests = {"bicubic": _summary(18.0, 17.5, 0.0, 0.5)} | {
        n: _summary(20.0 + i, 19.0, 0.0, 0.5) for i, n in enumerate(configs)
    }
    dynamics = {POSITIVE: {"distance": 0.0123, "w_pixel": 0.0}, PAPER: {"distance": 1.9, "w_pixel": 1.0}}
    return tests, dynamics, val, configs


def test_readings_results_pick_the_pecl_variant_on_validation_and_check_the_headline():
    names_ = list(READING_VARIANTS)
    val = dict(zip(names_, [21.0, 19.0, 18.0, 20.5, 21.5]))  # the fixed-weight (headline) variant is best
    found = readings_results(*_readings(val), diverged={})
    assert found == {
        "d_positive": "0.012",
        "d_paper": "1.900",
        "w_positive": "0.000",
        "w_paper": "1.000",
        "plates": "40",
        "psnr_mse": "20.00 dB",
        "psnr_positive": "21.00 dB",
        "psnr_paper": "22.00 dB",
        "psnr_bicubic": "18.00 dB",
        "diverged": "none",
        "best_pecl": "*PECL positive (D², fixed w_pixel 0.99)*",
        "best_pecl_psnr": "21.50 dB",
        "val_mse": "21.00 dB",
        "headline": "name = pecl, reading = positive, weighting = fixed, w_pixel = 0.99",
        "headline_match": "is",
    }
    val[names_[3]] = 22.0  # uncertainty weighting wins: the headline is not that variant
    found = readings_results(*_readings(val), diverged={PAPER: 120, POSITIVE: 1500})
    assert (found["best_pecl"], found["best_pecl_psnr"]) == ("*PECL positive (D², uncertainty w)*", "22.00 dB")
    assert found["headline_match"] == "is not"
    assert found["diverged"] == (
        "*PECL paper (max(m−D,0)², learnable w)* at iteration 120 and *PECL positive (D², learnable w)* at iteration 1,500"
    )
    val[names_[4]] = 22.001  # a tie at two decimals names both, and the headline is one of them
    found = readings_results(*_readings(val), diverged={})
    assert (
        found["best_pecl"] == "*PECL positive (D², uncertainty w)* and *PECL positive (D², fixed w_pixel 0.99)*, tied"
    )
    assert (found["best_pecl_psnr"], found["headline_match"]) == ("22.00 dB", "is")


def test_readings_results_say_what_was_not_trained():
    tests, _, _, configs = _readings({})
    found = readings_results({"MSE": tests["MSE"]}, {}, {"MSE": 20.0}, {"MSE": configs["MSE"]}, {})
    assert (found["best_pecl"], found["best_pecl_psnr"], found["val_mse"]) == (
        "no variant (none finished)",
        "not measured",
        "20.00 dB",
    )
    assert found["headline_match"] == "cannot be checked against"
    assert found["d_positive"] == found["psnr_paper"] == "not measured (not trained)"


def _table1(rows):
    """Table 1 rows as `compare` formats them: label, budget, run, #p."""
    frame = pd.DataFrame(rows, columns=["method", "SR method", "iterations × batch", "run", "#p"]).set_index("method")
    return frame


def _comparison():
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
    return table, summaries


def test_comparison_results_name_the_winner_the_rival_and_the_short_budgets():
    table, summaries = _comparison()
    assert comparison_results(table, summaries) == {
        "plates": "24",
        "best": "**Ours (MSE)**",
        "best_psnr": "20.00 dB",
        "bicubic_psnr": "18.00 dB",
        "rival": "ESPCN",
        "psnr_ours_mse": "20.00 dB",
        "psnr_ours_pecl": "19.75 dB",
        "budgets": "10 × 4, 20 × 4",
        "short_rows": "TBSRN",
        "short_budgets": "10 × 4",
        "short_cost": "not measured",  # no speeds in the table
        "esrgan_selection": "among the GAN phase's validations",
        "tbsrn_parameters": "3.10M",
    }
    table["train samples/s"] = ["–", "400.0", "20.0", "100.0", "50.0"]
    assert comparison_results(table, summaries)["short_cost"] == "5×"
    table.loc["espcn", ["iterations × batch", "train samples/s"]] = ["10 × 4", "25.0"]
    found = comparison_results(table, summaries)
    assert (found["short_rows"], found["short_budgets"], found["short_cost"]) == ("ESPCN and TBSRN", "10 × 4", "4–5×")


def test_comparison_results_name_ties_and_what_was_not_scored():
    table, summaries = _comparison()
    summaries["espcn"]["psnr_y_median"] = 20.001  # a competitor ties with ours: both named
    found = comparison_results(table, summaries, gan_select="psnr")
    assert (found["best"], found["best_psnr"], found["rival"]) == (
        "**ESPCN** and **Ours (MSE)**, tied",
        "20.00 dB",
        "ESPCN",
    )
    assert found["esrgan_selection"] == "over the whole run"
    table.loc["tbsrn", "iterations × batch"] = "10 × 4 (diverged)"  # cut short by divergence, not by its budget
    assert comparison_results(table, summaries)["short_rows"] == "none"
    found = comparison_results(table.loc[["bicubic"]], {"bicubic": summaries["bicubic"]})
    unscored = {
        "best": "no method",
        "best_psnr": "not measured",
        "rival": "none (no competitor was scored)",
        "psnr_ours_mse": "not measured",
        "psnr_ours_pecl": "not measured",
        "budgets": "none (no method was trained)",
        "short_rows": "none",
        "short_budgets": "none",
        "short_cost": "not measured",
        "tbsrn_parameters": "not counted (not in this table)",
    }
    assert {key: found[key] for key in unscored} == unscored


def test_method_scores_give_each_rows_psnr_y_and_exact_reads():
    table, summaries = _comparison()
    scores = method_scores(table, summaries)
    assert list(scores.index) == ["Bicubic", "ESPCN", "TBSRN", "Ours (MSE)", "Ours (PECL)"]
    assert scores.loc["TBSRN"].tolist() == ["19.00", "not measured"]
    assert scores.loc["ESPCN"].tolist() == ["19.50", "0.125"]
    assert scores.columns.name == "SR method"


@pytest.mark.parametrize("value", [float("nan"), None])
def test_missing_values_never_print_as_nan(value):
    found = scores_against_bicubic(_summary(value, value, value, value), _summary(value, value, value, value), {"n": 1})
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
