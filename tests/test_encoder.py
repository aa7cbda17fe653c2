import json
import random
import time

import numpy as np
import pytest
import torch
import torchvision

from lpsr.losses.encoder import (
    IMAGENET_FILE,
    INITS,
    PlateEncoder,
    build_encoder,
    encoder_fingerprint,
    imagenet_weights_path,
)
from lpsr.losses.plate_reader import BLANK, load_plate_classifier, plate_labels
from lpsr.training.encoder_pretraining import plate_encoder_path, pretrain_plate_encoder

FAST = dict(iterations=6, batch_size=8, size=(32, 96))  # a smoke pretraining: seconds on one thread


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: on a shared 2-core machine two threads can be 10x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def pretrained(synthetic_root):
    out_dir = plate_encoder_path(synthetic_root, **FAST)
    path = pretrain_plate_encoder(synthetic_root, out_dir, progress=False, **FAST)
    return synthetic_root, out_dir, path


def patches(n=2, seed=0):
    return torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dim", [64, 128, 100])
def test_embeddings_have_the_head_dim_and_unit_norm(dim):
    encoder = build_encoder(dim=dim)
    with torch.no_grad():
        out = encoder(patches(3))
    assert isinstance(encoder, PlateEncoder) and out.shape == (3, dim)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert encoder.init_info == {
        "init": "random",
        "file": None,
        "sha256": None,
        "dim": dim,
        "seed": 0,
        "trainable": False,
    }


def test_encoders_are_deterministic_by_seed_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    random.seed(1)
    expected = torch.rand(3), random.random(), np.random.rand()
    torch.manual_seed(123)
    random.seed(1)
    a, b, c = build_encoder(seed=0), build_encoder(seed=0), build_encoder(seed=1)
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.resnet.conv1.weight, c.resnet.conv1.weight)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_a_frozen_encoder_passes_gradients_to_its_input_only():
    encoder = build_encoder()
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()  # e.g. through a parent module: a frozen encoder keeps its BatchNorm statistics
    assert not encoder.training and not any(m.training for m in encoder.modules())
    sr = patches().requires_grad_(True)
    hr = patches(seed=1)
    distance = (encoder(sr) - encoder(hr)).abs().sum(dim=1).mean()  # eq. 18 (L1)
    distance.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in encoder.parameters())


