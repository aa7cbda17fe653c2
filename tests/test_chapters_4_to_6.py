"""What chapters 4 to 6 (ablation, dynamics, qualitative) decide from their numbers and glue into their pages:
a win, a loss and a tie or missing value each read as the page says it."""

import numpy as np
import pandas as pd

from lpsr.study.chapters.ablation import ablation_findings
from lpsr.study.chapters.dynamics import dynamics_findings
from lpsr.study.chapters.qualitative import degradation_findings
from lpsr.study.experiments import LEARNABLE_VARIANTS

POSITIVE, PAPER = LEARNABLE_VARIANTS


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
    assert found == {
        "mse": "20.00 dB [19.80, 20.20]",
        "best_val": "21.00 dB",
        "best_level": "",
        "best_variant": "d = 128 with the Manhattan (L1) distance",
        "best_test": "20.50 dB",
        "best_gap": "+0.50 dB [+0.50, +0.50]",
        "best_share": ", better on 100% of them",
        "both_dims": "no d",
        "l1_psnr_y": "not measured",
        "l2_psnr_y": "not measured",
        "above_mse": "pecl-l1-d128",
        "ocr_exact_mse": "25.0%",
        "ocr_exact_pecl": "12.5% to 50.0%",
        "headline": "reading = positive, weighting = fixed, w_pixel = 0.99",
    }
    frame.loc["pecl-l2-d64", ["psnr_y_ci_low", "psnr_y_ci_high"]] = [20.3, 20.5]
    assert ablation_findings(frame, per_plate)["above_mse"] == "pecl-l1-d128 and pecl-l2-d64"
    lost = ablation_findings(frame, per_plate | {"pecl-l1-d128": np.full(20, 19.0)})
    assert lost["best_gap"] == "-1.00 dB [-1.00, -1.00]" and lost["best_share"] == ", better on 0% of them"


def test_ablation_findings_compare_the_distances_only_at_the_d_both_are_trained_at():
    frame = _ablation(pecl=((20.5, 20.3, 20.7), (20.1, 19.9, 20.3)))
    extra = frame.loc["pecl-l1-d128"].copy()
    extra[["d", "psnr_y_median"]] = [64, 30.0]  # an L1 arm with no L2 beside it: left out of the comparison
    frame.loc["pecl-l1-d64"] = extra
    frame.loc["pecl-l2-d64", "d"] = 128
    found = ablation_findings(frame, {})
    assert (found["both_dims"], found["l1_psnr_y"], found["l2_psnr_y"]) == ("d = 128", "20.50 dB", "20.10 dB")
    assert (found["best_gap"], found["best_share"]) == ("not measured", "")  # no per-plate scores
    frame.loc["pecl-l2-d64", "d"] = 64
    frame.loc["pecl-l2-d128"] = frame.loc["pecl-l2-d64"]
    frame.loc["pecl-l2-d128", "d"] = 128
    averaged = ablation_findings(frame, {})
    assert (averaged["both_dims"], averaged["l1_psnr_y"]) == ("d = 64, 128", "25.25 dB")


def test_ablation_findings_say_a_nil_difference_a_tie_and_what_is_not_measured():
    frame = _ablation(mse_ci=(19.0, 21.0))
    frame["ocr_exact"] = 0.0
    per_plate = {"ours-mse": np.full(20, 20.0), "pecl-l1-d128": np.full(20, 20.0), "pecl-l2-d64": np.full(20, 20.0)}
    found = ablation_findings(frame, per_plate)
    assert (found["best_gap"], found["best_share"]) == ("nil (below 0.01 dB, interval included)", "")
    assert found["above_mse"] == "none"
    assert (found["ocr_exact_mse"], found["ocr_exact_pecl"]) == ("0.0%", "0.0%")
    frame.loc["pecl-l2-d64", "val_psnr_y"] = 21.004  # validation's pick, and the variant level with it, are said
    tied = ablation_findings(frame, per_plate)
    assert (tied["best_val"], tied["best_level"]) == ("21.00 dB", "; 1 other is level with it to 0.01 dB")
    assert tied["best_variant"] == "d = 64 with the Euclidean (L2) distance"
    no_mse = ablation_findings(frame.drop(index="ours-mse").drop(columns="ocr_exact"), {})
    assert [no_mse[k] for k in ("mse", "above_mse", "ocr_exact_mse", "ocr_exact_pecl")] == ["not measured"] * 4
    frame["val_psnr_y"] = np.nan
    unfinished = ablation_findings(frame.loc[["ours-mse"]], per_plate)
    assert unfinished["best_variant"] == "none, as no PECL variant finished"
    assert [unfinished[k] for k in ("best_val", "best_test", "best_gap")] == ["not measured"] * 3
    assert unfinished["best_level"] == unfinished["best_share"] == ""


