"""The budget study: its runs are Table 1's at the profile's own budget, and its conclusions
(the trend of the paired gap, where MSE stops gaining) follow from the numbers."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lpsr.study.chapters.budget import (
    BUDGETS,
    PAPER_PATCHES,
    budget_claims,
    budget_configs,
    budget_fit,
    budget_numbers,
    budget_table,
    chosen_schedule,
    fit_numbers,
    gap_trend,
    mse_plateau,
    schedule_numbers,
    weight_choice,
    weight_configs,
    weight_numbers,
    weight_table,
)
from lpsr.study.experiments import EUCLIDEAN_LABEL, method_config, sweep_configs
from lpsr.study.findings import NOT_TESTABLE
from lpsr.study.plotting import budget_figure


def _frame(mse_val, gaps, its=(1000, 2000, 4000, 8000), l2_gaps=()):
    """Budget rows as `budget_sweep` returns them: MSE validation scores, PECL paired gaps (median,
    low, high), and the Euclidean variant's paired gaps at the first len(l2_gaps) budgets."""
    rows = []
    for k, (it, val, (d, lo, hi)) in enumerate(zip(its, mse_val, gaps)):
        base = {
            "iterations": it,
            "schedule": "wsd",
            "trained": it - (round(0.8 * its[k - 1]) if k else 0),  # after the stable phase of the budget below
            "patches": it * 16,
            "psnr_y_median": val,
            "psnr_y_ci_low": val - 0.3,
            "psnr_y_ci_high": val + 0.3,
            "ocr_exact": 0.8,
        }
        rows.append({"name": f"ours-mse-{it}", "loss": "MSE", "val_psnr_y": val, **base})
        rows.append(
            {
                "name": f"ours-pecl-{it}",
                "loss": "PECL",
                "val_psnr_y": val + d,
                **base,
                "diff_psnr_y": d,
                "diff_ci_low": lo,
                "diff_ci_high": hi,
            }
        )
        if k < len(l2_gaps):
            d, lo, hi = l2_gaps[k]
            rows.append(
                {
                    "name": f"pecl-l2-w0.03-{it}",
                    "loss": EUCLIDEAN_LABEL,
                    "val_psnr_y": val + d,
                    **base,
                    "diff_psnr_y": d,
                    "diff_ci_low": lo,
                    "diff_ci_high": hi,
                }
            )
    return pd.DataFrame(rows).set_index("name")


def test_budget_runs_share_a_wsd_schedule_and_cosine_runs_are_table_1s():
    configs = budget_configs("cpu", None, budgets=(4000, 1000, 2000, 8000), schedule="wsd")
    assert list(configs) == [
        f"{m}-{it}" for it in (1000, 2000, 4000, 8000) for m in ("ours-mse", "ours-pecl", "pecl-l2-w0.03")
    ]  # shortest first
    assert {c.train.schedule for c in configs.values()} == {"wsd"}
    assert configs["ours-pecl-8000"].train.iterations == 8000 and configs["ours-pecl-8000"].loss.name == "pecl"
    assert configs["ours-pecl-8000"].train.stable_until() == 6400
    assert configs["ours-mse-1000"].run_id() != method_config("ours-mse", "cpu").run_id()
    cosine = budget_configs("cpu", None)  # the paper's schedule unless asked
    assert cosine["ours-mse-1000"].run_id() == method_config("ours-mse", "cpu").run_id()
    assert cosine["ours-pecl-1000"].run_id() == method_config("ours-pecl", "cpu").run_id()


