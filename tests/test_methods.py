"""Table 1's competitors: architectures, their recipes, and `lpsr compare`."""

import pandas as pd
import pytest
import torch

from lpsr.config import load_config
from lpsr.losses.esrgan import ESRGANLoss
from lpsr.losses.plate_reader import PlateClassifier, plate_labels
from lpsr.losses.text_focus import TextFocusedLoss
from lpsr.models import MODELS, build_model, count_parameters
from lpsr.models.esrgan import VGGDiscriminator
from lpsr.models.tbsrn import positional_encoding_2d
from lpsr.study.experiments import METHODS, PAPER_TABLE1, TABLE1, method_config, method_settings

# parameters at x8 (the paper's Table 1 in the comment)
PARAMETERS = {
    "srcnn": 69_251,  # 57K: 9-5-5 on Y; ours is 9-5-5 on RGB
    "espcn": 761_952,  # 800K
    "msrn": 6_225_731,  # 6M
    "rrdbnet": 16_734_915,  # 16M
    "tbsrn": 1_421_124,  # 12M (with its recogniser, we believe)
    "swinir": 12_047_911,  # 11M
    "lpsr": 2_119_375,  # 2M
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_every_architecture_upscales_patches_and_whole_plates_by_8(name):
    torch.manual_seed(0)
    model = build_model(name, 8).eval()
    print(f"{name}: {count_parameters(model):,} parameters at x8")
    assert count_parameters(model) == PARAMETERS[name]
    with torch.no_grad():
        assert model(torch.rand(2, 3, 8, 8)).shape == (2, 3, 64, 64)
        assert model(torch.rand(1, 3, 14, 47)).shape == (1, 3, 112, 376)  # not a multiple of SwinIR's window
        assert model(torch.rand(1, 3, 4, 15)).shape == (1, 3, 32, 120)  # a small CCPD plate: below the window


def test_srcnn_9_1_5_variant_and_unsupported_scales():
    assert count_parameters(build_model("srcnn", 8, kernels=(9, 1, 5))) == 20_099
    for name in ("msrn", "tbsrn"):
        with pytest.raises(ValueError, match="powers of 2"):
            build_model(name, 3)


def test_position_encoding_separates_rows_and_columns():
    pe = positional_encoding_2d(8, 3, 5)
    assert pe.shape == (8, 3, 5)
    assert torch.equal(pe[:4, 0], pe[:4, 2])  # first half: the column only
    assert torch.equal(pe[4:, :, 0], pe[4:, :, 4])  # second half: the row only
    assert not torch.equal(pe[:4, :, 0], pe[:4, :, 1])


def test_every_table1_method_resolves_to_a_registered_architecture():
    assert set(TABLE1) <= set(METHODS) and set(PAPER_TABLE1) <= set(METHODS)
    for name in TABLE1:
        config = method_config(name, "smoke")
        assert config.model.name == METHODS[name].model in MODELS
    assert method_config("esrgan", "smoke").loss.name == "esrgan"
    assert method_config("tbsrn", "smoke").loss.name == "text"
    assert method_settings("msrn", "cpu")[0] == {"model": {"name": "msrn"}}
    # the heaviest competitors' cpu budget is their own; other profiles keep the profile's
    assert method_config("swinir", "cpu").train.iterations == load_config("cpu").train.iterations // 2
    assert method_config("swinir", "smoke").train.iterations == load_config("smoke").train.iterations // 2
    assert method_config("lpsr", "smoke").model.name == "lpsr"  # any architecture is a method
    assert method_config("esrgan", "smoke", overrides=["loss.name=mse"]).loss.name == "mse"  # overrides win
    with pytest.raises(ValueError, match="unknown method"):
        method_config("nope", "smoke")


def _esrgan_loss(gan_start):
    from lpsr.losses.encoder import build_encoder

    torch.manual_seed(0)
    return ESRGANLoss(build_encoder(16, "random"), VGGDiscriminator(64), gan_start)


def test_esrgan_trains_psnr_first_then_with_its_discriminator():
    loss_fn = _esrgan_loss(gan_start=2)
    sr, hr = torch.rand(2, 3, 64, 64, requires_grad=True), torch.rand(2, 3, 64, 64)
    total, terms = loss_fn(sr, hr, iteration=1)
    assert set(terms) == {"l1"} and loss_fn.after_step(sr.detach(), hr) == {}
    before = [p.clone() for p in loss_fn.discriminator.parameters()]
    total, terms = loss_fn(sr, hr, iteration=2)
    assert {"l1", "perceptual", "adversarial"} <= set(terms)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.discriminator.parameters())  # the generator step leaves D alone
    d_terms = loss_fn.after_step(sr.detach(), hr)
    assert {"discriminator", "d_real", "d_fake"} <= set(d_terms)
    assert any(not torch.equal(a, b) for a, b in zip(before, loss_fn.discriminator.parameters()))
    assert not any(p.requires_grad for p in loss_fn.discriminator.parameters())
    assert "optimizer" in loss_fn.state_dict()["_extra_state"]  # D's Adam state is checkpointed
    assert [loss_fn.selectable(done) for done in (2, 3)] == [False, True]  # the best is an ESRGAN checkpoint


