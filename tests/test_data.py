import shutil
import time

import cv2
import numpy as np
import pytest

from lpsr.data.ccpd import ccpd_name, encode_plate
from lpsr.data.degradation import downscale
from lpsr.data.plates import DataError, PlateProtocol, crop_to_multiple, list_frames, load_plates, rectify
from lpsr.evaluation.evaluate import evaluate, load_model
from lpsr.study.chapters.pipeline import data_summary
from lpsr.study.plotting import frame_figure


def test_rectify_recovers_a_tilted_rectangle():
    frame = np.zeros((200, 300, 3), np.uint8)
    # a 160x48 rectangle rotated by 10 degrees, left half red, right half green
    plate = np.zeros((48, 160, 3), np.uint8)
    plate[:, :80] = (255, 0, 0)
    plate[:, 80:] = (0, 255, 0)
    angle = np.deg2rad(10)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[0, 0], [160, 0], [160, 48], [0, 48]], float) @ rotation.T + [70, 60]  # LT, RT, RB, LB
    matrix = cv2.getPerspectiveTransform(np.float32([[0, 0], [160, 0], [160, 48], [0, 48]]), np.float32(corners))
    frame = cv2.warpPerspective(plate, matrix, (300, 200))
    lt, rt, rb, lb = corners
    out = rectify(frame, (rb, lb, lt, rt))
    assert out.shape == (48, 160, 3)
    assert out[8:-8, 8:72, 0].mean() > 240 and out[8:-8, 8:72, 1].mean() < 15
    assert out[8:-8, 88:-8, 1].mean() > 240 and out[8:-8, 88:-8, 0].mean() < 15


def test_crop_to_multiple_and_downscale_shapes():
    image = np.zeros((107, 379, 3), np.uint8)
    cropped = crop_to_multiple(image, 8)
    assert cropped.shape == (104, 376, 3)
    for kernel in ("bicubic", "area"):
        assert downscale(cropped, 8, kernel).shape == (13, 47, 3)
    with pytest.raises(ValueError, match="multiple"):
        downscale(image, 8)


def test_unsupported_scale_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported scale 3"):
        PlateProtocol(scale=3)


def test_real_test_split_plates(ccpd_mini):
    plates = load_plates(ccpd_mini, "test", PlateProtocol(), progress=False)
    assert len(plates) == 94 and plates.summary["skipped_bad_name"] == 0
    for hr, lr in zip(plates.hr, plates.lr):
        assert hr.shape[0] % 8 == 0 and hr.shape[1] % 8 == 0
        assert lr.shape == (hr.shape[0] // 8, hr.shape[1] // 8, 3)
    assert all(len(t) in (7, 8) for t in plates.texts)
    started = time.perf_counter()
    again = load_plates(ccpd_mini, "test", PlateProtocol(), progress=False)
    assert time.perf_counter() - started < 5  # from the cache: nothing decoded
    assert all(np.array_equal(a, b) for a, b in zip(plates.hr, again.hr))


def test_bicubic_reproduces_the_data_readme(ccpd_mini):
    """README: bicubic x8 at native size, median PSNR 17.63 / PSNR-Y 19.06 dB (150 dev plates)."""
    plates = load_plates(ccpd_mini, "test", PlateProtocol(), progress=False)
    summary = evaluate(load_model("bicubic")[0], plates)
    assert abs(summary["psnr_median"] - 17.63) < 0.3
    assert abs(summary["psnr_y_median"] - 19.06) < 0.3


def test_inference_speed_is_timed_on_a_second_pass(ccpd_mini, monkeypatch):
    import lpsr.evaluation.evaluate as evaluation

    calls, real = [], evaluation.super_resolve
    monkeypatch.setattr(
        evaluation, "super_resolve", lambda model, lr, *a, **k: calls.append(len(lr)) or real(model, lr, *a, **k)
    )
    monkeypatch.setattr(evaluation, "TIMED_PLATES", 5)
    plates = load_plates(ccpd_mini, "val", PlateProtocol(), progress=False)
    summary = evaluate(load_model("bicubic")[0], plates)
    assert calls == [len(plates), 5] and summary["plates_per_s"] > 0  # all plates scored, then five timed
    assert evaluate(None, plates)["plates_per_s"] is None  # the HR reference runs no model


def test_bad_frames_are_skipped_and_counted(tmp_path, ccpd_mini, capsys):
    good = sorted((ccpd_mini / "ccpd_mini").glob("*.jpg"))[:3]
    for path in good:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "not-a-ccpd-name.jpg").write_bytes(good[0].read_bytes())
    corrupt = ccpd_name(((300, 220), (100, 210), (104, 150), (296, 160)), encode_plate("沪C8GK31"))
    (tmp_path / corrupt).write_bytes(b"\xff\xd8 this is not a jpeg")
    plates = load_plates(tmp_path, None, PlateProtocol(), progress=False)
    assert len(plates) == 3
    assert plates.summary["skipped_bad_name"] == 1 and plates.summary["skipped_bad_image"] == 1
    out = capsys.readouterr().out
    assert "skipped 2 of 5 frames" in out and "not-a-ccpd-name.jpg" in out
    row = data_summary({"all": plates}).loc["all"]  # the book's ingestion table
    assert (row["frames"], row["plates"], row["skipped"]) == (5, 3, "2 (bad name 1, unreadable 1)")
    assert row["provinces"] == len({t[0] for t in plates.texts})
    assert len(frame_figure(tmp_path, plates, [0, 1]).axes) == 4  # Fig. 4: frame and plate, twice