def test_schedule_numbers_say_whether_the_shared_schedule_selects_the_cosine_score_and_why_it_was_trained():
    row = {"iterations": 1000, "val_wsd": 21.30, "val_cosine": 21.24, "test_wsd": 21.5, "test_cosine": 21.49}
    same = pd.DataFrame(
        [
            {
                "loss": "MSE",
                **row,
                "diverged": None,
                "diff": 0.05,
                "diff_ci_low": -0.02,
                "diff_ci_high": 0.11,
                "same": True,
            }
        ]
    )
    assert chosen_schedule(same) == "cosine"  # one loss checked is not every loss
    both = pd.concat([same, same.assign(loss="PECL")])
    assert chosen_schedule(both) == "cosine"  # nor are two of the three
    every = pd.concat([both, same.assign(loss=EUCLIDEAN_LABEL, val_wsd=21.1)])
    assert chosen_schedule(every) == "wsd" and chosen_schedule(every, "cosine") == "cosine"
    found = schedule_numbers(every, "wsd")
    assert found["check_iterations"] == "1,000" and found["same_db"] == "0.15"
    assert [found[f"mse_{k}"] for k in ("val_wsd", "val_cosine", "test_diff", "compared")] == [
        "21.30",
        "21.24 dB",
        "+0.05 dB [-0.02, +0.11]",
        "the shared-schedule run did not diverge",
    ]
    assert found["pecl_val_wsd"] == "21.30" and found["l2_val_wsd"] == "21.10"
    assert (found["schedule_apart"], found["schedule_selects"]) == ("neither loss", "selects")
    assert found["schedule_reason"] == "as the check allows"
    assert schedule_numbers(every, "cosine")["schedule_reason"].startswith("as the chapter's `schedule` parameter asks")
    # the numbers measured on ccpd-mini at `cpu` (fp32): MSE apart on validation, PECL's wsd run diverged
    measured = pd.DataFrame(
        [
            {
                "loss": "MSE",
                **row,
                "val_wsd": 21.78,
                "val_cosine": 21.20,
                "diverged": None,
                "diff": 0.39,
                "diff_ci_low": 0.31,
                "diff_ci_high": 0.44,
                "same": False,
            },
            {
                "loss": "PECL",
                **row,
                "val_wsd": 18.72,
                "val_cosine": 19.82,
                "diverged": 735.0,
                "diff": -1.00,
                "diff_ci_low": -1.12,
                "diff_ci_high": -0.89,
                "same": False,
            },
        ]
    )
    assert chosen_schedule(measured) == "cosine"
    found = schedule_numbers(measured, "cosine")
    assert [found[f"pecl_{k}"] for k in ("val_wsd", "val_cosine", "test_diff", "compared")] == [
        "18.72",
        "19.82 dB",
        "-1.00 dB [-1.12, -0.89]",
        "the shared-schedule run diverged at iteration 735",
    ]
    assert (found["schedule_apart"], found["schedule_selects"]) == ("MSE and PECL", "does not select")
    assert found["schedule_reason"] == "as the check requires"
    assert "not Table 1's" in schedule_numbers(measured, "wsd")["schedule_reason"]
    failed = measured.iloc[[0]].assign(loss="PECL", error="loss diverged at iteration 5", same=False)
    assert schedule_numbers(failed, "cosine")["pecl_compared"] == "not compared: loss diverged at iteration 5"
    assert schedule_numbers(failed, "cosine")["schedule_apart"] == "PECL"


def test_gap_trend_needs_intervals_that_do_not_overlap():
    assert (
        gap_trend(
            _frame([21, 22, 23, 24], [(-1.2, -1.4, -1.0), (-1, -1.2, -0.8), (-0.7, -0.9, -0.5), (-0.3, -0.5, -0.1)])
        )
        == "rises"
    )
    assert (
        gap_trend(
            _frame([21, 22, 23, 24], [(-0.3, -0.5, -0.1), (-1, -1.2, -0.8), (-0.7, -0.9, -0.5), (-1.2, -1.4, -1.0)])
        )
        == "falls"
    )
    assert (
        gap_trend(
            _frame([21, 22, 23, 24], [(-1.0, -1.4, -0.6), (-1, -1.2, -0.8), (-0.7, -0.9, -0.5), (-0.8, -1.1, -0.5)])
        )
        == "holds"
    )


