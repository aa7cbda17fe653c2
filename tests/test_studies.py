"""The book's studies beyond Table 1: the d x distance sweep, eq. 20 over training, OCR agreement,
real small plates, and the validation schedule behind the log-axis curves."""

import json

import numpy as np
import pandas as pd
import pytest

from lpsr.evaluation.evaluate import load_model
from lpsr.study.chapters.beyond import (
    SEEDS,
    avx2_name,
    kernel_difference,
    labelled_plates,
    ocr_agreement,
    read_before_and_after,
    real_plate_table,
    seed_counts,
)
from lpsr.study.chapters.dynamics import contrast_table, psnr_contrast
from lpsr.study.chapters.pecl_readings import parameter_table, readings_table
from lpsr.study.experiments import ARMS, DIMS, Scored, partial_arms, sweep_configs, variant_configs
from lpsr.study.plotting import ablation_figure, real_plates_figure, seed_figure
from lpsr.training.train import validation_points


def test_sweep_names_every_d_and_distance_and_shares_the_headline_run():
    configs = sweep_configs("smoke", arms={"l1": (64, 128), "l2": (64, 128)})
    assert list(configs) == ["ours-mse", "pecl-l1-d64", "pecl-l1-d128", "pecl-l2-d64", "pecl-l2-d128"]
    assert configs["pecl-l2-d64"].loss.dim == 64 and configs["pecl-l2-d64"].loss.distance == "l2"
    headline = variant_configs("smoke", None, {"PECL": ("ours-pecl", [])})["PECL"]
    assert configs["pecl-l1-d128"].run_id() == headline.run_id()  # the ablation reuses Table 1's run
    assert configs["ours-mse"].loss.name == "mse"


def test_the_profiles_arms_and_seeds_and_what_the_page_says_of_a_cut():
    assert list(sweep_configs("paper")) == ["ours-mse"] + [f"pecl-{k}-d{d}" for k in ("l1", "l2") for d in DIMS]
    assert list(sweep_configs("cpu")) == ["ours-mse"] + [f"pecl-l1-d{d}" for d in DIMS] + ["pecl-l2-d128"]
    assert partial_arms(ARMS["paper"]) == "none"
    assert partial_arms(ARMS["cpu"]) == "Euclidean (L2) at d = 128"
    assert partial_arms({"l1": (64, 128), "l2": (128,)}) == "Manhattan (L1) at d = 64, 128; Euclidean (L2) at d = 128"
    assert seed_counts(SEEDS["cpu"]) == {"seed_count": "2 seeds", "seed_values": "2 values", "paper_seeds": "3"}
    assert seed_counts((0,))["seed_count"] == "1 seed" and seed_counts((0,))["seed_values"] == "1 value"


def test_validation_points_add_a_log_grid_below_the_interval():
    assert validation_points(1500, 250, True) == {10, 20, 50, 100, 200, 250, 500, 750, 1000, 1250, 1500}
    assert validation_points(20, 10, True) == {10, 20}
    assert validation_points(1500, 250, False) == {250, 500, 750, 1000, 1250, 1500}
    assert validation_points(30, 25, True) == {10, 20, 25, 30}


def _log(run_dir, values):
    run_dir.mkdir()
    lines = [{"iteration": i, "val_psnr": v, "val_psnr_y": v} for i, v in values.items()]
    (run_dir / "log.jsonl").write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    return run_dir


def test_psnr_contrast_is_eq_20_at_the_shared_validations(tmp_path):
    mse = _log(tmp_path / "mse", {10: 20.0, 100: 25.0})
    pecl = _log(tmp_path / "pecl", {10: 19.0, 50: 22.0, 100: 26.0})
    iterations, contrast = psnr_contrast(pecl, mse)
    assert iterations == [10, 100]
    assert contrast == pytest.approx([-0.05, 0.04])


