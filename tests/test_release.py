"""The released model: `lpsr release`, the model files `lpsr upscale` and `lpsr.load_model` take,
the ONNX export and its parity with torch, the shipped model's card, and bad model files."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import lpsr
from lpsr.cli import main
from lpsr.config import load_config
from lpsr.data.plates import PlateProtocol, load_plates
from lpsr.evaluation.evaluate import evaluate, load_model
from lpsr.evaluation.release import ReleaseError, release
from lpsr.evaluation.upscale import DEFAULT_MODEL, RELEASED_MODELS
from lpsr.files import load_weights, weights_bytes
from lpsr.metrics import psnr_y
from lpsr.models import build_model
from lpsr.training.runs import run_dir_for
from lpsr.training.train import prepare_data

RELEASED = RELEASED_MODELS / DEFAULT_MODEL
REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_release(tmp_path_factory, smoke_run, synthetic_root):
    run_dir, _ = smoke_run
    out = tmp_path_factory.mktemp("models") / "smoke-model"
    return run_dir, out, release([run_dir], out, synthetic_root)


@pytest.fixture(scope="module")
def released_onnx(tmp_path_factory) -> Path:
    """The released model exported to ONNX by `lpsr export`."""
    onnx = tmp_path_factory.mktemp("onnx") / "released.onnx"
    main(["export", str(RELEASED), "--onnx", str(onnx)])
    return onnx


def test_release_writes_weights_config_and_card(smoke_release, synthetic_root):
    run_dir, out, card = smoke_release
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors",
        "config.yaml",
        "card.json",
        "README.md",
        "candidates",
    }
    tensors, metadata = load_weights(out / "model.safetensors")
    assert json.loads(metadata["model_config"])["name"] == "lpsr" and metadata["run"] == run_dir.name
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert card["training"]["run_id"] == run_dir.name and [c["run_id"] for c in card["candidates"]] == [run_dir.name]
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\nlicense: mit\n") and f"`{run_dir.name}`" in text and "bicubic" in text
    # the card's figure is the released weights' own score on the test plates
    plates = load_plates(synthetic_root, "test", PlateProtocol())
    model, _ = load_model(out)
    assert evaluate(model, plates, None, bf16=False)["psnr_y_median"] == card["test"]["model"]["psnr_y"]["median"]


def test_release_refuses_an_unfinished_run_and_writes_nothing(smoke_release, tmp_path, synthetic_root):
    run_dir, _, _ = smoke_release
    unfinished = shutil.copytree(run_dir, tmp_path / run_dir.name)
    (unfinished / "done.json").unlink()
    with pytest.raises(ReleaseError, match="not a finished run"):
        release([unfinished], tmp_path / "model", synthetic_root)
    assert not (tmp_path / "model").exists()


def test_every_model_file_kind_upscales_alike(smoke_release, released_onnx):
    run_dir, out, _ = smoke_release
    image = np.random.default_rng(0).integers(0, 256, (12, 40, 3), dtype=np.uint8)
    results = {}
    for spec in (run_dir, out, out / "model.safetensors", RELEASED, released_onnx):
        upscaler = lpsr.load_model(spec)
        results[spec] = upscaler.upscale(image)
        assert results[spec].shape == (96, 320, 3) and results[spec].dtype == np.uint8
        assert upscaler.upscale(Image.fromarray(image).convert("L")).size == (320, 96)
    # fp16 storage against the run's fp32 weights moves a pixel by a few levels at most; ONNX by one
    assert np.abs(results[out].astype(int) - results[run_dir]).max() <= 8
    assert np.abs(results[released_onnx].astype(int) - results[RELEASED]).max() <= 1


def test_upscale_without_a_model_uses_the_released_one(tmp_path):
    source = tmp_path / "plate.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (24, 94, 3), dtype=np.uint8)).save(source)
    main(["upscale", str(source), str(tmp_path / "out.png")])
    assert Image.open(tmp_path / "out.png").size == (94 * 8, 24 * 8)


def _test_plates(shared_data) -> object:
    return load_plates(shared_data / "ccpd-mini", "test", PlateProtocol())


def test_onnx_matches_torch_on_20_plates(shared_data, released_onnx):
    model, _ = load_model(RELEASED)
    session = ort.InferenceSession(str(released_onnx), providers=["CPUExecutionProvider"])
    plates = _test_plates(shared_data)
    worst, psnr_gaps = 0.0, []
    for lr, hr in list(zip(plates.lr, plates.hr))[:20]:
        x = torch.from_numpy(lr).permute(2, 0, 1)[None].float().div(255)
        with torch.no_grad():
            expected = model(x).numpy()
        (got,) = session.run(None, {"lr": x.numpy()})
        worst = max(worst, float(np.abs(got - expected).max()))
        as_image = lambda y: np.round(np.clip(y[0], 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
        psnr_gaps.append(abs(psnr_y(as_image(got), hr) - psnr_y(as_image(expected), hr)))
    assert worst <= 1e-3 and max(psnr_gaps) <= 0.01, (worst, max(psnr_gaps))


def test_the_released_model_scores_what_its_card_says(shared_data):
    card = json.loads((RELEASED / "card.json").read_text(encoding="utf-8"))
    model, _ = load_model(RELEASED)
    summary = evaluate(model, _test_plates(shared_data), None, bf16=False)
    assert summary["n"] == card["test"]["plates"]
    assert abs(summary["psnr_y_median"] - card["test"]["model"]["psnr_y"]["median"]) <= 0.05


def test_the_released_model_run_id_follows_from_its_recorded_settings(shared_data, monkeypatch):
    card = json.loads((RELEASED / "card.json").read_text(encoding="utf-8"))
    monkeypatch.chdir(REPOSITORY)  # the recorded data root is relative to the repository (../shared/data/...)
    bf16 = str(card["training"]["precision"] == "bf16").lower()  # what train.bf16=auto resolved to there
    for candidate in card["candidates"]:
        config = load_config("cpu", RELEASED / "candidates" / f"{candidate['run_id']}.yaml", [f"train.bf16={bf16}"])
        if not Path(config.data.root).is_dir():
            pytest.skip(f"{config.data.root} is not next to the repository")
        if config.loss.name != "mse":
            continue  # PECL's id also hashes its pretrained encoder, trained by `lpsr train` itself
        _, _, fingerprint = prepare_data(config, progress=False)
        assert run_dir_for(config, "runs", fingerprint).name == candidate["run_id"]


def _foreign_safetensors(path: Path) -> Path:
    path.write_bytes(weights_bytes({"weight": torch.zeros(3)}, {}))
    return path


def _wrong_architecture(path: Path) -> Path:
    weights = build_model("srcnn", 8).state_dict()
    path.write_bytes(weights_bytes(weights, {"model_config": json.dumps({"name": "lpsr", "scale": 8, "options": {}})}))
    return path


def _onnx_of(path: Path, module: torch.nn.Module, shape: tuple, dynamic: bool = True) -> Path:
    buffer = io.BytesIO()
    axes = {"x": {0: "batch", 2: "h", 3: "w"}} if dynamic else None
    torch.onnx.export(module, (torch.rand(*shape),), buffer, dynamo=False, input_names=["x"], dynamic_axes=axes)
    path.write_bytes(buffer.getvalue())
    return path


BAD_MODELS = {
    "truncated-safetensors": (
        lambda p: p.write_bytes((RELEASED / "model.safetensors").read_bytes()[:4096]) and p,
        "cannot be read",
    ),
    "foreign-safetensors": (_foreign_safetensors, "holds no model_config"),
    "wrong-architecture": (_wrong_architecture, "do not fit its model_config"),
    "onnx-grey-input": (lambda p: _onnx_of(p, torch.nn.Conv2d(1, 3, 3), (1, 1, 8, 8)), "Nx3xHxW"),
    "onnx-fixed-shape": (lambda p: _onnx_of(p, torch.nn.Conv2d(3, 3, 3), (1, 3, 8, 8), dynamic=False), "fixed shape"),
    "truncated-onnx": (lambda p: p.write_bytes(b"\x08\x07not an onnx model") and p, "not an ONNX model"),
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's note on its legacy ONNX exporter
@pytest.mark.parametrize("kind", BAD_MODELS)
def test_a_bad_model_file_gets_one_line_and_nothing_is_written(kind, tmp_path, capsys):
    make, message = BAD_MODELS[kind]
    suffix = ".onnx" if "onnx" in kind else ".safetensors"
    model = make(tmp_path / f"model{suffix}")
    source = tmp_path / "plate.png"
    Image.fromarray(np.zeros((12, 40, 3), np.uint8)).save(source)
    for command in (["upscale", str(source), str(tmp_path / "out.png"), "--model", str(model)],) + (
        (["export", str(model), "--onnx", str(tmp_path / "out.onnx")],) if suffix == ".safetensors" else ()
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(command)
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
        assert str(model) in err and message in err, err
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.onnx").exists()
