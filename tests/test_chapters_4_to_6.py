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