def test_contrast_table_has_a_row_per_run_but_the_baseline_and_a_column_per_shared_validation(tmp_path):
    mse = _log(tmp_path / "mse", {10: 20.0, 100: 25.0})
    runs = {"MSE": mse, "PECL": _log(tmp_path / "pecl", {10: 19.0, 50: 22.0, 100: 26.0})}
    table = contrast_table(runs, mse)
    assert list(table.index) == ["PECL"] and list(table.columns) == [10, 100]
    assert table.loc["PECL"].tolist() == pytest.approx([-0.05, 0.04])


def test_parameter_table_formats_counts_and_shares_of_the_whole():
    table = parameter_table({"head": 1000, "body.0": 2000, "tail": 1000})
    assert table["parameters"].tolist() == ["1,000", "2,000", "1,000"]
    assert table["share"].tolist() == ["25.0%", "50.0%", "25.0%"]


def test_readings_table_adds_the_learnt_terms_and_where_a_run_diverged():
    summary = {"n": 4, "psnr_median": 20.0, "psnr_std": 1.0, "psnr_ci_low": 19.5, "psnr_ci_high": 20.5}
    summaries = [summary | {"method": "MSE"}, summary | {"method": "PECL"}]
    table = readings_table(summaries, {"MSE": {"mse": 0.01}, "PECL": {"distance": 0.5, "w_pixel": 0.99}}, {"PECL": 300})
    assert table.loc["PECL", "final distance"] == "0.500" and table.loc["PECL", "final w_pixel"] == "0.990"
    assert table["diverged at"].tolist() == ["–", 300]
    assert "final distance" in table.columns and pd.isna(table.loc["MSE", "final distance"])


def test_ocr_agreement_counts_sure_but_wrong_reads_and_auroc():
    frame = pd.DataFrame({"ocr_conf": [0.99, 0.95, 0.6, 0.4], "exact": [1, 0, 1, 0]})
    agreement = ocr_agreement(frame)
    assert agreement["conf>=0.9_but_wrong"] == 0.25 and agreement["conf<0.9_but_exact"] == 0.25
    assert agreement["auroc"] == pytest.approx(0.75)  # 3 of the 4 (right, wrong) pairs ordered right
    assert np.isnan(ocr_agreement(pd.DataFrame({"ocr_conf": [0.9], "exact": [1]}))["auroc"])  # no wrong read to rank


def test_ablation_figure_draws_a_line_per_distance_and_the_mse_band():
    rows = [
        {"loss": "mse", "distance": None, "d": None, "psnr_median": 20.0, "psnr_ci_low": 19.5, "psnr_ci_high": 20.5}
    ]
    rows += [
        {
            "loss": "pecl",
            "distance": dist,
            "d": d,
            "psnr_median": 20 + d / 512,
            "psnr_ci_low": 19.0,
            "psnr_ci_high": 21.0,
        }
        for dist in ("l1", "l2")
        for d in (64, 128)
    ]
    fig = ablation_figure(pd.DataFrame(rows), ("psnr",))
    assert len(fig.axes[0].lines) == 3  # two distances and the MSE line
    one = ablation_figure(pd.DataFrame(rows[:-1]), ("psnr",)).axes[0]  # L2 at d = 64 only: an error bar
    assert len(one.collections) == 2 and len(one.containers) == 1  # L1's band, MSE's band; L2's bar


def test_seed_figure_draws_each_losss_median_at_each_seed():
    seeds = pd.DataFrame({"seed": [0, 1, 2], "MSE PSNR-Y": [21.4, 21.2, 21.5], "PECL PSNR-Y": [19.6, 20.0, 19.8]})
    ax = seed_figure(seeds.set_index("seed")).axes[0]
    assert [line.get_label() for line in ax.lines] == ["MSE", "PECL"]
    assert list(ax.lines[1].get_ydata()) == [19.6, 20.0, 19.8] and list(ax.get_xticks()) == [0, 1, 2]
    ax = seed_figure(seeds.set_index("seed"), {"seed": 0, "avx2 PSNR-Y": 19.9}).axes[0]
    assert ax.lines[2].get_label() == "PECL, AVX2 kernels" and list(ax.lines[2].get_ydata()) == [19.9]