def test_mse_plateau_is_the_first_budget_whose_doubling_adds_less_than_the_threshold():
    gaps = [(-1, -1.2, -0.8)] * 4
    assert mse_plateau(_frame([21.0, 22.5, 23.6, 23.7], gaps)) == 4000
    assert mse_plateau(_frame([21.0, 22.5, 23.6, 24.5], gaps)) is None
    assert mse_plateau(_frame([21.0, 21.1, 23.6, 24.5], gaps)) is None  # a pause is not a plateau when gains resume
    assert mse_plateau(_frame([21.0, 22.5, 22.6, 22.65], gaps)) == 2000


def test_budget_numbers_and_table_say_what_the_numbers_say():
    frame = _frame(
        [21.23, 22.5, 23.6, 24.51], [(-1.2, -1.4, -1.0), (-1, -1.2, -0.8), (-0.7, -0.9, -0.5), (-0.3, -0.5, -0.1)]
    )
    found = budget_numbers(frame)
    assert found["budgets"] == "1,000, 2,000, 4,000, 8,000"
    assert (found["first_budget"], found["last_budget"]) == ("1,000", "8,000")
    assert found["trained"] == "9,400" and found["trained_against"] == "against 15,000 as separate runs"
    assert found["schedule"].startswith("with the shared schedule")
    assert found["gap_first"] == "-1.20 dB [-1.40, -1.00]" and found["gap_last"] == "-0.30 dB [-0.50, -0.10]"
    assert found["trend"] == "rises" and found["diverged_runs"] == "none"
    assert found["steps"] == (
        "from 1,000 to 2,000 iterations it holds, from 2,000 to 4,000 iterations it holds,"
        " from 4,000 to 8,000 iterations it holds"
    )  # -0.5 is the end of both intervals at 4,000 and 8,000: they touch, so it holds
    assert (
        found["plateau"]
        == ("none measured; it still gains +0.91 dB from 4,000 to 8,000 iterations, the last doubling measured")
        and found["plateau_db"] == "0.15"
    )
    assert budget_numbers(_frame([21.0, 22.5, 23.6, 23.7], [(-1, -1.2, -0.8)] * 4))["plateau"] == "4,000 iterations"
    falls = budget_numbers(_frame([21, 22], [(-0.3, -0.5, -0.1), (-1, -1.2, -0.8)], its=(1000, 2000)))
    assert falls["trend"] == "falls" and falls["steps"] == "from 1,000 to 2,000 iterations it falls"
    once = budget_numbers(_frame([21], [(-0.3, -0.5, -0.1)], its=(1000,)).assign(schedule="cosine", trained=1000))
    assert once["steps"] == "not measured" and once["trend"] == "holds"  # a single budget: nothing to move
    assert once["plateau"] == "none measured (no doubling of the budget measured)"
    assert once["schedule"].startswith("as a separate run") and once["trained_against"] == "the same as separate runs"
    assert (found["mse_first"], found["mse_last"]) == ("21.23 dB", "24.51 dB")
    frame.loc["ours-pecl-8000", ["diff_psnr_y", "diff_ci_low", "diff_ci_high"]] = np.nan  # a run that did not finish
    assert budget_numbers(frame)["gap_last"] == "not measured"
    table = budget_table(frame)
    assert table.loc[("MSE", "1,000"), "PECL − MSE, test PSNR-Y (dB) [95% CI]"] == "–"
    assert (
        table.loc[("PECL", "1,000"), "PECL − MSE, test PSNR-Y (dB) [95% CI]"] == "-1.2 [-1.4, -1.0]"
    )  # one significant digit of the 0.4-wide interval
    assert table.loc[("MSE", "8,000"), "patches seen"] == "128,000" and "nan" not in table.to_string()