def test_plate_classifier_class_maps_and_text_focused_loss(ccpd_mini):
    from lpsr.data.plates import PlateProtocol, load_plates

    torch.manual_seed(0)
    classifier = PlateClassifier((48, 144)).eval().requires_grad_(False)
    plates = load_plates(ccpd_mini, "val", PlateProtocol(), progress=False)
    labels = plate_labels(plates.texts[:3])
    logits, maps = classifier.read(torch.rand(3, 3, 48, 144), labels)
    assert len(logits) == 8 and maps.shape == (3, 8, 2, 5)
    loss_fn = TextFocusedLoss(classifier, plates, plates_per_step=2)
    model = build_model("tbsrn", 8)
    sr, hr = model(torch.rand(2, 3, 8, 8)), torch.rand(2, 3, 64, 64)
    total, terms = loss_fn(sr, hr, model=model, generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"mse", "position", "content"} and all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    total.backward()
    assert all(p.grad is None for p in classifier.parameters())
    assert model.head[0].weight.grad.abs().sum() > 0


def test_compare_trains_every_method_and_writes_table1(tmp_path, synthetic_root, smoke_runs, capsys):
    from lpsr.cli import main

    main(["compare", "--profile", "smoke", "--runs", str(smoke_runs), "--out", str(tmp_path / "t1"), "--quiet"])
    table = pd.read_csv(tmp_path / "t1" / "table1.csv", index_col="method")
    assert list(table.index) == list(TABLE1)
    assert table.loc["bicubic", "ΔPSNR-Y vs bicubic [95% CI]"] == "–"  # the reference itself
    assert table.loc["esrgan", "loss"] == "esrgan" and table.loc["tbsrn", "loss"] == "text"
    assert table.loc["ours-pecl", "paper PSNR-Y"] == "25.92 (± 2.62)"
    assert all("(±" in v for v in table["OCRρ"])
    assert (tmp_path / "t1" / "table1.md").read_text().count("\n") == len(TABLE1) + 2
    for name in TABLE1:
        assert (tmp_path / "t1" / name / "per_plate.csv").is_file()
    assert "wrote" in capsys.readouterr().out


def test_a_saved_test_score_is_reused_only_at_the_same_inference_precision(tmp_path):
    import json
    from dataclasses import asdict

    from lpsr.data.plates import PlateProtocol
    from lpsr.study.experiments import _cached_summary

    class Plates(list):
        summary, protocol = {"root": "/data", "split": "test"}, PlateProtocol()

    test = Plates([0, 1, 2])
    saved = {"run": "lpsr-mse-x", "precision": "fp32", "n": 3, "data": test.summary, "protocol": asdict(test.protocol)}
    (tmp_path / "summary.json").write_text(json.dumps(saved), encoding="utf-8")
    (tmp_path / "per_plate.csv").write_text("file\n", encoding="utf-8")
    assert _cached_summary(tmp_path, "lpsr-mse-x", test, False, "fp32") == saved
    assert _cached_summary(tmp_path, "lpsr-mse-x", test, False, "bf16") is None  # scored again, not mixed