def test_the_avx2_run_is_set_against_this_machines_run_of_its_seed(tmp_path):
    scored = {}
    for name, psnr, val in ((avx2_name(1), [20.0, 21.0, 22.0], 19.7), ("PECL seed 1", [19.9, 20.8, 21.9], 19.6)):
        (tmp_path / name).mkdir()
        pd.DataFrame({"psnr_y": psnr}).to_csv(tmp_path / name / "per_plate.csv", index=False)
        run = tmp_path / "runs" / name
        run.mkdir(parents=True)
        (run / "done.json").write_text(json.dumps({"best": {"val_psnr_y": val}}))
        scored[name] = Scored(None, run=run, summary={"psnr_y_median": float(np.median(psnr))})
    kernels = kernel_difference(scored, tmp_path, 1)
    assert kernels["seed"] == 1 and kernels["avx2 PSNR-Y"] == 21.0 and kernels["native val PSNR-Y"] == 19.6
    assert (
        kernels["diff"] == pytest.approx(0.1) and kernels["diff_ci_low"] <= kernels["diff"] <= kernels["diff_ci_high"]
    )
    assert kernel_difference({"PECL seed 1": scored["PECL seed 1"]}, tmp_path, 1) is None  # not trained here


class _Reader:
    """A stand-in OCR that 'reads' a plate exactly when it is wider than 100 px."""

    def read(self, images):
        return [("京PL3N67" if image.shape[1] > 100 else "?", 0.5) for image in images]


def test_real_plates_are_read_as_they_are_and_after_each_model(shared_data, tmp_path, capsys):
    folder = shared_data / "plates-94x24"
    files, texts = labelled_plates(folder, limit=3)
    assert len(files) == 3 and all(len(t) == 7 for t in texts)
    frame = read_before_and_after(folder, {"bicubic": load_model("bicubic")[0]}, _Reader(), limit=3, progress=False)
    assert list(frame["method"].unique()) == ["as is", "bicubic"] and len(frame) == 6
    bicubic = frame[frame["method"] == "bicubic"]
    assert (bicubic["exact"] == (bicubic["plate"] == "京PL3N67").astype(int)).all()  # x8 plates are 752 px wide
    table = real_plate_table(frame)
    assert list(table.index) == ["as is", "bicubic"] and (table["plates"] == 3).all()
    assert table.loc["bicubic", "read exactly"] == round(bicubic["exact"].mean(), 3)
    assert table.loc["as is", "OCRρ (median confidence)"] == 0.5
    assert len(real_plates_figure(table).axes[0].patches) == 4  # two methods × two shares
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    (tmp_path / "京PL3N67.jpg").write_bytes((folder / "京PL3N67.jpg").read_bytes())
    frame = read_before_and_after(tmp_path, {}, _Reader(), progress=False)
    assert len(frame) == 1 and "bad.jpg: cannot read as an image" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        labelled_plates(tmp_path / "nope")


def test_plate_explorer_shows_the_chosen_plate_and_method(ccpd_mini):
    from lpsr.data.plates import PlateProtocol, load_plates
    from lpsr.study.chapters.qualitative import plate_explorer, plate_view

    plates = load_plates(ccpd_mini, "val", PlateProtocol(), progress=False)
    models = {"bicubic": load_model("bicubic")[0]}
    fig, line = plate_view(models, plates, 2, "bicubic", _Reader())
    assert line.startswith("bicubic: PSNR ") and "OCR reads" in line and plates.texts[2] in line
    assert len(fig.axes) == 3
    explorer = plate_explorer(models, plates)
    dropdown, buttons, image, caption = explorer.children
    first, first_caption = image.value, caption.value
    assert bytes(first[:4]) == b"\x89PNG" and first_caption.startswith("<pre>bicubic: PSNR ")
    dropdown.value = 3  # choosing another plate redraws the image and the scores
    assert image.value != first and caption.value != first_caption
    assert buttons.options == ("bicubic",)