def test_the_euclidean_variant_is_traced_over_every_budget_from_the_weight_sweeps_run():
    configs = budget_configs("cpu", None)
    traced = [name for name in configs if name.startswith("pecl-l2-w0.03-")]
    assert traced == [f"pecl-l2-w0.03-{it}" for it in BUDGETS["cpu"]]
    assert len(configs) == 3 * len(BUDGETS["cpu"]) and configs["pecl-l2-w0.03-4000"].train.iterations == 4000
    assert (configs["pecl-l2-w0.03-4000"].loss.distance, configs["pecl-l2-w0.03-4000"].loss.w_pixel) == ("l2", 0.97)
    assert configs["pecl-l2-w0.03-1000"].run_id() == weight_configs("cpu", None)["pecl-l2-w0.03"].run_id()
    frame = _frame(
        [21.0, 22.0, 23.0, 23.5],
        [(-1.2, -1.4, -1.0)] * 4,
        l2_gaps=[(0.1, 0.05, 0.15), (0.3, 0.25, 0.35), (0.05, 0.0, 0.1)],
    )
    found = budget_numbers(frame)
    assert found["l2_last_budget"] == "4,000" and found["last_budget"] == "8,000"
    assert (found["l2_gap_first"], found["l2_gap_last"]) == ("+0.10 dB [+0.05, +0.15]", "+0.05 dB [+0.00, +0.10]")
    assert found["l2_trend"] == "holds" and found["trend"] == "holds"  # each loss's own ends: the intervals overlap
    assert found["l2_steps"] == "from 1,000 to 2,000 iterations it rises, from 2,000 to 4,000 iterations it falls"
    assert budget_table(frame).loc[(EUCLIDEAN_LABEL, "2,000"), "PECL − MSE, test PSNR-Y (dB) [95% CI]"] == (
        "+0.3 [+0.2, +0.3]"
    )
    none = budget_numbers(_frame([21.0, 22.0], [(-1.2, -1.4, -1.0)] * 2, its=(1000, 2000)))
    assert (none["l2_last_budget"], none["l2_gap_first"], none["l2_trend"]) == ("no budget", "not measured", "holds")


def _scored(tmp_path, gains: dict[str, float], its=(1000, 2000, 4000, 8000), n=30):
    """Budget rows with per-plate test scores in `tmp_path/<name>/`: each loss's PSNR-Y rises by
    gains[loss] dB per tenfold patches seen over a shared per-plate base, 0.5 dB under MSE's at 16k."""
    base = np.random.default_rng(0).normal(20, 2, n)
    rows = []
    for prefix, loss in (("ours-mse", "MSE"), ("ours-pecl", "PECL"), ("pecl-l2-w0.03", EUCLIDEAN_LABEL)):
        for it in its:
            name, patches = f"{prefix}-{it}", it * 16
            scores = base + gains[loss] * np.log10(patches / 16_000) + (0 if loss == "MSE" else -0.5)
            (tmp_path / name).mkdir()
            pd.DataFrame({"psnr_y": scores}).to_csv(tmp_path / name / "per_plate.csv", index=False)
            rows.append({"name": name, "loss": loss, "iterations": it, "patches": patches, "diverged": None})
            rows[-1]["psnr_y_median"] = np.median(scores)
    return pd.DataFrame(rows).set_index("name")


def test_the_budget_fit_carries_each_loss_to_the_papers_budget_and_leaves_diverged_runs_out(tmp_path):
    frame = _scored(tmp_path, {"MSE": 1.0, "PECL": 1.0, EUCLIDEAN_LABEL: 2.0})
    fit = budget_fit(frame, tmp_path, resamples=100)
    assert fit["target"] == PAPER_PATCHES == 128_000_000 and fit["x"] == "patches"
    tenfolds = np.log10(PAPER_PATCHES / 16_000)
    assert abs(fit["gaps"][EUCLIDEAN_LABEL]["gap"] - (tenfolds - 0.5)) < 1e-6
    found = fit_numbers(fit)
    assert (found["mse_fit_slope"], found["pecl_fit_slope"], found["l2_fit_slope"]) == (
        "+1.00 dB",
        "+1.00 dB",
        "+2.00 dB",
    )
    assert found["fit_target"] == "128,000,000" and found["fit_decades"] == f"{np.log10(PAPER_PATCHES / 128_000):.1f}"
    assert found["pecl_fit_gap"].startswith("-0.5") and found["pecl_fit_cross"] == "nowhere above one patch"
    assert found["l2_fit_cross"] == f"at about {10**0.5 * 16_000:,.0f} patches seen"  # -0.5 + log10(x / 16k) = 0
    frame.loc["ours-pecl-8000", "diverged"] = 735  # its checkpoint is from before its budget: not a point of the line
    assert list(budget_fit(frame, tmp_path, resamples=10)["fits"]["PECL"]["x"]) == [16_000, 32_000, 64_000]
    empty = fit_numbers(budget_fit(frame.iloc[:1], tmp_path, resamples=10))
    assert empty["pecl_fit_gap"] == empty["mse_fit_slope"] == empty["fit_decades"] == "not measured"


