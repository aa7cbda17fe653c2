"""Chapter 10, does the answer change with data: the runs it names, the trend it fits and what it
decides and glues."""

import numpy as np
import pandas as pd

from lpsr.study.chapters.data_scale import (
    LOSSES,
    scale_claims,
    scale_configs,
    scale_fit,
    scale_numbers,
)
from lpsr.study.experiments import method_config


def test_the_sizes_are_subsets_of_the_train_plates_and_all_of_them_is_table_1s_run(synthetic_root):
    configs = scale_configs("smoke", None, (0.25, 1.0))
    assert list(configs) == [f"{loss} @ {share}" for share in ("1/4", "all") for loss in LOSSES]
    assert configs["MSE @ all"].run_id() == method_config("ours-mse", "smoke").run_id()  # the run cache shares it
    assert configs["PECL @ all"].run_id() == method_config("ours-pecl", "smoke").run_id()
    quarter = configs["MSE @ 1/4"].data.train_plates
    assert 0 < quarter < 120 and configs["PECL L2, w 0.03 @ 1/4"].data.train_plates == quarter
    assert (
        configs["PECL L2, w 0.03 @ all"].loss.distance == "l2" and configs["PECL L2, w 0.03 @ all"].loss.w_pixel == 0.97
    )


def _sweep(tmp_path, gains: dict[str, float], plates=(50, 100, 200, 400), n=30):
    """A scale sweep's rows and per-plate scores: each loss's PSNR-Y rises by gains[loss] dB per
    tenfold plates over a shared per-plate base, PECL rows paired with MSE."""
    base = np.random.default_rng(0).normal(20, 2, n)
    rows = []
    for loss, gain in gains.items():
        for p in plates:
            name = f"{loss} @ {p}"
            scores = base + gain * np.log10(p) + (0 if loss == "MSE" else -0.5)
            (tmp_path / name).mkdir()
            pd.DataFrame({"psnr_y": scores}).to_csv(tmp_path / name / "per_plate.csv", index=False)
            rows.append({"name": name, "loss": loss, "share": str(p), "plates": p, "psnr_y_median": np.median(scores)})
    frame = pd.DataFrame(rows).set_index("name")
    for name, row in frame[frame["loss"] != "MSE"].iterrows():
        diff = (gains[row["loss"]] - gains["MSE"]) * np.log10(row["plates"]) - 0.5
        frame.loc[name, ["diff_psnr_y", "diff_ci_low", "diff_ci_high"]] = (diff, diff - 0.05, diff + 0.05)
    return frame


def test_the_fit_carries_each_loss_to_the_papers_size_and_finds_where_the_lines_cross(tmp_path):
    frame = _sweep(tmp_path, {"MSE": 1.0, "PECL": 2.0})
    fit = scale_fit(frame, tmp_path, target=100_000, resamples=200)
    assert abs(fit["fits"]["MSE"]["slope"] - 1.0) < 1e-6 and abs(fit["fits"]["PECL"]["slope"] - 2.0) < 1e-6
    gap = fit["gaps"]["PECL"]
    assert abs(gap["gap"] - (5 - 0.5)) < 1e-6 and gap["ci_low"] <= gap["gap"] <= gap["ci_high"]
    assert abs(gap["crosses_at"] - 10**0.5) < 1e-6  # -0.5 + log10(x) = 0
    (closing,) = scale_claims(frame, "c")
    assert closing["verdict"] == "reproduced" and "at 50 train plates" in closing["measured"]
    found = scale_numbers(frame, fit, frame.iloc[:0].assign(seed=[]), frame.iloc[:0])
    assert found["sizes"] == "50, 100, 200 and 400" and found["pecl_move"] == "rises"
    assert found["mse_slope"] == "+1.00 dB" and found["pecl_slope"] == "+2.00 dB"
    assert found["pecl_cross"] == "at about 3 train plates" and found["target"] == "100,000"
    assert found["l2_first"] == found["seed_std_mse"] == found["enc_random"] == "not measured"


def test_parallel_lines_meet_nowhere_and_a_widening_gap_is_not_reproduced(tmp_path):
    frame = _sweep(tmp_path, {"MSE": 1.0, "PECL": 1.0})
    fit = scale_fit(frame, tmp_path, resamples=50)
    found = scale_numbers(frame, fit, frame.iloc[:0].assign(seed=[]), frame.iloc[:0])
    assert (
        found["pecl_cross"] == "nowhere above one plate"
        and found["pecl_move"] == "does not move beyond its two intervals"
    )
    assert scale_claims(frame, "c")[0]["verdict"] == "inconclusive"
    (tmp_path / "falling").mkdir()
    falling = _sweep(tmp_path / "falling", {"MSE": 2.0, "PECL": 1.0})
    assert scale_claims(falling, "c")[0]["verdict"] == "not reproduced"
    assert scale_claims(frame.iloc[:1], "c")[0]["verdict"] == "not testable here"