def test_no_usable_frames_is_an_error(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="no usable frames"):
        load_plates(tmp_path, None, PlateProtocol(), progress=False)
    with pytest.raises(DataError, match="does not exist"):
        list_frames(tmp_path / "missing", "test")


def test_synthetic_frames_go_through_the_same_ingestion(synthetic_root):
    for split in ("train", "val", "test"):
        plates = load_plates(synthetic_root, split, PlateProtocol(), progress=False)
        assert len(plates) > 0 and plates.summary["plates"] == plates.summary["frames"]


def test_train_subsets_are_nested_seeded_and_disjoint_from_val_and_test(ccpd_mini):
    from lpsr.config import load_config
    from lpsr.data.plates import nested_subset
    from lpsr.training.train import prepare_data

    plates = {
        split: load_plates(ccpd_mini, split, PlateProtocol(), progress=False) for split in ("train", "val", "test")
    }
    train = plates["train"]
    sizes = [len(train) // 8, len(train) // 4, len(train) // 2, len(train)]
    subsets = [set(nested_subset(train, n).files) for n in sizes]
    assert [len(s) for s in subsets] == sizes
    assert all(small < large for small, large in zip(subsets, subsets[1:]))  # nested, each inside the next
    assert not subsets[-1] & (set(plates["val"].files) | set(plates["test"].files))
    assert set(nested_subset(train, sizes[1], seed=1).files) != subsets[1]  # another seed, another subset
    kept = nested_subset(train, sizes[0])
    assert kept.files == [f for f in train.files if f in subsets[0]] and kept.summary["subset"]["of"] == len(train)
    assert all(t == train.texts[train.files.index(f)] for f, t in zip(kept.files, kept.texts))
    config = load_config("smoke", overrides=[f"data.root={ccpd_mini}", f"data.train_plates={sizes[0]}"])
    train_plates, val_plates, fingerprint = prepare_data(config, progress=False)
    assert set(train_plates.files) == subsets[0]
    assert val_plates.files == plates["val"].files[: config.data.val_plates or None]  # val and test are whole
    full = load_config("smoke", overrides=[f"data.root={ccpd_mini}"])
    assert config.run_id(fingerprint) != full.run_id(prepare_data(full, progress=False)[2])
    at_default = load_config("smoke", overrides=[f"data.root={ccpd_mini}", "data.train_plates=0"])
    assert at_default.run_id("d") == full.run_id("d")  # the setting at its default changes no id