def test_a_trainable_encoder_gets_gradients():
    encoder = build_encoder(trainable=True)
    assert encoder.training and all(p.requires_grad for p in encoder.parameters())
    encoder(patches(4)).sum().backward()
    grads = [p.grad for p in encoder.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0


def test_unknown_init_is_refused():
    with pytest.raises(ValueError, match="imagenet.*path.*random.*plates"):
        build_encoder(init="moco")
    assert INITS == ("imagenet", "path", "random", "plates")


def test_imagenet_without_its_file_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(FileNotFoundError, match=IMAGENET_FILE) as error:
        build_encoder(init="imagenet")
    message = str(error.value)
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints" / IMAGENET_FILE) in message
    assert "plates" in message and "random" in message and "download" in message
    with pytest.raises(FileNotFoundError, match=IMAGENET_FILE):
        imagenet_weights_path(tmp_path / "elsewhere.pth")


def test_imagenet_init_loads_a_resnet18_file(tmp_path, monkeypatch):
    torch.manual_seed(7)
    state = torchvision.models.resnet18().state_dict()
    file = tmp_path / "hub" / "checkpoints" / IMAGENET_FILE
    file.parent.mkdir(parents=True)
    torch.save(state, file)
    with pytest.warns(UserWarning, match="sha256"):  # a fake file: loaded, with a warning
        explicit = build_encoder(init="imagenet", path=file)
    assert torch.equal(explicit.resnet.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert torch.equal(explicit.resnet.bn1.running_var, state["bn1.running_var"])
    assert torch.equal(explicit.head.weight, build_encoder(seed=0).head.weight)  # seeded random head
    info = explicit.init_info
    assert info["init"] == "imagenet" and info["file"] == str(file) and len(info["sha256"]) == 64
    assert info["imagenet_hash_ok"] is False
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # the default place: $TORCH_HOME/hub/checkpoints/
    assert imagenet_weights_path() == file
    with pytest.warns(UserWarning):
        cached = build_encoder(init="imagenet")
    assert torch.equal(cached.resnet.conv1.weight, state["conv1.weight"])


def test_path_init_refuses_a_foreign_state_dict(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a ResNet-18"):
        build_encoder(init="path", path=tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="path"):
        build_encoder(init="plates")


def test_plate_labels_pad_seven_character_plates_with_blank():
    labels = plate_labels(["皖A12345", "皖AD12345"])
    assert labels.shape == (2, 8)
    assert labels[0, 7] == BLANK and labels[1, 7] != BLANK
    assert labels[0, :2].tolist() == [0, 0]


def test_pretraining_writes_the_encoder_and_its_scores(pretrained):
    root, out_dir, path = pretrained
    assert path == out_dir / "encoder.pt" and (out_dir / "done.json").is_file()
    assert out_dir.parent.name == "encoders" and out_dir.name.startswith("plates-")
    state = torch.load(path, weights_only=True)
    assert not any(k.startswith("fc.") for k in state["trunk"])
    meta = state["meta"]
    for key in ("val_char_accuracy", "val_exact", "train_char_accuracy"):
        assert 0 <= meta[key] <= 1, key
    assert len(meta["val_position_accuracy"]) == 8
    assert meta["iterations"] == 6 and meta["seed"] == 0 and meta["size"] == [32, 96]
    assert meta["train_plates"] > 0 and meta["val_plates"] > 0
    done = json.loads((out_dir / "done.json").read_text())
    assert done["settings"] == {"iterations": 6, "batch_size": 8, "lr": 1e-3, "seed": 0, "size": [32, 96]}


def test_a_second_pretraining_is_a_cache_hit(pretrained, monkeypatch):
    import lpsr.data.plates

    root, out_dir, path = pretrained
    stamp = path.stat().st_mtime_ns
    monkeypatch.setattr(
        lpsr.data.plates, "load_plates", lambda *a, **k: pytest.fail("a cache hit must not load plates")
    )
    started = time.perf_counter()
    assert pretrain_plate_encoder(root, plate_encoder_path(root, **FAST), progress=False, **FAST) == path
    assert time.perf_counter() - started < 2 and path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="other|not"):  # same folder, other settings
        pretrain_plate_encoder(root, out_dir, progress=False, **(FAST | {"seed": 1}))


def test_pretraining_does_not_depend_on_the_callers_threads(pretrained, tmp_path):
    """Its own fixed thread count (oneDNN's backward depends on it), and the caller's back after."""
    root, out_dir, path = pretrained
    torch.set_num_threads(2 if torch.get_num_threads() == 1 else 1)
    threads = torch.get_num_threads()
    other = pretrain_plate_encoder(root, tmp_path / "other", progress=False, **FAST)
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
    a, b = torch.load(path, weights_only=True), torch.load(other, weights_only=True)
    assert all(torch.equal(a["trunk"][k], b["trunk"][k]) for k in a["trunk"])
    done = json.loads((tmp_path / "other" / "done.json").read_text())
    assert len(done["losses"]) == FAST["iterations"] and done["threads"] == a["meta"]["threads"]


def test_encoder_paths_key_the_root_and_settings(synthetic_root, tmp_path):
    base = plate_encoder_path(synthetic_root)
    assert base == plate_encoder_path(synthetic_root, iterations=600, size=[48, 144])  # defaults filled in
    assert base != plate_encoder_path(synthetic_root, seed=1)
    assert plate_encoder_path(synthetic_root, cache_dir=tmp_path).parent == tmp_path / "encoders"
    with pytest.raises(TypeError, match="unknown"):
        plate_encoder_path(synthetic_root, iterationz=1)


def test_plates_init_loads_the_pretrained_trunk(pretrained):
    _, _, path = pretrained
    trunk = torch.load(path, weights_only=True)["trunk"]
    encoder = build_encoder(init="plates", path=path, dim=64, seed=3)
    assert torch.equal(encoder.resnet.layer4[0].conv1.weight, trunk["layer4.0.conv1.weight"])
    assert torch.equal(encoder.resnet.bn1.running_mean, trunk["bn1.running_mean"])
    assert torch.equal(encoder.head.weight, build_encoder(dim=64, seed=3).head.weight)
    info = encoder.init_info
    assert info["init"] == "plates" and info["file"] == str(path) and info["meta"]["iterations"] == 6
    assert not any(p.requires_grad for p in encoder.parameters())
    same = build_encoder(init="path", path=path, dim=64, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), same.state_dict().values()))
    torch.save(torchvision.models.resnet18().state_dict(), path.parent / "plain.pt")
    with pytest.raises(ValueError, match="pretrain_plate_encoder"):
        build_encoder(init="plates", path=path.parent / "plain.pt")