def test_moving_average_keeps_the_scale_and_length_of_a_short_series():
    from lpsr.study.plotting import moving_average

    assert np.allclose(moving_average([0.99] * 20, 25), 0.99)  # a 20-iteration run is not scaled by 20/25
    assert np.allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


def test_loss_curves_plot_at_the_logged_iterations_with_one_legend(tmp_path):
    from lpsr.study.plotting import loss_curves

    runs = {}
    for name, value in (("a", 0.99), ("b", 0.5)):
        run = tmp_path / name
        run.mkdir()
        lines = [json.dumps({"iteration": i, "loss": 1.0, "mse": 0.1, "w_pixel": value}) for i in range(1, 21)]
        (run / "log.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        runs[name] = run
    fig = loss_curves(runs, keys=("w_pixel", "mse"))
    line = fig.axes[0].lines[0]
    assert list(line.get_xdata()) == list(range(1, 21)) and np.allclose(line.get_ydata(), 0.99)
    assert fig.axes[0].lines[0].get_color() == fig.axes[1].lines[0].get_color()  # a run keeps its colour across panels
    assert len(fig.legends) == 1 and [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]


def test_method_grid_has_a_row_per_method_a_column_per_plate_and_fits_the_page():
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from lpsr.inference import super_resolve
    from lpsr.metrics import psnr_rgb, psnr_y
    from lpsr.study.plotting import PAGE_WIDTH, method_grid, plate_grid

    rng = np.random.default_rng(0)
    hr = [rng.integers(0, 256, (64, 208, 3), dtype=np.uint8) for _ in range(3)]
    plates = SimpleNamespace(hr=hr, lr=[h[::8, ::8].copy() for h in hr], texts=["京A12345", "沪B67890", "粤C24680"])
    bicubic = load_model("bicubic")[0]
    labels = {"bicubic": "Bicubic", "ours-pecl": "Ours (PECL)"}  # as Table 1 names them
    fig = method_grid({"bicubic": bicubic, "ours-pecl": bicubic}, plates, [0, 1, 2], labels=labels)
    assert fig.get_figwidth() <= PAGE_WIDTH + 1e-9
    positions = [ax.get_position() for ax in fig.axes]
    assert len({round(p.x0, 4) for p in positions}) == 3  # plates as columns
    assert len({round(p.y0, 4) for p in positions}) == 4 and len(fig.axes) == 12  # LR, two methods, HR as rows
    texts = [t.get_text() for t in fig.texts]
    assert {"LR", "Bicubic", "Ours (PECL)", "HR", "京A12345"} <= set(texts)  # the display names given
    sr = super_resolve(bicubic, [plates.lr[1]])[0]
    assert f"PSNR / PSNR-Y: {psnr_rgb(sr, hr[1]):.1f} / {psnr_y(sr, hr[1]):.1f} dB" in texts
    assert sum(t.startswith("PSNR / PSNR-Y: ") and t.endswith(" dB") for t in texts) == 6
    assert "26×8 px" in texts and "208×64 px" in texts  # LR and HR sizes
    assert min(t.get_fontsize() for t in fig.texts) >= 9
    plt.close(fig)
    # six plates with captions too wide for six side by side wrap into two bands of three
    fig = plate_grid({"a": hr * 2, "b": hr * 2}, captions={"b": ["PSNR / PSNR-Y: 18.2 / 19.9 dB"] * 6})
    positions = [ax.get_position() for ax in fig.axes]
    assert len({round(p.x0, 4) for p in positions}) == 3 and len({round(p.y0, 4) for p in positions}) == 4
    plt.close(fig)


def test_the_block_diagrams_are_drawn_from_the_modules():
    from lpsr.losses.encoder import PlateEncoder
    from lpsr.losses.pecl import PECLLoss
    from lpsr.models import build_model, count_parameters
    from lpsr.study.plotting import cited_equations, describe, network_diagram, pecl_diagram

    model = build_model("lpsr", 8)
    assert cited_equations(model) == {
        "head": "eq. 5",
        "blocks": "eq. 6-7",
        "attention": "eq. 8-11",
        "upsample": "eq. 12",
        "tail": "eq. 13",
    }
    assert describe(model.upsample) == "3 × (ConvTranspose2d 64→64, 4×4, stride 2, ReLU)"
    assert describe(model.blocks).startswith("8 × ResidualDenseBlock: dense 3x3 convolutions")
    texts = [t.get_text() for t in network_diagram(model).axes[0].texts]
    assert "blocks  (eq. 6-7)" in texts and "1,792 parameters · out 64 × 8 × 8" in texts  # the head, on an 8×8 patch
    assert f"3 × 64 × 64 ({count_parameters(model):,} parameters in all)" in texts
    assert model.training  # drawing it left the model as it was
    trained = PECLLoss(PlateEncoder(32), "l1", "positive", 2.0, "fixed", 0.9)
    pecl_diagram(trained)
    assert trained.encoder.training  # a trainable encoder is left in training mode
    loss = PECLLoss(PlateEncoder(64).freeze(), "l2", "paper", 2.0, "fixed", 0.9)
    texts = " ".join(t.get_text() for t in pecl_diagram(loss).axes[0].texts)
    assert (
        "d = 64" in texts and "frozen" in texts and "Euclidean" in texts and "max(m − D, 0)², m = 2 (eq. 17)" in texts
    )
    assert "w_pixel / w_contrastive 0.90 / 0.10 at the start" in texts
    with pytest.raises(ValueError, match="MSE alone"):
        pecl_diagram(PECLLoss(None))


def test_the_explorer_table_lists_every_plate_through_every_model():
    from lpsr.study.chapters.qualitative import explorer_table

    scores = {
        "bicubic": pd.DataFrame(
            {"plate": ["皖A1", "皖B2"], "psnr_y": [18.123, 19.0], "ocr_text": ["皖A1", None], "exact": [1, 0]}
        ),
        "MSE": pd.DataFrame(
            {"plate": ["皖A1", "皖B2"], "psnr_y": [21.0, 22.456], "ocr_text": ["皖A7", "皖B2"], "exact": [0, 1]}
        ),
    }
    table = explorer_table(scores)
    assert list(table.index) == ["皖A1", "皖B2"]
    assert (
        table.loc["皖A1", ("bicubic", "OCR reads")] == "皖A1 ✓" and table.loc["皖B2", ("bicubic", "OCR reads")] == "–"
    )
    assert table.loc["皖B2", ("MSE", "PSNR-Y (dB)")] == "22.46" and table.loc["皖A1", ("MSE", "OCR reads")] == "皖A7"


def test_chapter_6_shows_the_released_model_when_its_run_folder_holds_no_run(tmp_path):
    from lpsr.evaluation.upscale import DEFAULT_MODEL
    from lpsr.study.chapters.qualitative import model_source, qualitative_models

    runs = tmp_path / "runs"
    runs.mkdir()
    assert model_source("auto", runs) == "released" and model_source("runs", runs) == "runs"
    with pytest.raises(ValueError, match="model_source is one of auto, runs, released"):
        model_source("trained", runs)
    shown = qualitative_models("smoke", None, runs, tmp_path / "out", source="auto")
    assert shown.source == "released" and not list(runs.iterdir())  # nothing trained
    assert list(shown.scored) == ["bicubic", DEFAULT_MODEL] and list(shown.models) == [DEFAULT_MODEL]
    assert shown.compared == [DEFAULT_MODEL] and shown.pecl is None
    released, bicubic = (shown.scored[k].summary for k in (DEFAULT_MODEL, "bicubic"))
    assert released["n"] == bicubic["n"] == len(shown.plates) and "ocr_exact" in released
    assert released["psnr_y_median"] > bicubic["psnr_y_median"] + 1  # the released x8 model, on synthetic plates
    assert shown.scored[DEFAULT_MODEL].config.loss.name == "mse"
    (runs / "lpsr-mse-0").mkdir()
    (runs / "lpsr-mse-0" / "done.json").write_text("{}")
    assert model_source("auto", runs) == "runs"
