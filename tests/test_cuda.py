"""The engine on a CUDA GPU (skipped without one): every Table 1 method trains there, one seed
gives one set of weights (straight, or stopped and resumed), a GPU checkpoint loads on a CPU and
scores there as on the GPU, and a compiled run trains. Real plates (ccpd-mini), smoke budgets."""

import json
import os
import signal

import pytest
import torch

from lpsr.cli import main
from lpsr.data.plates import PlateProtocol, load_plates
from lpsr.evaluation.evaluate import evaluate, load_model
from lpsr.files import load_checkpoint
from lpsr.study.experiments import TABLE1, method_config
from lpsr.training.runs import read_log, run_summary
from lpsr.training.train import TrainingStopped, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")


def _on_cuda(ccpd_mini, method=None, *overrides):
    settings = [f"data.root={ccpd_mini}", "train.device=cuda", "train.bf16=auto", "train.channels_last=true"]
    return method_config(method, "smoke", overrides=[*settings, "train.iterations=6", "train.val_every=3", *overrides])


@pytest.mark.skipif(
    torch.cuda.is_available() and not torch.cuda.is_bf16_supported(including_emulation=False),
    reason="the GPU has no native bf16",
)
@pytest.mark.parametrize("method", [m for m in TABLE1 if m != "bicubic"])
def test_every_table1_method_trains_on_cuda_in_bf16(tmp_path, ccpd_mini, method):
    run_dir = train(_on_cuda(ccpd_mini, method, "train.bf16=true"), tmp_path, progress=False)
    env = json.loads((run_dir / "env.json").read_text())
    assert env["device"].startswith("cuda") and env["cuda"] == torch.cuda.get_device_name(0)
    assert env["precision"]["bf16"] is True
    steps, vals = read_log(run_dir)
    assert len(steps) == 6 and all(torch.isfinite(torch.tensor(s["loss"])) for s in steps)
    assert [v["iteration"] for v in vals] == [3, 6] and run_summary(run_dir)["iterations"] == 6


@pytest.mark.parametrize("method, compiled", [("ours-mse", False), ("ours-pecl", False), ("ours-mse", True)])
def test_one_seed_gives_one_set_of_weights_on_cuda_straight_or_resumed(
    tmp_path, ccpd_mini, monkeypatch, method, compiled
):
    import lpsr.training.train as train_module

    config = _on_cuda(ccpd_mini, method, "train.lr=1e-3", f"train.compile={str(compiled).lower()}")
    first = train(config, tmp_path / "a", progress=False)
    again = train(config, tmp_path / "b", progress=False)
    real_validate, sent = train_module.validate, []

    def validate_then_terminate(*args, **kwargs):
        if not sent:
            sent.append(os.kill(os.getpid(), signal.SIGTERM))
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(train_module, "validate", validate_then_terminate)
    with pytest.raises(TrainingStopped, match="at iteration 3"):
        train(config, tmp_path / "c", progress=False)
    monkeypatch.undo()
    resumed = train(config, tmp_path / "c", progress=False)
    reference = load_checkpoint(first / "last.pt", "cpu")["model"]
    for other in (again, resumed):
        weights = load_checkpoint(other / "last.pt", "cpu")["model"]
        assert all(torch.equal(reference[k], weights[k]) for k in reference), other
        assert [s["loss"] for s in read_log(other)[0]] == [s["loss"] for s in read_log(first)[0]]


def test_a_gpu_checkpoint_scores_on_the_cpu_as_on_the_gpu(tmp_path, ccpd_mini, capsys):
    run_dir = train(_on_cuda(ccpd_mini, None, "train.bf16=false"), tmp_path, progress=False)
    assert all(t.device.type == "cpu" for t in load_checkpoint(run_dir / "best.pt", "cpu")["model"].values())
    plates = load_plates(ccpd_mini, "val", PlateProtocol(), progress=False)
    scores = {}
    for device in ("cpu", "cuda"):
        model, _ = load_model(run_dir, 8, device)
        scores[device] = evaluate(model, plates, device=device, bf16=False)
    assert scores["cuda"]["device"] == "cuda" and scores["cpu"]["device"] == "cpu"
    assert scores["cuda"]["psnr_y_median"] == pytest.approx(
        scores["cpu"]["psnr_y_median"], abs=0.05
    )  # TF32 convolutions
    main(["eval", "--data", str(ccpd_mini), "--split", "val", "--model", str(run_dir), "--out", str(tmp_path / "e")])
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["device"] == "cuda" and summary["n"] == len(plates)


def test_a_compiled_run_trains_on_cuda(tmp_path, ccpd_mini):
    run_dir = train(_on_cuda(ccpd_mini, None, "train.compile=true"), tmp_path, progress=False)
    done = run_summary(run_dir)
    assert done["iterations"] == 6 and "compile_failed" not in done
    assert json.loads((run_dir / "env.json").read_text())["precision"]["compile"] is True