def test_dynamics_findings_range_the_contrast_and_count_runs_above_mse():
    contrasts = {
        "pecl-l1-d64": ([10, 20], [-0.02, 0.03]),
        "pecl-l1-d128": ([10, 20], [0.01, -0.01]),
        "pecl-l2-d64": ([10, 20], [0.0, 0.0]),
    }
    found = dynamics_findings(contrasts, {POSITIVE: 0.0, PAPER: None})
    assert found == {
        "first_iteration": "10",
        "first_contrast": "between -0.020 and +0.010",
        "last_iteration": "20",
        "last_contrast": "between -0.010 (pecl-l1-d128) and +0.030 (pecl-l1-d64)",
        "runs_above": "1 of 3",
        "runs_level": "1",
        "validations": "10, 20",
        "weights": f"0.000 ({POSITIVE}), not logged ({PAPER})",
        "weights_diverged": "none",
    }
    ended = dynamics_findings(contrasts, {POSITIVE: 0.8, PAPER: 0.3}, {POSITIVE: None, PAPER: 230})
    assert ended["weights"] == f"0.800 ({POSITIVE}), 0.300 ({PAPER})"
    assert ended["weights_diverged"] == f"{PAPER} at iteration 230"
    level = dynamics_findings({"a": ([10, 1000], [0.0001, -0.0002]), "b": ([10, 1000], [0.0, 0.0])}, {})
    assert (level["first_contrast"], level["last_contrast"]) == ("+0.000 for every run", "+0.000 for every run")
    assert (level["last_iteration"], level["runs_above"], level["runs_level"]) == ("1,000", "0 of 2", "1")
    ahead = dynamics_findings({"a": ([10, 20], [0.01, 0.02])}, {})
    assert (ahead["runs_above"], ahead["runs_level"]) == ("1 of 1", "none")
    none = dynamics_findings({"a": ([], [])}, {})
    assert [none[k] for k in ("first_iteration", "last_iteration", "validations", "weights_diverged")] == ["none"] * 4
    assert [none[k] for k in ("first_contrast", "last_contrast", "weights")] == ["not measured"] * 3
    assert (none["runs_above"], none["runs_level"]) == ("no", "none")


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
    assert found == {
        "blur_hr": "0.300",
        "blur_bicubic": "0.600",
        "blur_models": "0.500 for MSE and 0.450 for PECL (Man)",
        "pecl_sharpness": "sharper than",
        "noise_hr": "3.00",
        "noise_models": "1.50 (MSE) and 1.60 (PECL (Man))",
        "compression_bicubic": "1.200",
        "compression_models": "1.100 for MSE and 1.050 for PECL (Man)",
        "not_smoother": "none",
    }
    assert degradation_findings(_degradation(0.55))["pecl_sharpness"] == "blurrier than"
    assert degradation_findings(_degradation(0.5001))["pecl_sharpness"] == "as sharp as"
    assert degradation_findings(_degradation(0.2))["not_smoother"] == "*PECL (Man)*"
    assert degradation_findings(_degradation(0.45, models_blur=0.25))["not_smoother"] == "*MSE* and *PECL (Euc)*"
    unmeasured = degradation_findings(_degradation(np.nan, models_blur=np.nan))
    assert (unmeasured["pecl_sharpness"], unmeasured["not_smoother"]) == ("not compared with", "not measured")
    assert unmeasured["blur_models"] == "not measured for MSE and not measured for PECL (Man)"
    released = degradation_findings(_degradation(0.45).drop(["PECL (Man)", "PECL (Euc)"]), "MSE", None)
    assert (released["blur_models"], released["noise_models"]) == ("0.500 for MSE", "1.50 (MSE)")
    assert released["pecl_sharpness"] == "not compared with"


def test_the_ablation_claims_read_every_variant_the_ends_of_d_and_both_distances():
    from lpsr.study.chapters.ablation import ablation_claims

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
    from lpsr.study.chapters.budget import budget_claims
    from lpsr.study.chapters.dynamics import dynamics_claims
    from lpsr.study.chapters.qualitative import qualitative_claims

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