def test_a_gap_that_rounds_to_zero_is_said_so_not_printed_as_minus_zero():
    frame = _frame([9.1, 9.2], [(-0.001, -0.004, -0.0001), (-0.02, -0.03, -0.02)], its=(10, 20))
    assert budget_numbers(frame)["gap_first"] == "nil (below 0.01 dB, interval included)"
    assert (
        budget_table(frame).loc[("PECL", "10"), "PECL − MSE, test PSNR-Y (dB) [95% CI]"] == "-0.001 [-0.004, +0.000]"
    )  # no "-0.00": three decimals, as the interval supports


def _weights_frame(val_diffs: dict, tests: dict):
    """Weight-sweep rows as `weight_sweep` returns them: MSE at 21.0 dB on validation, PECL settings
    (distance, w) with their validation difference and paired test difference (median, low, high)."""
    rows = [{"name": "ours-mse", "loss": "MSE", "distance": None, "w_contrastive": 0.0, "val_psnr_y": 21.0}]
    for (distance, w), val_diff in val_diffs.items():
        d, lo, hi = tests[(distance, w)]
        rows.append(
            {
                "name": f"pecl-{distance}-w{w:g}",
                "loss": "PECL",
                "distance": distance,
                "w_contrastive": w,
                "val_psnr_y": 21.0 + val_diff,
                "diff_psnr_y": d,
                "diff_ci_low": lo,
                "diff_ci_high": hi,
            }
        )
    frame = pd.DataFrame(rows).set_index("name")
    frame["val_diff"] = frame["val_psnr_y"] - 21.0
    frame[["psnr_y_median", "psnr_y_ci_low", "psnr_y_ci_high", "ocr_exact"]] = [21.2, 20.9, 21.5, 0.85]
    return frame


def test_the_weight_sweep_holds_table_1s_runs_and_each_weight_and_distance():
    configs = weight_configs("cpu", None)
    assert list(configs) == ["ours-mse"] + [f"pecl-{d}-w{w}" for d in ("l1", "l2") for w in ("0.001", "0.01", "0.03")]
    assert configs["ours-mse"].run_id() == method_config("ours-mse", "cpu").run_id()
    assert configs["pecl-l1-w0.01"].run_id() == method_config("ours-pecl", "cpu").run_id()  # the headline's weight
    chapter_4 = sweep_configs("cpu", None, arms={"l2": (128,)})["pecl-l2-d128"]
    assert configs["pecl-l2-w0.01"].run_id() == chapter_4.run_id()  # the Euclidean arm's 0.01 is trained once
    assert configs["pecl-l1-w0.03"].loss.w_pixel == 0.97 and configs["pecl-l1-w0.03"].train.schedule == "cosine"
    assert weight_configs("cpu", None, weights=(0.003,))["pecl-l2-w0.003"].loss.w_pixel == 0.997
    both = weight_configs("cpu", None, weights=(0.03,), distances=("l1", "l2"))
    assert [(c.loss.distance, c.loss.w_pixel) for c in both.values()][1:] == [("l1", 0.97), ("l2", 0.97)]