def test_the_fingerprint_keys_the_weights_not_the_file_or_its_making(pretrained, tmp_path):
    _, _, path = pretrained
    state = torch.load(path, weights_only=True)
    state["meta"] = state["meta"] | {"train_seconds": state["meta"]["train_seconds"] + 1.0}
    again = tmp_path / "again.pt"  # the same weights, pretrained again elsewhere and at another speed
    torch.save(state, again)
    one = build_encoder(init="plates", path=path, dim=64, seed=3)
    assert encoder_fingerprint(one) == encoder_fingerprint(build_encoder(init="plates", path=again, dim=64, seed=3))
    assert one.init_info["file"] != str(again)  # the record keeps both files; the run id does not
    state["trunk"]["conv1.weight"] = state["trunk"]["conv1.weight"] + 1e-6
    torch.save(state, again)
    changed = build_encoder(init="plates", path=again, dim=64, seed=3)
    assert encoder_fingerprint(one) != encoder_fingerprint(changed)
    assert encoder_fingerprint(one) != encoder_fingerprint(build_encoder(init="plates", path=path, dim=64, seed=4))
    # the text-focused loss keys its runs on the whole classifier, position heads included
    reader = load_plate_classifier(path)
    assert encoder_fingerprint(reader) == encoder_fingerprint(load_plate_classifier(path))
    assert encoder_fingerprint(reader) != encoder_fingerprint(load_plate_classifier(again))


def test_building_a_loss_trains_nothing_it_loads_the_reader_it_is_handed(tmp_path, monkeypatch):
    from lpsr.config import load_config
    from lpsr.losses import build_loss

    monkeypatch.setenv("LPSR_CACHE", str(tmp_path / "cache"))
    config = load_config("smoke", overrides=["loss.name=pecl", "loss.encoder_init=plates"])
    with pytest.raises(ValueError, match="needs the pretrained plate reader: hand build_loss its file"):
        build_loss(config)
    assert not (tmp_path / "cache").exists()  # no pretraining started, nothing cached
    assert build_loss(load_config("smoke", overrides=["loss.name=pecl", "loss.encoder_init=random"])).encoder


def test_an_encoder_pretrained_on_a_subset_is_keyed_apart_and_reads_only_its_plates(pretrained, tmp_path):
    from lpsr.config import load_config
    from lpsr.training.encoder_pretraining import plate_encoder_for

    root, out_dir, _ = pretrained
    assert plate_encoder_path(root, **FAST, train_plates=0, subset_seed=3) == out_dir  # 0: every plate, as before
    subset_dir = plate_encoder_path(root, **FAST, train_plates=20)
    assert subset_dir not in (out_dir, plate_encoder_path(root, **FAST, train_plates=20, subset_seed=1))
    path = pretrain_plate_encoder(root, tmp_path / "subset", progress=False, **FAST, train_plates=20)
    meta = torch.load(path, weights_only=True)["meta"]
    assert meta["train_plates"] == 20
    config = load_config("smoke", overrides=["loss.name=pecl", "data.train_plates=20"])
    everyone = plate_encoder_for(config, root).parent  # the default: every train plate, whatever the run's
    config.loss.encoder_plates = "subset"
    assert plate_encoder_for(config, root).parent not in (everyone, out_dir)