def test_the_weight_numbers_report_the_test_score_of_the_setting_validation_selects():
    from lpsr.study.chapters.budget import weight_claims

    val = {("l1", 0.003): -0.4, ("l1", 0.01): 0.2, ("l2", 0.01): 0.1}
    tests = {("l1", 0.003): (0.5, 0.3, 0.7), ("l1", 0.01): (-0.1, -0.3, 0.05), ("l2", 0.01): (-1, -1.2, -0.8)}
    frame = _weights_frame(val, tests)
    assert weight_choice(frame).name == "pecl-l1-w0.01"  # the best on validation, not the best on test
    found = weight_numbers(frame)
    assert found["weights_swept"] == "0.003, 0.01" and found["weight_distances"] == "L1 and L2"
    assert (found["weights_above"], found["weights_pecl"], found["weight_mse_val"]) == ("2", "3", "21.00 dB")
    assert (found["weight_val_low"], found["weight_val_high"]) == ("-0.40", "+0.20 dB")
    assert found["weight_choice"] == "L1 with w_contrastive = 0.01" and found["weight_choice_val"] == "21.20 dB"
    assert found["weight_diff"] == "-0.10 dB [-0.30, +0.05]" and found["weight_side"] == "indistinguishable from"
    [row] = weight_claims(frame, "notebooks/09_budget")
    assert row["verdict"] == "inconclusive" and "w_contrastive = 0.01" in row["measured"]
    table = weight_table(frame)
    assert table.loc[("MSE", "–", "–"), "val − MSE (dB)"] == "–"
    assert table.loc[("PECL", "L1", "0.003"), "val − MSE (dB)"] == "-0.40"
    below = _weights_frame({("l1", 0.01): -0.2}, {("l1", 0.01): (-0.5, -0.7, -0.3)})
    assert weight_numbers(below)["weight_side"] == "below"
    nil = _weights_frame({("l1", 0.01): -0.2}, {("l1", 0.01): (-0.002, -0.004, -0.001)})
    found = weight_numbers(nil)
    assert found["weight_diff"].startswith("nil") and found["weight_side"] == "level with"
    assert weight_claims(below, "notebooks/09_budget")[0]["verdict"] == "not reproduced"
    above = _weights_frame({("l1", 0.01): 0.2}, {("l1", 0.01): (0.5, 0.3, 0.7)})
    assert weight_numbers(above)["weight_side"] == "above" and weight_numbers(above)["weights_above"] == "1"
    none = weight_numbers(below.loc[["ours-mse"]])
    assert (none["weights_pecl"], none["weights_above"], none["weight_distances"]) == ("0", "0", "no distance")
    assert none["weight_choice"] == none["weight_diff"] == none["weight_val_low"] == "not measured"
    assert none["weight_side"] == "not compared with"


def test_a_sweep_with_a_diverged_run_claims_no_trend():
    frame = _frame([21.8, 22.9], [(-2.7, -3.1, -2.5), (-4.0, -4.1, -3.5)], its=(1000, 2000))
    frame["diverged"] = None
    frame.loc["ours-pecl-2000", "diverged"] = 735  # its row: the checkpoint selected before iteration 735
    assert gap_trend(frame) == "diverged"
    found = budget_numbers(frame)
    assert found["diverged_runs"] == "PECL at 2,000 iterations (at iteration 735)"
    assert found["trend"] == "is not measured" and found["steps"] == "not measured"
    assert budget_claims(frame, "notebooks/09_budget")[0]["verdict"] == NOT_TESTABLE


def test_the_budget_figure_marks_a_diverged_run_and_names_it_in_the_legend():
    frame = _frame([21.8, 22.9], [(-2.7, -3.1, -2.5), (-4.0, -4.1, -3.5)], its=(1000, 2000))
    frame["diverged"] = None
    frame.loc["ours-pecl-2000", "diverged"] = 735
    fig = budget_figure(frame)
    psnr, ocr, diff = fig.axes
    hollow = [line for line in psnr.lines if line.get_markerfacecolor() == "white"]
    assert [list(line.get_xdata()) for line in hollow] == [[2000 * 16]]
    assert list(hollow[0].get_ydata()) == [frame.loc["ours-pecl-2000", "psnr_y_median"]]
    assert "diverged" in [t.get_text() for t in psnr.get_legend().get_texts()][-1]
    assert [list(line.get_ydata()) for line in diff.lines if line.get_markerfacecolor() == "white"] == [[-4.0]]
    plt.close(fig)
